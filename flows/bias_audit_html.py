"""``steward audit bias --html PATH``: the bias audit as one page a reviewer can open offline.

One section per audited dimension (the table the terminal prints, the selection rates with their 95 % intervals
against the reference rate and the policy's line, and the error rates when an outcome is known), one for the proxies,
and the verdict. The tables are the printed ones (converted by flows/cli/audit/_html.py), so the page and the terminal never disagree; the
charts are drawn from the judged result, aggregates only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from markupsafe import Markup

from .audit_html import HtmlSection, HtmlTable, render_audit_html, write_audit_html
from .report_charts import COLORS, Interval, Marker, interval_chart

if TYPE_CHECKING:
    from ..contracts.fairness import DimensionResult, GroupResult

    from .bias_audit import BiasAudit

__all__ = ["bias_page", "write_bias_html"]

_ERROR_RATES = (("TPR", "tpr"), ("FPR", "fpr"), ("FNR", "fnr"))
_RANK = {"info": 1, "warn": 2, "critical": 3}


def write_bias_html(path: Path, audit: BiasAudit, tables: Sequence[Sequence[HtmlTable]], proxy_table: HtmlTable | None) -> None:
    """Render and write the page atomically. ``tables`` holds, per dimension (in ``audit.dimensions`` order), the
    tables the terminal prints for it; ``proxy_table`` the printed proxies table (None when no input was tested)."""
    write_audit_html(Path(path), bias_page(audit, tables, proxy_table))


def bias_page(audit: BiasAudit, tables: Sequence[Sequence[HtmlTable]], proxy_table: HtmlTable | None) -> str:
    """The page as a string (what the tests parse)."""
    sections = [_dimension_section(d, ts, audit.mapping.outcome is not None)
                for d, ts in zip(audit.dimensions, tables)]
    if proxy_table is not None:
        sections.append(HtmlSection("Proxies", "An input that predicts a protected attribute can carry the bias "
                                    "without naming the group.", [proxy_table]))
    if audit.warnings:
        sections.append(HtmlSection("Warnings", "What the audit could not judge: an unjudged group is never a pass.",
                                    [HtmlTable("", ["dimension", "group", "n", "minimum", "warning"],
                                               [[w.dimension, w.group, f"{w.n:,}", f"{w.minimum:,}", w.message]
                                                for w in audit.warnings])]))
    level, verdict = _verdict(audit)
    return render_audit_html("Bias audit", audit.source, _summary(audit), sections, verdict, level=level)


def _dimension_section(d: DimensionResult, tables: Sequence[HtmlTable], outcome: bool) -> HtmlSection:
    text = f"Reference group: {d.reference} ({d.reference_rule})."
    if d.favoured_over_reference:
        got = ("is itself selected significantly less than" if d.favourable else
               "itself gets the adverse decision significantly more often than")
        text += f" The reference {got} {', '.join(d.favoured_over_reference)}; try --reference most-favoured."
    charts = [c for c in (_selection_chart(d), _error_chart(d) if outcome else None) if c is not None]
    return HtmlSection(d.dimension, text, list(tables), charts)


def _selection_chart(d: DimensionResult) -> Markup | None:
    """Each group's rate of the counted decision with its interval, the reference's rate, and the line past which a
    group fails: under ``ratio`` x the reference's rate for a favourable decision; for an adverse one, over
    ``adverse_ratio`` x the reference's adverse rate or where the favourable rate falls under ``ratio`` x the
    reference's (1 - ratio x (1 - a_ref)), whichever comes first."""
    t = d.thresholds
    ref = d.reference_group.selection.value
    markers: list[Marker] = []
    if ref is not None:
        markers.append(Marker(ref, f"reference {d.reference}"))
        if d.favourable:
            markers.append(Marker(ref * t.ratio, f"{t.ratio:g} × reference", COLORS["warn"], dashed=True))
        else:
            markers += [Marker(min(1.0, ref * t.adverse_ratio), f"{t.adverse_ratio:g} × reference", COLORS["warn"],
                               dashed=True),
                        Marker(1 - t.ratio * (1 - ref), f"favourable {t.ratio:g} × reference", COLORS["warn"],
                               dashed=True)]
    rows = [Interval(g.counts.label, g.selection.value, g.selection.low, g.selection.high, _level(g, d),
                     f"{_pct(g.selection.value)} (n {g.counts.n:,})") for g in d.groups]
    what = "Selection rate" if d.favourable else "Adverse-decision rate"
    return interval_chart(f"selection-{d.dimension}", f"{what} by {d.dimension}", rows, markers=markers)


def _error_chart(d: DimensionResult) -> Markup | None:
    """TPR, FPR and FNR of each group with their intervals: equal opportunity compares the harmful error (FNR of a
    favourable decision, FPR of an adverse one), equalised odds both. A rate nobody could compute (a group with no
    actual positives) is drawn as a gap, not as zero."""
    rows = [Interval(g.counts.label, r.value, r.low, r.high, note=f"{name} {_pct(r.value)}", series=name)
            for g in d.groups for name, attr in _ERROR_RATES if (r := getattr(g, attr, None)) is not None]
    return interval_chart(f"errors-{d.dimension}", f"Error rates by {d.dimension} (reference: {d.reference})", rows)


def _level(g: GroupResult, d: DimensionResult) -> str:
    if g.severity is not None:
        return g.severity.value
    if g.counts.label == d.reference:
        return "ink"
    return "ok" if g.verdict == "passes" else "muted"


def _verdict(audit: BiasAudit) -> tuple[str, str]:
    """The banner: the worst severity reached (what ``--fail-on`` gates on), and the terminal's closing lines."""
    worst = max(audit.severities, key=_RANK.__getitem__, default=None)
    dims = audit.dimensions
    failing = sum(len(d.failing) for d in dims)
    errors = sum(g.error_severity is not None for d in dims for g in d.groups)
    small = sum(g.verdict == "too_small" for d in dims for g in d.groups)
    flagged = sum(p.verdict == "proxy" for p in audit.proxies)
    head = "Fails" if failing or errors else ("Warnings" if worst else "Passes")
    text = f"{head}: {failing} failing group(s), {small} too small to judge, {flagged} proxy input(s)"
    if audit.mapping.outcome is not None:
        text += (f"; {sum(len(d.equal_opportunity_failing) for d in dims)} failing equal opportunity, "
                 f"{sum(len(d.equalised_odds_failing) for d in dims)} failing equalised odds")
    return worst or "ok", f"{text}; {len(audit.warnings)} warning(s)."


def _summary(audit: BiasAudit) -> str:
    t, m = audit.thresholds, audit.mapping
    decision = (f"{m.score} >= {m.cutoff:g}" if m.score is not None and m.cutoff is not None
                else f"{m.decision} in ({', '.join(m.positive)})" if m.decision else "the decision column")
    outcome = f"; outcome {m.outcome}" if m.outcome else ""
    if audit.favourable:
        rule = (f"A group fails below {t.ratio:g}x the reference's selection rate with z <= -{t.z:g}")
    else:
        rule = (f"The decision counted is ADVERSE. A group fails when its favourable rate is below {t.ratio:g}x the "
                f"reference's or its adverse rate above {t.adverse_ratio:g}x, with z <= -{t.z:g}")
    return f"Decision: {decision}{outcome}. {rule}; groups under n = {t.min_group_size} are not judged."


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"
