"""``steward audit quality --html PATH``: the column profile as one page a reviewer can open offline.

Sections follow what the terminal prints: the columns table (the printed one, converted by the command with
flows/cli/audit/_html.py, so page and terminal never disagree) with two charts (missing values per column: nulls plus placeholders;
outliers per numeric column), the key's duplicates when ``--key`` was given, and the findings. Aggregates only: the page
holds no value of a text column, as the terminal does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from .audit_html import HtmlSection, HtmlTable, render_audit_html, write_audit_html
from .report_charts import COLORS, Marker, bar_chart

if TYPE_CHECKING:
    from ..contracts.quality import ColumnVerdict

    from .quality_audit import QualityAudit

__all__ = ["quality_page", "write_quality_html"]


def write_quality_html(path: Path, audit: QualityAudit, columns_table: HtmlTable) -> None:
    """Render and write the page atomically; ``columns_table`` is the printed columns table (converted by flows/cli/audit/_html.py)."""
    write_audit_html(Path(path), quality_page(audit, columns_table))


def quality_page(audit: QualityAudit, columns_table: HtmlTable) -> str:
    """The page as a string (what the tests parse)."""
    p, j = audit.profile, audit.judgement
    charts = [c for c in (_missing_chart(j.columns, audit), _outlier_chart(j.columns, audit)) if c is not None]
    sections = [HtmlSection("Columns", "Shares are of the table's rows. Min and max are shown for number and date "
                            "columns only; no value of a text column leaves the warehouse.", [columns_table],
                            charts)]
    if p.key is not None:
        k = p.key
        sections.append(HtmlSection(f"Key ({', '.join(k.columns)})", "Rows with a null in a key column are counted "
                                    "apart and left out of the duplicate count.", [HtmlTable(
                                        "Key", ["distinct keys", "duplicated keys", "duplicate rows",
                                                "most rows with one key", "rows with a null key"],
                                        [[f"{k.distinct_keys:,}", f"{k.duplicated_keys:,}", f"{k.extra_rows:,}",
                                          f"{k.max_rows_per_key:,}", f"{k.null_key_rows:,}"]])]))
    findings = sorted(j.findings, key=lambda f: -f.severity.rank)
    sections.append(HtmlSection("Findings", "" if findings else "No measure reached a level of the policy.",
                                [HtmlTable("Findings", ["severity", "check", "subject", "explanation"],
                                           [[f.severity.value, f.check_id, f.subject, f.explanation]
                                            for f in findings])] if findings else []))
    worst = audit.severity
    counts = {s: sum(f.severity.value == s for f in j.findings) for s in ("critical", "warn", "info")}
    verdict = f"{len(j.findings)} finding(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()) + "."
    approx = "" if p.exact else " Some distinct counts or medians are approximate (marked ~ in the table)."
    summary = (f"{p.rows:,} rows, {len(p.columns)} columns. Outliers: modified z above {audit.rules.outlier_z:g}."
               + approx)
    return render_audit_html("Quality audit", audit.source, summary, sections, verdict,
                             level=worst.value if worst else "ok")


def _missing_chart(columns: list[ColumnVerdict], audit: QualityAudit) -> Markup | None:
    """Nulls plus placeholders per column, coloured by the worse of the two measures, with the null warn line."""
    labels, values, levels, notes = [], [], [], []
    for v in columns:
        nulls, holders = v.measures.get("null_share"), v.measures.get("placeholder_share")
        labels.append(v.stats.name)
        values.append((nulls.share if nulls else 0.0) + (holders.share if holders else 0.0))
        worst = max((m.severity for m in (nulls, holders) if m and m.severity), default=None, key=lambda s: s.rank)
        levels.append(_colour(worst))
        notes.append(f"{nulls.share if nulls else 0:.1%} null, {holders.share if holders else 0:.1%} placeholder")
    warn = audit.rules.thresholds.null_share.warn
    markers = [Marker(warn, f"null warn {warn:.0%}", COLORS["warn"], dashed=True)] if warn else []
    return bar_chart("quality-missing", "Missing values by column (share of rows)", labels, values, levels=levels,
                     notes=notes, markers=markers, pct=True)


def _outlier_chart(columns: list[ColumnVerdict], audit: QualityAudit) -> Markup | None:
    """Robust outliers per numeric column."""
    rows = [(v.stats.name, v.measures["outlier_share"]) for v in columns if "outlier_share" in v.measures]
    if not rows:
        return None
    warn = audit.rules.thresholds.outlier_share.warn
    return bar_chart("quality-outliers", f"Robust outliers by column (modified z > {audit.rules.outlier_z:g})",
                     [n for n, _ in rows], [m.share for _, m in rows], levels=[_colour(m.severity) for _, m in rows],
                     notes=[f"{m.count:,} ({m.share:.1%})" for _, m in rows],
                     markers=[Marker(warn, f"warn {warn:.0%}", COLORS["warn"], dashed=True)] if warn else [],
                     pct=True)


def _colour(severity: object) -> str:
    """A bar's colour key in ``COLORS``: info is drawn as the neutral blue."""
    value = getattr(severity, "value", None)
    return value if value in ("warn", "critical") else "kpi" if value == "info" else "ok"
