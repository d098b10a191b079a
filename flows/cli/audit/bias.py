"""``steward audit bias``: selection rates, error rates and four-fifths verdicts per group, on any table or file.

Prints one table per dimension and one of proxies, or ONE JSON document with ``--json``. Exit 0 when no group fails,
1 when one does (so a pipeline can gate on it), 2 on bad input, with one line on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.table import Table

from .._console import one_line_errors, stdout

if TYPE_CHECKING:  # the audit (duckdb, the policy) loads only when the command runs
    from ....contracts.fairness import DimensionResult, GroupResult, Rate
    from ....contracts.proxies import ProxyResult

    from ...bias_audit import BiasAudit

__all__ = ["bias"]

_VERDICT = {"reference": "[cyan]reference[/]", "too_small": "[dim]too small to judge[/]",
            "fails_four_fifths": "[bold red]fails four-fifths[/]", "passes": "[green]passes[/]"}


def bias(
    source: Path = typer.Argument(..., help="CSV, Parquet or JSON file, or a DuckDB file with --table."),
    group: List[str] = typer.Option(..., "--group", "-g", help="Group column (repeat for several)."),
    intersect: bool = typer.Option(False, help="Also audit the intersection of all group columns."),
    score: Optional[str] = typer.Option(None, help="Numeric score column; positive = score >= --cutoff."),
    cutoff: Optional[float] = typer.Option(None, help="Cut-off for --score."),
    decision: Optional[str] = typer.Option(None, help="Categorical decision column."),
    positive: List[str] = typer.Option([], "--positive", help="A --decision value that counts as positive (repeat)."),
    outcome: Optional[str] = typer.Option(None, help="Known outcome column (enables TPR, FPR, FNR, precision)."),
    outcome_positive: List[str] = typer.Option([], "--outcome-positive",
                                               help="Outcome value that means positive (default: true/1/yes)."),
    reference: List[str] = typer.Option(["largest"], help="largest | most-favoured | GROUP | DIMENSION=GROUP."),
    min_group_size: Optional[int] = typer.Option(None, min=0, help="Smaller groups are 'too small to judge' "
                                                                    "(default: the policy's n >=)."),
    table: Optional[str] = typer.Option(None, help="schema.table when SOURCE is a DuckDB file."),
    inputs: List[str] = typer.Option([], "--inputs", "--input", help="Model input columns to test as proxies "
                                     "(repeat or comma-separate; default: every unmapped column)."),
    proxies: bool = typer.Option(True, help="Test inputs as proxies of the group columns."),
    policy: Optional[Path] = typer.Option(None, help="Policy file for thresholds (default: the packaged one)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the audit as one self-contained HTML page "
                                        "(tables, charts, verdict; no script, nothing fetched)."),
) -> None:
    """Selection rates, error rates and four-fifths verdicts per group, against a reference group."""
    from ....contracts.policy import load_policy

    from ...bias_audit import audit_bias

    with one_line_errors():
        audit = audit_bias(source, group, table=table, score=score, cutoff=cutoff, decision=decision,
                           positive=positive, outcome=outcome, outcome_positive=outcome_positive,
                           intersect=intersect, reference=reference, min_group_size=min_group_size,
                           inputs=[c.strip() for i in inputs for c in i.split(",") if c.strip()] or None,
                           proxies=proxies, policy=load_policy(policy) if policy else None)
    if as_json:
        sys.stdout.write(json.dumps(audit.to_dict(), default=str) + "\n")
    else:
        _print(audit)
    if html is not None:
        from ...bias_audit_html import write_bias_html

        with one_line_errors():
            write_bias_html(html, audit, [_dimension_table(d, audit.mapping.outcome is not None)
                                          for d in audit.dimensions],
                            _proxy_table(audit.proxies, audit.proxy_threshold) if audit.proxies else None)
    if audit.failed:
        raise typer.Exit(1)


def _print(audit: BiasAudit) -> None:
    out = stdout()
    t = audit.thresholds
    out.print(f"[bold]Bias audit[/] of {audit.source}: a group fails below {t.ratio:g}x the reference's selection "
              f"rate with z <= -{t.z:g}; groups under n = {t.min_group_size} are not judged.")
    for d in audit.dimensions:
        out.print(_dimension_table(d, audit.mapping.outcome is not None))
        if d.favoured_over_reference:
            out.print(f"[yellow]note:[/] the reference {d.reference} is itself selected significantly less than "
                      f"{', '.join(d.favoured_over_reference)}; try --reference most-favoured.")
    if audit.proxies:
        out.print(_proxy_table(audit.proxies, audit.proxy_threshold))
    failing = sum(len(d.failing) for d in audit.dimensions)
    small = sum(g.verdict == "too_small" for d in audit.dimensions for g in d.groups)
    flagged = sum(p.verdict == "proxy" for p in audit.proxies)
    out.print(f"[bold]{failing} failing group(s)[/], {small} too small to judge, {flagged} proxy input(s).")


def _dimension_table(d: DimensionResult, outcome: bool) -> Table:
    table = Table(title=f"{d.dimension}  (reference: {d.reference}, {d.reference_rule})", title_justify="left")
    for col in ("group", "n", "selected", "rate [95% CI]", "ratio", "diff", "z"):
        table.add_column(col, justify="left" if col == "group" else "right")
    if outcome:
        for col in ("TPR", "FPR", "ΔTPR", "ΔFPR"):
            table.add_column(col, justify="right")
    table.add_column("verdict")
    for g in d.groups:
        table.add_row(*_group_row(g, outcome))
    return table


def _group_row(g: GroupResult, outcome: bool) -> list[str]:
    c = g.counts
    row = [c.label, f"{c.n:,}", f"{c.positives:,}", _ci(g.selection), _num(g.disparity_ratio, ".2f"),
           _num(g.rate_difference, "+.3f"), _num(g.z, "+.2f")]
    if outcome:
        row += [_num(g.tpr.value if g.tpr else None, ".3f"), _num(g.fpr.value if g.fpr else None, ".3f"),
                _num(g.tpr_difference, "+.3f"), _num(g.fpr_difference, "+.3f")]
    verdict = _VERDICT[g.verdict] + (f" ({g.severity.value})" if g.severity else "")
    return row + [verdict]


def _proxy_table(proxies: list[ProxyResult], threshold: float) -> Table:
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
