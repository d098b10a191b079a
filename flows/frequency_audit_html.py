"""``steward audit frequency --html PATH``: the contact-pressure audit as one page a reviewer can open offline.

The page holds the tables the terminal prints (converted by flows/cli/audit/_html.py, so the two never disagree) and the charts drawn from
the judged result, aggregates only: the distribution of each person's busiest window against the cap, the windows
with most people over it, and per group the over-cap rate with its 95 % interval against the reference's and the
rate above which a group fails (``adverse_ratio`` times the reference's).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from markupsafe import Markup

from .audit_html import HtmlSection, HtmlTable, render_audit_html, write_audit_html
from .report_charts import COLORS, Interval, Marker, bar_chart, interval_chart

if TYPE_CHECKING:  # no rich here, even for types: only flows/cli/ imports it (tests/flows/test_cli_package.py)
    from ..contracts.fairness import DimensionResult

    from .frequency_audit import FrequencyAudit

__all__ = ["frequency_page", "write_frequency_html"]

_RANK = {"info": 1, "warn": 2, "critical": 3}


def write_frequency_html(path: Path, audit: FrequencyAudit, tables: Sequence[HtmlTable], verdict: str,
                         warnings: Sequence[str] = ()) -> None:
    """Render and write the page atomically. ``tables`` are the printed tables in the command's order: summary,
    distribution, the windows (when the source has times), then one per group column; ``verdict`` its last line."""
    write_audit_html(Path(path), frequency_page(audit, tables, verdict, warnings))


def frequency_page(audit: FrequencyAudit, tables: Sequence[HtmlTable], verdict: str, warnings: Sequence[str] = ()) -> str:
    """The page as a string (what the tests parse)."""
    r, c = audit.result, audit.result.counts
    summary, distribution, *rest = tables
    sections = [HtmlSection("Summary", _left_out(audit), [summary]),
                HtmlSection("Distribution", f"Each person's busiest {r.window}: people with 1, 2, ... touches up to "
                            f"the cap of {r.cap}, and everyone above it.", [distribution],
                            _charts(_distribution_chart(audit)))]
    if c.top_windows:
        windows, *rest = rest
        sections.append(HtmlSection("Windows", f"The {r.window}s with most people over the cap (first day shown).",
                                    [windows], _charts(_windows_chart(audit))))
    sections += [HtmlSection(d.dimension, f"Over the cap is the adverse decision: a group fails when its people "
                             f"are over the cap significantly more often than the reference group {d.reference}'s.",
                             [t], _charts(_group_chart(d))) for d, t in zip(r.dimensions, rest)]
    if warnings:
        sections.append(HtmlSection("Warnings", " ".join(warnings)))
    severities = [s.value for s in r.severities if s is not None]
    level = max(severities, key=_RANK.__getitem__, default="ok")
    summary_text = (f"Person column {audit.spec.person}, " + (f"touch time {audit.spec.at}, " if audit.spec.at else "")
                    + (f"touches per row {audit.spec.count}, " if audit.spec.count else "")
                    + f"cap {r.cap} touches per {r.window}.")
    return render_audit_html("Contact frequency audit", audit.source, summary_text, sections, verdict, level=level)


def _left_out(audit: FrequencyAudit) -> str:
    c = audit.result.counts
    gone = ", ".join(f"{n:,} {why}" for why, n in c.excluded.items() if n)
    return f"{c.rows:,} rows read" + (f"; left out: {gone}." if gone else "; none left out.")


def _distribution_chart(audit: FrequencyAudit) -> Markup | None:
    r = audit.result
    return bar_chart("frequency-distribution", f"People by touches in their busiest {r.window}",
                     [b.label for b in r.distribution], [b.people for b in r.distribution],
                     levels=["critical" if b.over_cap and b.people else "kpi" for b in r.distribution],
                     notes=[f"{b.people:,} ({b.share:.1%})" for b in r.distribution])


def _windows_chart(audit: FrequencyAudit) -> Markup | None:
    ws = audit.result.counts.top_windows
    return bar_chart("frequency-windows", "People over the cap per window", [w.start for w in ws],
                     [w.over_cap for w in ws], levels=["warn"] * len(ws),
                     notes=[f"{w.over_cap:,} of {w.people:,}" for w in ws])


def _group_chart(d: DimensionResult) -> Markup | None:
    """Over-cap rate per group with its interval, the reference's rate, and the rate above which a group fails."""
    t = d.thresholds
    ref = d.reference_group.selection.value
    markers = [] if ref is None else [Marker(ref, f"reference {d.reference}"),
                                      Marker(ref * t.adverse_ratio, f"{t.adverse_ratio:g} × reference",
                                             COLORS["warn"], dashed=True)]
    rows = [Interval(g.counts.label, g.selection.value, g.selection.low, g.selection.high,
                     g.severity.value if g.severity else ("ink" if g.counts.label == d.reference else
                                                          "muted" if g.verdict == "too_small" else "ok"),
                     f"{g.counts.positives:,} of {g.counts.n:,}") for g in d.groups]
    return interval_chart(f"over-cap-{d.dimension}", f"Share over the cap by {d.dimension}", rows, markers=markers)


def _charts(chart: Markup | None) -> list[Markup]:
    return [chart] if chart is not None else []
