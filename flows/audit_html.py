"""The one-file HTML page every file audit writes with ``--html PATH`` (bias, frequency, quality).

An audit's page is read by people who did not run it (a reviewer, a compliance officer, a CI artifact), so it is one
self-contained file: inline CSS, charts as inline SVG (``flows/report_charts.py``), no script, no stylesheet, font or
image to fetch; it opens offline and can be mailed. It shows what the terminal shows (the same tables, the same
verdict) plus the charts the run report uses, and nothing a terminal run would not: aggregates only, never rows.

Every text reaches the page through Jinja's autoescaping: column names, group values and notes come from the audited
file, which Steward does not control. Charts are the only markup passed through, and they are ``Markup`` built by
``report_charts`` with every text inside them escaped.

    from .audit_html import HtmlSection, HtmlTable, render_audit_html, write_audit_html
    page = render_audit_html("Quality audit", "people.csv", "12 columns, 3 findings",
                             [HtmlSection("email", tables=[HtmlTable("Nulls", ["column", "nulls"], [["email", "4"]])])],
                             verdict="1 warn finding")
    write_audit_html(Path("quality.html"), page)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from markupsafe import Markup

from ..contracts.errors import ConfigError

__all__ = ["HtmlTable", "HtmlSection", "render_audit_html", "write_audit_html", "LEVELS"]

TEMPLATE = "audit.html.j2"
LEVELS = ("ok", "info", "warn", "critical")  # the verdict banner's colours: a level the caller names, not guessed
# a number, a percentage, a ratio, "0.200 [0.112, 0.330]" or a dash: right-aligned, as the terminal aligns them
_NUMBER = re.compile(r"^[\s+\-−–]*[\d.,]+(%|x|×)?(\s*\[[^\]]*\])?$|^[–—-]$")


@dataclass
class HtmlTable:
    """One table as the terminal prints it: plain-text cells (no rich markup), already formatted."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class HtmlSection:
    """One part of the page (a dimension, a column, a window): a short text, its tables, its charts."""

    title: str
    text: str = ""
    tables: list[HtmlTable] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)


def render_audit_html(title: str, source: str, summary: str, sections: list[HtmlSection], verdict: str,
                      *, level: str = "") -> str:
    """The page as one string: heading (title, source, generation time), the verdict banner, the summary, then every
    section in order. ``level`` (``ok``/``info``/``warn``/``critical``, or empty for a neutral banner) colours the
    verdict, so a reader sees at a glance whether the audit would fail a pipeline."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    if level and level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)} or empty, not '{level}'")
    for section in sections:
        for chart in section.charts:
            if not isinstance(chart, Markup):  # a plain str would be escaped into visible SVG source
                raise TypeError(f"section '{section.title}': charts must be Markup from report_charts, not "
                                f"{type(chart).__name__}")
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.tests["numeric_cell"] = lambda cell: bool(_NUMBER.match(str(cell)))
    return env.get_template(TEMPLATE).render(
        title=title, source=source, summary=summary, sections=sections, verdict=verdict, level=level,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def write_audit_html(path: Path, html: str) -> None:
    """Write the page whole or not at all (a temporary file beside it, then an atomic rename), so a CI job or a reader
    never opens half a page, and a failed write leaves the previous page in place.

    Raises:
        ConfigError: the path cannot be written (a folder, no permission); the CLI prints it as one line, exit 2.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"--html {path}: cannot write the page ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)
