"""``steward report [RUN_ID] --format html|md|json``: a run's report, as the HTML page or as text for a ticket.

The report itself is built by flows/report.py (HTML) and flows/report_export.py (Markdown, JSON).
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._console import err, one_line_errors

__all__ = ["report"]

_FORMATS = ("html", "md", "json")


def report(run_id: str = typer.Argument(None, help="The run (default: the latest completed one)."),
           config: Path = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml."),
           fmt: str = typer.Option("html", "--format", "-f", help="html (a file), md or json (stdout)."),
           out: Path = typer.Option(None, "--out", "-o", help="Write here instead.")) -> None:
    """A run's report: the HTML page, or Markdown / JSON for a ticket."""
    from ...contracts.errors import StewardError
    from ...integrations.warehouse import Warehouse

    from ..config import load_config
    from ..report import render_report, report_context
    from ..report_export import latest_run_id, report_json, report_markdown

    with one_line_errors():
        if fmt not in _FORMATS:
            raise StewardError(f"--format must be one of {', '.join(_FORMATS)}, not '{fmt}'")
        cfg = load_config(config)
        wh = Warehouse(cfg.warehouse)
        run_id = run_id or latest_run_id(wh)
        if fmt == "html":
            err.print(str(render_report(wh, run_id, out or cfg.report_dir / f"{run_id}.html")))
            return
        context = report_context(wh, run_id)
        text = report_markdown(context) if fmt == "md" else report_json(context) + "\n"
    if out:
        out.write_text(text, encoding="utf-8")
        err.print(str(out))
    else:
        typer.echo(text, nl=False)
