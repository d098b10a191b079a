"""``steward audit bias``: selection rates, error rates and four-fifths verdicts per group, on any table or file.

Prints one table per dimension (and one of error rates with ``--outcome``) and one of proxies, or ONE JSON document
with ``--json``. ``--adverse`` says the decision counted is a harm (flagged, excluded, suppressed): a group is then
disadvantaged when it gets it MORE often. Exit 0 when nothing reaches ``--fail-on`` (default warn), 1 when a finding
or a warning does (a group or a reference too small to judge is a warning, never a silent pass), 2 on bad input,
with one line on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from .._console import one_line_errors, stdout
from ._common import check_fail_on, fail_on_option, finish

if TYPE_CHECKING:  # the audit (duckdb, the policy) loads only when the command runs, rich only when it prints
    from rich.table import Table

    from ....contracts.fairness import DimensionResult, ErrorGap, GroupResult, Rate
    from ....contracts.policy import Policy
    from ....contracts.proxies import ProxyResult

    from ...bias_audit import BiasAudit

__all__ = ["bias"]

_VERDICT = {"reference": "[cyan]reference[/]", "too_small": "[dim]too small to judge[/]",
            "fails_four_fifths": "[bold red]fails four-fifths[/]", "fails_adverse_ratio": "[bold red]fails adverse "
            "ratio[/]", "reference_too_small": "[yellow]not judged: reference too small[/]",
            "passes": "[green]passes[/]"}
_PARITY = {"reference": "[cyan]reference[/]", "too_small": "[dim]too few to judge[/]", "fails": "[bold red]fails[/]",
           "passes": "[green]passes[/]", None: "–"}


def bias(
    source: Path = typer.Argument(..., help="CSV, Parquet or JSON file, or a DuckDB file with --table."),
    group: List[str] = typer.Option(..., "--group", "-g", help="Group column (repeat for several)."),
    intersect: bool = typer.Option(False, help="Also audit the intersection of all group columns."),
    score: Optional[str] = typer.Option(None, help="Numeric score column; positive = score >= --cutoff."),
    cutoff: Optional[float] = typer.Option(None, help="Cut-off for --score."),
    decision: Optional[str] = typer.Option(None, help="Categorical decision column."),
    positive: List[str] = typer.Option([], "--positive", help="A --decision value that counts as positive (repeat)."),
    adverse: bool = typer.Option(False, "--adverse", help="The decision counted (--positive values, or the score side "
                                 "of --cutoff) is ADVERSE (flagged, excluded, suppressed): a group is disadvantaged "
                                 "when it gets it more often."),
    outcome: Optional[str] = typer.Option(None, help="Known outcome column (enables TPR, FPR, FNR, precision)."),
    outcome_positive: List[str] = typer.Option([], "--outcome-positive",
                                               help="Outcome value that means positive (default: true/1/yes)."),
    reference: List[str] = typer.Option(["largest"], help="largest | most-favoured | GROUP | DIMENSION=GROUP."),
    min_group_size: Optional[int] = typer.Option(None, min=0, help="Smaller groups (and error rates over fewer "
                                     "actual positives / negatives) are not judged, and warned about (default: the "
                                     "policy's n >= and audits.bias.error_rate_min_denominator)."),
    table: Optional[str] = typer.Option(None, help="schema.table when SOURCE is a DuckDB file."),
    where: Optional[str] = typer.Option(None, help="Audit only rows matching this SQL condition on the source's "
                                        "columns, e.g. \"region = 'EU' and age >= 18\" (confined: no subquery)."),
    bins: List[str] = typer.Option([], "--bin", help="COL=EDGES: band a numeric column, e.g. age=18,25,35,50,65 "
                                   "(<18, 18-24, ..., >=65); the banded column can be a --group. Repeatable."),
    direction: str = typer.Option("above", help="With --score: above = positive when score >= --cutoff, "
                                  "below = positive when score <= --cutoff."),
    inputs: List[str] = typer.Option([], "--inputs", "--input", help="Model input columns to test as proxies "
                                     "(repeat or comma-separate; default: every unmapped column)."),
    proxies: bool = typer.Option(True, help="Test inputs as proxies of the group columns."),
    policy: Optional[Path] = typer.Option(None, help="Policy file for thresholds (default: the packaged one)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
    fail_on: str = fail_on_option(),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the audit as one self-contained HTML page "
                                        "(tables, charts, verdict; no script, nothing fetched)."),
) -> None:
    """Selection rates, error rates and four-fifths verdicts per group, against a reference group."""
    from ...bias_audit import audit_bias

    check_fail_on(fail_on)
    with one_line_errors():
        audit = audit_bias(source, group, table=table, score=score, cutoff=cutoff, decision=decision,
                           positive=positive, outcome=outcome, outcome_positive=outcome_positive,
                           intersect=intersect, reference=reference, min_group_size=min_group_size,
                           inputs=[c.strip() for i in inputs for c in i.split(",") if c.strip()] or None,
                           proxies=proxies, policy=_load_policy(policy) if policy else None,
                           favourable=not adverse, where=where, bins=bins, direction=direction)
    finish(as_json=as_json, document=audit.to_dict, show=lambda: _print(audit), html=html,
           write_html=lambda path: _write_html(path, audit), severities=audit.severities, fail_on=fail_on)


def _load_policy(path: Path) -> Policy:
    """A ``--policy`` file, validated whole (a user's file); without one the audit reads the packaged policy's bias
    parts alone (contracts/bias_policy.py), and the policy module is never imported."""
    from ....contracts.policy import load_policy

    return load_policy(path)


def _write_html(path: Path, audit: BiasAudit) -> None:
    """The page holds the tables the terminal prints, per dimension, and the proxies table."""
    from ...bias_audit_html import write_bias_html
    from ._html import from_rich

    outcome = audit.mapping.outcome is not None
    tables = [[from_rich(t) for t in (_dimension_table(d), *([_error_table(d)] if outcome else []))]
              for d in audit.dimensions]
    proxies = from_rich(_proxy_table(audit.proxies, audit.proxy_threshold)) if audit.proxies else None
    write_bias_html(path, audit, tables, proxies)


def _print(audit: BiasAudit) -> None:
    out = stdout()
    t = audit.thresholds
    if audit.favourable:
        out.print(f"[bold]Bias audit[/] of {audit.source}: a group fails below {t.ratio:g}x the reference's "
                  f"selection rate with z <= -{t.z:g}; groups under n = {t.min_group_size} are not judged.")
    else:
        out.print(f"[bold]Bias audit[/] of {audit.source}, [bold]adverse[/] decision: a group fails when its "
                  f"favourable rate is below {t.ratio:g}x the reference's or its adverse rate above "
                  f"{t.adverse_ratio:g}x, with z <= -{t.z:g}; groups under n = {t.min_group_size} are not judged.")
    for d in audit.dimensions:
        out.print(_dimension_table(d))
        if audit.mapping.outcome is not None:
            out.print(_error_table(d))
        if d.favoured_over_reference:
            got = ("is itself selected significantly less than" if d.favourable else
                   "itself gets the adverse decision significantly more often than")
            out.print(f"[yellow]note:[/] the reference {d.reference} {got} "
                      f"{', '.join(d.favoured_over_reference)}; try --reference most-favoured.")
    if audit.proxies:
        out.print(_proxy_table(audit.proxies, audit.proxy_threshold))
    for w in audit.warnings:
        out.print(f"[yellow]warning:[/] {w.message}", markup=True, highlight=False)
    failing = sum(len(d.failing) for d in audit.dimensions)
    small = sum(g.verdict == "too_small" for d in audit.dimensions for g in d.groups)
    flagged = sum(p.verdict == "proxy" for p in audit.proxies)
    if audit.rows:
        out.print(_rows_line(audit))
    out.print(f"[bold]{failing} failing group(s)[/], {small} too small to judge, {flagged} proxy input(s).")
    if audit.mapping.outcome is not None:
        eo = sum(len(d.equal_opportunity_failing) for d in audit.dimensions)
        odds = sum(len(d.equalised_odds_failing) for d in audit.dimensions)
        out.print(f"[bold]{eo} group(s) failing equal opportunity[/], {odds} failing equalised odds.")
    out.print(f"{len(audit.warnings)} warning(s).")


def _rows_line(audit: BiasAudit) -> str:
    """Where the rows went: filtered out by --where, left out for a missing score or outcome, missing a group."""
    r, m = audit.rows, audit.mapping
    parts = [f"{r.audited:,} row(s) audited"]
    if r.rows_read is not None:
        parts.append(f"{r.rows_read - r.rows:,} filtered out by --where (of {r.rows_read:,})")
    parts.append(f"{r.missing_decision:,} left out for a missing {'score' if m.score else 'decision'}")
    if r.missing_outcome is not None:
        parts.append(f"{r.missing_outcome:,} without an outcome (out of error rates)")
    parts += [f"{k:,} without {col} (group '(missing)')" for col, k in r.missing_group.items() if k]
    return "Rows: " + ", ".join(parts) + "."


def _dimension_table(d: DimensionResult) -> Table:
    from rich.table import Table

    table = Table(title=f"{d.dimension}  (reference: {d.reference}, {d.reference_rule})", title_justify="left")
    cols = (("group", "n", "selected", "rate [95% CI]", "ratio", "diff", "z") if d.favourable else
            ("group", "n", "adverse", "adverse rate [95% CI]", "fav. ratio", "adverse ratio", "diff", "z"))
    for col in cols:
        table.add_column(col, justify="left" if col == "group" else "right")
    table.add_column("verdict")
    for g in d.groups:
        table.add_row(*_group_row(g, d.favourable))
    return table


def _group_row(g: GroupResult, favourable: bool) -> list[str]:
    c = g.counts
    row = [c.label, f"{c.n:,}", f"{c.positives:,}", _ci(g.selection), _num(g.disparity_ratio, ".2f")]
    if not favourable:
        row.append(_num(g.adverse_ratio, ".2f"))
    row += [_num(g.rate_difference, "+.3f"), _num(g.z, "+.2f")]
    verdict = _VERDICT[g.verdict] + (f" ({g.severity.value})" if g.severity else "")
    return row + [verdict]


def _error_table(d: DimensionResult) -> Table:
    """FPR and FNR against the reference; equal opportunity judges the harmful one (FNR, or FPR when adverse)."""
    from rich.table import Table

    harmful = "FNR" if d.favourable else "FPR"
    table = Table(title=f"{d.dimension}: error rates  (equal opportunity = {harmful} parity; equalised odds = both)",
                  title_justify="left")
    for col in ("group", "TPR", "FPR [95% CI]", "FPR ratio", "ΔFPR", "z", "FNR [95% CI]", "FNR ratio", "ΔFNR", "z",
                "equal opp.", "eq. odds"):
        table.add_column(col, justify="left" if col in ("group", "equal opp.", "eq. odds") else "right")
    for g in d.groups:
        if g.fpr_gap is None or g.fnr_gap is None or g.fpr is None or g.fnr is None:
            continue
        harm = g.fnr_gap if d.favourable else g.fpr_gap
        table.add_row(g.counts.label, _num(g.tpr.value if g.tpr else None, ".3f"),
                      *_gap_cells(g.fpr, g.fpr_gap), *_gap_cells(g.fnr, g.fnr_gap),
                      _PARITY[g.equal_opportunity] + _severity(harm.severity),
                      _PARITY[g.equalised_odds] + _severity(g.error_severity))
    return table


def _severity(severity: object) -> str:
    return f" ({getattr(severity, 'value', severity)})" if severity else ""


def _gap_cells(rate: Rate, gap: ErrorGap) -> list[str]:
    return [_ci(rate), _num(gap.ratio, ".2f"), _num(gap.difference, "+.3f"), _num(gap.z, "+.2f")]


def _proxy_table(proxies: list[ProxyResult], threshold: float) -> Table:
    from rich.table import Table

    table = Table("input", "protected", "measure", "value", "verdict",
                  title=f"Proxies  (flagged at >= {threshold:g})", title_justify="left")
    for p in proxies:
        verdict = {"proxy": "[bold yellow]proxy[/]", "ok": "ok", "skipped": "[dim]skipped[/]"}[p.verdict]
        table.add_row(p.input, p.protected, p.measure, _num(p.value, ".3f"),
                      verdict + (f" [dim]({p.reason})[/]" if p.reason else ""))
    return table


def _ci(r: Rate) -> str:
    if r.value is None:
        return "–"
    return f"{r.value:.3f} [{r.low:.3f}, {r.high:.3f}]"


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)
