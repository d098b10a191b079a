"""``steward audit quality``: a column profile of any table or file, with a severity from the policy per measure.

Prints one table of columns, the key's duplicates and the findings, or ONE JSON document with ``--json``. Exit 0
when no finding reaches ``--fail-on`` (default warn), 1 when one does, 2 on bad input, with one line on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from .._console import SEVERITY_STYLE, one_line_errors, stdout
from ._common import check_fail_on, fail_on_option, finish

if TYPE_CHECKING:  # the audit (duckdb, the policy) loads only when the command runs
    from rich.table import Table

    from ....contracts.quality import ColumnVerdict, Measure
    from ...quality_audit import QualityAudit

__all__ = ["quality"]


def quality(
    source: Path = typer.Argument(..., help="CSV, Parquet or JSON file (or a glob), or a DuckDB file with --table."),
    table: Optional[str] = typer.Option(None, help="schema.table when SOURCE is a DuckDB file."),
    where: Optional[str] = typer.Option(None, help="Audit only rows matching this SQL condition on the source's "
                                        "columns, e.g. \"region = 'EU' and age >= 18\" (confined: no subquery)."),
    bins: List[str] = typer.Option([], "--bin", help="COL=EDGES: band a numeric column, e.g. age=18,25,35,50,65 "
                                   "(<18, 18-24, ..., >=65); the column is profiled as its bands. Repeatable."),
    key: List[str] = typer.Option([], "--key", help="Key column(s) to check for duplicates (repeat or "
                                  "comma-separate: --key order_id,line)."),
    ranges: List[str] = typer.Option([], "--range", help="COL=MIN..MAX: values a number or date column may hold "
                                     "(repeat; either bound may be empty: age=0..120, amount=0..)."),
    policy: Optional[Path] = typer.Option(None, help="Policy file for placeholders and levels (default: the "
                                                     "packaged one)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the profile as one self-contained HTML page "
                                        "(tables, charts, findings; no script, nothing fetched)."),
    fail_on: str = fail_on_option(),
) -> None:
    """Per column: nulls, placeholders, distinct values, min/max, out-of-range values and robust outliers; with
    --key, duplicate keys. Each measure gets a severity from the policy's audits.quality."""
    from ....contracts.policy import load_policy

    from ...quality_audit import audit_quality

    check_fail_on(fail_on)
    with one_line_errors():
        audit = audit_quality(source, table=table, key=[c.strip() for k in key for c in k.split(",") if c.strip()],
                              ranges=ranges, policy=load_policy(policy) if policy else None, where=where,
                              bins=bins)
    finish(as_json=as_json, document=audit.to_dict, show=lambda: _print(audit), html=html,
           write_html=lambda path: _write_html(path, audit), severities=audit.severities(), fail_on=fail_on)


def _write_html(path: Path, audit: QualityAudit) -> None:
    """The page holds the columns table the terminal prints, the charts and the findings."""
    from ...quality_audit_html import write_quality_html
    from ._html import from_rich

    write_quality_html(path, audit, from_rich(_column_table(audit.judgement.columns, audit.rules.outlier_z)))


def _print(audit: QualityAudit) -> None:
    from rich.markup import escape

    out, p, j = stdout(), audit.profile, audit.judgement
    approx = "" if p.exact else "; counts marked ~ are approximate"
    kept = "" if audit.rows_read is None else f" (of {audit.rows_read:,} read; --where {escape(audit.where or '')})"
    out.print(f"[bold]Quality profile[/] of {escape(audit.source)}: {p.rows:,} rows{kept}, {len(p.columns)} columns"
              f"{approx}.")
    out.print(_column_table(j.columns, audit.rules.outlier_z))
    if p.key is not None:
        k = p.key
        out.print(f"key ({escape(', '.join(k.columns))}): {k.distinct_keys:,} distinct, "
                  f"{k.duplicated_keys:,} duplicated, "
                  f"{k.extra_rows:,} duplicate rows, {k.null_key_rows:,} rows with a null key;"
                  + (_tag(max((m.severity for m in j.key.values() if m.severity), default=None,
                              key=lambda s: s.rank)) or " ok"))
    for f in sorted(j.findings, key=lambda f: -f.severity.rank):  # worst first, columns in order within a level
        style = SEVERITY_STYLE[f.severity.value]
        out.print(f"[{style}]{f.severity.value:>8}[/]  {f.check_id}  {escape(f.explanation)}",
                  highlight=False)
    counts = {s: sum(f.severity.value == s for f in j.findings) for s in ("critical", "warn", "info")}
    out.print(f"[bold]{len(j.findings)} finding(s)[/]: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + ".")


def _column_table(columns: list[ColumnVerdict], z: float) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Columns  (outliers: modified z > {z:g})", title_justify="left")
    for col in ("column", "type", "nulls", "placeholders", "distinct", "min", "max", "out of range", "outliers",
                "severity"):
        table.add_column(col, justify="left" if col in ("column", "type", "severity") else "right")
    for v in columns:
        s = v.stats
        table.add_row(escape(s.name), escape(s.type), _measure(v.measures.get("null_share")),
                      _measure(v.measures.get("placeholder_share")),
                      f"{s.distinct:,}" + ("" if s.distinct_exact else " ~"),
                      _value(s.minimum, s.masked), _value(s.maximum, s.masked),
                      _measure(v.measures.get("out_of_range_share")), _measure(v.measures.get("outlier_share"))
                      + ("" if s.robust is None or s.robust.exact else " ~"),
                      _tag(v.severity).strip() or "ok")
    return table


def _measure(m: Measure | None) -> str:
    if m is None:
        return "–"
    return "0" if not m.count else f"{m.count:,} ({m.share:.1%})"


def _value(value: Any, masked: str | None) -> str:
    if masked:
        return f"[dim]({masked})[/]"
    if value is None:
        return "–"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return f"{value:,.6g}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def _tag(severity: Any) -> str:
    if severity is None:
        return ""
    return f" [{SEVERITY_STYLE[severity.value]}]{severity.value}[/]"
