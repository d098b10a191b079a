"""``steward audit bias --html PATH``: the bias audit as one page a reviewer can open offline.

One section per audited dimension (the table the terminal prints, the selection rates with their 95 % intervals
against the reference rate and the policy's line, and the error rates when an outcome is known), one for the proxies,
and the verdict. The tables are the printed ones (``from_rich``), so the page and the terminal never disagree; the
charts are drawn from the judged result, aggregates only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from markupsafe import Markup

from .audit_html import HtmlSection, from_rich, render_audit_html, write_audit_html
from .report_charts import COLORS, Interval, Marker, interval_chart

if TYPE_CHECKING:
    from rich.table import Table

    from ..contracts.fairness import DimensionResult, GroupResult

    from .bias_audit import BiasAudit

__all__ = ["bias_page", "write_bias_html"]

_ERROR_RATES = (("TPR", "tpr"), ("FPR", "fpr"), ("FNR", "fnr"))
_RANK = {"info": 1, "warn": 2, "critical": 3}


def write_bias_html(path: Path, audit: BiasAudit, tables: Sequence[Table], proxy_table: Table | None) -> None:
    """Render and write the page atomically; ``tables`` are the printed dimension tables, in ``audit.dimensions``
    order, and ``proxy_table`` the printed proxies table (None when no input was tested)."""
    write_audit_html(Path(path), bias_page(audit, tables, proxy_table))


def bias_page(audit: BiasAudit, tables: Sequence[Table], proxy_table: Table | None) -> str:
    """The page as a string (what the tests parse)."""
    sections = [_dimension_section(d, t, audit.mapping.outcome is not None) for d, t in zip(audit.dimensions, tables)]
    if proxy_table is not None:
        sections.append(HtmlSection("Proxies", "An input that predicts a protected attribute can carry the bias "
                                    "without naming the group.", [from_rich(proxy_table)]))
    level, verdict = _verdict(audit)
    return render_audit_html("Bias audit", audit.source, _summary(audit), sections, verdict, level=level)


def _dimension_section(d: DimensionResult, table: Table, outcome: bool) -> HtmlSection:
    text = f"Reference group: {d.reference} ({d.reference_rule})."
    if d.favoured_over_reference:
        text += (f" The reference is itself selected significantly less than "
                 f"{', '.join(d.favoured_over_reference)}; try --reference most-favoured.")
    charts = [c for c in (_selection_chart(d), _error_chart(d) if outcome else None) if c is not None]
    return HtmlSection(d.dimension, text, [from_rich(table)], charts)


def _selection_chart(d: DimensionResult) -> Markup | None:
    """Each group's selection rate and interval, the reference rate, and the rate under which a group fails."""
    t = d.thresholds
    ref = d.reference_group.selection.value
    markers = []
    if ref is not None:
        markers = [Marker(ref, f"reference {d.reference}"),
                   Marker(ref * t.ratio, f"{t.ratio:g} × reference", COLORS["warn"], dashed=True)]
    rows = [Interval(g.counts.label, g.selection.value, g.selection.low, g.selection.high, _level(g, d),
                     _rate_note(g.selection.value, g.counts.n)) for g in d.groups]
    return interval_chart(f"selection-{d.dimension}", f"Selection rate by {d.dimension}", rows, markers=markers)


def _error_chart(d: DimensionResult) -> Markup | None:
    """TPR, FPR and FNR of each group with their intervals: equal opportunity compares TPR (or FNR), equalised odds
    TPR and FPR. A rate nobody could compute (a group with no actual positives) is drawn as a gap, not as zero."""
    rows = [Interval(g.counts.label, r.value, r.low, r.high, note=f"{name} {_pct(r.value)}", series=name)
            for g in d.groups for name, attr in _ERROR_RATES if (r := getattr(g, attr, None)) is not None]
    return interval_chart(f"errors-{d.dimension}", f"Error rates by {d.dimension} (reference: {d.reference})", rows)


def _level(g: GroupResult, d: DimensionResult) -> str:
    if g.severity is not None:
        return g.severity.value
    if g.counts.label == d.reference:
        return "ink"
    return "muted" if g.verdict == "too_small" else "ok"


def _verdict(audit: BiasAudit) -> tuple[str, str]:
    """The banner: the worst severity any group reached, and the terminal's closing line."""
    severities = [g.severity.value for d in audit.dimensions for g in d.groups if g.severity is not None]
    worst = max(severities, key=_RANK.__getitem__, default=None)
    failing = sum(len(d.failing) for d in audit.dimensions)
    small = sum(g.verdict == "too_small" for d in audit.dimensions for g in d.groups)
    flagged = sum(p.verdict == "proxy" for p in audit.proxies)
    head = "Fails" if failing else ("Warnings" if worst else "Passes")
    return worst or "ok", (f"{head}: {failing} failing group(s), {small} too small to judge, "
                           f"{flagged} proxy input(s).")


def _summary(audit: BiasAudit) -> str:
    t, m = audit.thresholds, audit.mapping
    decision = (f"{m.score} >= {m.cutoff:g}" if m.score is not None and m.cutoff is not None
                else f"{m.decision} in ({', '.join(m.positive)})" if m.decision else "the decision column")
    outcome = f"; outcome {m.outcome}" if m.outcome else ""
    return (f"Decision: {decision}{outcome}. A group fails below {t.ratio:g}x the reference's selection rate with "
            f"z <= -{t.z:g}; groups under n = {t.min_group_size} are not judged.")


def _rate_note(value: float | None, n: int) -> str:
    return f"{_pct(value)} (n {n:,})"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"

