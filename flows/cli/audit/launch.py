"""``steward audit launch``: a go / no-go for one launch spec, with an exit code a release pipeline can gate on.

Exit codes: 0 GO or GO WITH CONDITIONS (1 for conditions too with ``--strict``), 1 NO-GO, 2 bad input (a one-line
error naming the file and the field). ``steward audit-launch`` is the old spelling, kept as a hidden alias for one
release.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from .._console import err, one_line_errors, reporting, stdout

__all__ = ["audit_launch"]

_STYLE = {"GO": "bold green", "GO WITH CONDITIONS": "bold yellow", "NO-GO": "bold red"}


def audit_launch(spec: Path = typer.Argument(..., help="The launch spec (YAML); see examples/launches/."),
                 config: Path = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml."),
                 as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
                 refresh: bool = typer.Option(False, help="Ingest and rebuild the warehouse before auditing."),
                 notify: bool = typer.Option(True, help="Post the verdict to Slack (printed without a token)."),
                 strict: bool = typer.Option(False, help="Exit 1 on GO WITH CONDITIONS too."),
                 verbose: bool = typer.Option(False, help="Show Prefect's and dbt's own logs.")) -> None:
    """Audit one launch against the warehouse: GO, GO WITH CONDITIONS or NO-GO, each reason with its evidence."""
    import os

    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
        os.environ["STEWARD_DBT_LOG_LEVEL"] = "info"
    from ....contracts.policy import load_policy

    from ...config import load_config
    from ...launch_spec import load_launch_spec

    with one_line_errors():
        cfg = load_config(config)  # bad input fails here, in one line, before Prefect starts
        load_policy(cfg.policy)
        load_launch_spec(spec)
        from ...prelaunch import LaunchParams, prelaunch_audit
        from ...runtime import flow_settings

        with reporting(), flow_settings(), err.status("Auditing the launch…"):
            result = prelaunch_audit(LaunchParams(config=str(config), spec=str(spec.resolve()), refresh=refresh,
                                                  notify=notify))
    if as_json:
        sys.stdout.write(result.model_dump_json() + "\n")
    else:
        _summary(result)
    if result.exit_code or (strict and result.verdict != "GO"):
        raise typer.Exit(1)


def _summary(result) -> None:
    out = stdout()
    out.print(f"[{_STYLE[result.verdict]}]{result.verdict}[/]  {escape(result.name)} ({result.launch_id})")
    for r in result.blocking + result.conditions:
        tag = "[bold red]blocking[/] " if r.kind == "blocking" else "[yellow]condition[/]"
        out.print(f"  {tag} {r.check_id} {escape(r.subject)}: {escape(r.explanation)}")
        if r.kind == "condition":
            out.print(f"             → {escape(r.condition)}")
    out.print(f"{len(result.checks_evaluated)} checks in {result.seconds:.1f} s; "
              f"Slack message: {result.alerts.get('outcome', 'off')}; details: [bold]{result.export}[/]")
