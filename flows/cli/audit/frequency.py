"""``steward audit frequency``: contact pressure on any table or file, and who bears it.

Prints a summary, the distribution of each person's busiest window, the windows with most people over the cap and,
with ``--group``, one table per group column with the over-contact bias verdicts; or ONE JSON document with
``--json``. Exit 0 when nothing reaches ``--fail-on``, 1 when something does, 2 on bad input, with one line on
stderr. No person id is ever printed: counts only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from .._console import SEVERITY_STYLE, one_line_errors, stdout
from ._common import check_fail_on, fail_on_option, finish

if TYPE_CHECKING:  # the audit (duckdb, the policy) loads only when the command runs, rich only when it prints
    from rich.table import Column, Table

    from ....contracts.fairness import DimensionResult

    from ...frequency_audit import FrequencyAudit

__all__ = ["frequency"]

_VERDICT = {"reference": "[cyan]reference[/]", "too_small": "[dim]too small to judge[/]",
            "fails_four_fifths": "[bold red]over-contacted[/]",
            "fails_adverse_ratio": "[bold red]over-contacted[/]", "passes": "[green]passes[/]",
            "reference_too_small": "[dim]reference too small to judge against[/]"}


def frequency(
    source: Path = typer.Argument(..., help="CSV, Parquet or JSON file (or a glob), or a DuckDB file with --table."),
    person: str = typer.Option(..., "--person", help="Column that identifies a person (never printed)."),
    at: Optional[str] = typer.Option(None, "--at", help="Time of each touch: one row per touch."),
    count: Optional[str] = typer.Option(None, "--count", help="Touches per row (one row per person, or per "
                                        "person and --at window)."),
    window: str = typer.Option("week", "--window", help="Calendar window the cap applies to: day | week "
                               "(ISO, from Monday) | month.", case_sensitive=False),
    cap: Optional[int] = typer.Option(None, "--cap", help="Most touches one person may get in one window "
                                      "(default: the policy's audits.frequency cap for the window)."),
    group: List[str] = typer.Option([], "--group", "-g", help="Group column to compare over-contact across "
                                    "(repeat; a person's group is the value on their latest row)."),
    reference: List[str] = typer.Option(["largest"], help="largest | most-favoured | GROUP | DIMENSION=GROUP."),
    min_group_size: Optional[int] = typer.Option(None, min=0, help="Smaller groups are 'too small to judge' "
                                                 "(default: the policy's bias n >=)."),
    table: Optional[str] = typer.Option(None, help="schema.table when SOURCE is a DuckDB file."),
    where: Optional[str] = typer.Option(None, help="Audit only rows matching this SQL condition on the source's "
                                        "columns, e.g. \"region = 'EU' and age >= 18\" (confined: no subquery)."),
    bins: List[str] = typer.Option([], "--bin", help="COL=EDGES: band a numeric column, e.g. age=18,25,35,50,65 "
                                   "(<18, 18-24, ..., >=65); the banded column can be a --group. Repeatable."),
    policy: Optional[Path] = typer.Option(None, help="Policy file for caps and thresholds (default: packaged)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
    fail_on: str = fail_on_option(),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the audit as one self-contained HTML page "
                                        "(tables, charts, verdict; no script, nothing fetched)."),
) -> None:
    """People over a contact cap per calendar window, the distribution, and which groups are over-contacted."""
    from ....contracts.policy import load_policy

    from ...frequency_audit import audit_frequency

    check_fail_on(fail_on)
    with one_line_errors():
        audit = audit_frequency(source, person, at=at, count=count, window=window.lower(), cap=cap, groups=group,
                                table=table, reference=reference, min_group_size=min_group_size,
                                policy=load_policy(policy) if policy else None, where=where, bins=bins)
    finish(as_json=as_json, document=audit.to_dict, show=lambda: _print(audit), html=html,
           write_html=lambda path: _write_html(path, audit), severities=audit.severities, fail_on=fail_on)


def _write_html(path: Path, audit: FrequencyAudit) -> None:
    """The page holds the tables the terminal prints, the verdict line and the warnings."""
    from rich.text import Text

    from ...frequency_audit_html import write_frequency_html
    from ._html import from_rich

    write_frequency_html(path, audit, [from_rich(t) for t in _tables(audit)],
                         Text.from_markup(verdict_line(audit)).plain, warning_lines(audit) + note_lines(audit))


def _print(audit: FrequencyAudit) -> None:
    out = stdout()
    r = audit.result
    out.print(f"[bold]Contact frequency[/] of {audit.source}: cap {r.cap} touches per {r.window}.")
    for table in _tables(audit):
        out.print(table)
    for line in warning_lines(audit):
        out.print(f"[yellow]warning:[/] {line}")
    for line in note_lines(audit):
        out.print(f"[yellow]note:[/] {line}")
    out.print(f"[bold]{verdict_line(audit)}[/]")


def _tables(audit: FrequencyAudit) -> list[Table]:
    """Every table the command prints, in order: what the terminal shows and what ``--html`` shows."""
    windows = _windows_table(audit)
    return [_summary(audit), _distribution_table(audit), *([windows] if windows else []),
            *(_dimension_table(d) for d in audit.result.dimensions)]


def warning_lines(audit: FrequencyAudit) -> list[str]:
    """What could not be judged (a group or the reference too small): printed, never a silent pass."""
    from ...frequency_audit import warnings_of

    return [w.message for d in audit.result.dimensions for w in warnings_of(d)]


def note_lines(audit: FrequencyAudit) -> list[str]:
    """The reference may itself be the over-contacted group (the largest often is): say so, and what to try."""
    return [f"{d.dimension}: the reference {d.reference} is itself over the cap significantly more often than "
            f"{', '.join(d.favoured_over_reference)}; try --reference most-favoured."
            for d in audit.result.dimensions if d.favoured_over_reference]


def verdict_line(audit: FrequencyAudit) -> str:
    r, c = audit.result, audit.result.counts
    failing = sum(len(d.failing) for d in r.dimensions)
    verdict = f"[{SEVERITY_STYLE[r.severity.value]}]{r.severity.value}[/]" if r.severity else "[green]ok[/]"
    return (f"{c.over_cap:,} of {c.people:,} people over the cap ({r.share_over_cap:.1%}): {verdict}"
            + (f"; {failing} over-contacted group(s)" if r.dimensions else "") + ".")


def _distribution_table(audit: FrequencyAudit) -> Table:
    from rich.table import Table

    r, c = audit.result, audit.result.counts
    dist = Table("touches in busiest " + r.window, *_right("people", "share"), title="Distribution  "
                 f"(p50 {c.p50}, p90 {c.p90}, p99 {c.p99})", title_justify="left")
    for b in r.distribution:
        dist.add_row(b.label, f"{b.people:,}", f"{b.share:.1%}", style="bold red" if b.over_cap and b.people else "")
    return dist


def _windows_table(audit: FrequencyAudit) -> Table | None:
    from rich.table import Table

    r, c = audit.result, audit.result.counts
    if not c.top_windows:
        return None
    top = Table(f"{r.window} from", *_right("people", "over cap", "touches"),
                title="Windows with most people over the cap", title_justify="left")
    for w in c.top_windows:
        top.add_row(w.start, f"{w.people:,}", f"{w.over_cap:,}", f"{w.touches:,}")
    return top


def _summary(audit: FrequencyAudit) -> Table:
    from rich.table import Table

    r, c = audit.result, audit.result.counts
    t = Table("figure", "value", title="Summary", title_justify="left")
    left_out = ", ".join(f"{n:,} {why}" for why, n in c.excluded.items() if n) or "none"
    if audit.rows_read is not None:
        t.add_row("rows read", f"{audit.rows_read:,} ({audit.rows_read - c.rows:,} filtered out by --where)")
    for name, value in (("rows", f"{c.rows:,}"), ("rows left out", left_out), ("people", f"{c.people:,}"),
                        ("touches", f"{c.touches:,}"), ("people over the cap", f"{c.over_cap:,}"),
                        ("share over the cap", f"{r.share_over_cap:.1%}"),
                        (f"person-{r.window}s over the cap", f"{c.person_windows_over_cap:,} of {c.person_windows:,}"),
                        (f"most touches in one {r.window}", f"{c.max_touches:,}")):
        t.add_row(name, value)
    return t


def _dimension_table(d: DimensionResult) -> Table:
    from rich.table import Table

    table = Table(title=f"{d.dimension}  (reference: {d.reference}, {d.reference_rule})", title_justify="left")
    for col in ("group", "people", "over cap", "over-cap rate [95% CI]", "within-cap ratio", "adverse ratio", "z",
                "verdict"):
        table.add_column(col, justify="left" if col in ("group", "verdict") else "right")
    for g in d.groups:
        sel = g.selection
        rate = "–" if sel.value is None else f"{sel.value:.3f} [{sel.low:.3f}, {sel.high:.3f}]"
        verdict = _VERDICT.get(g.verdict, g.verdict) + (f" ({g.severity.value})" if g.severity else "")
        table.add_row(g.counts.label, f"{g.counts.n:,}", f"{g.counts.positives:,}", rate,
                      _num(g.disparity_ratio, ".2f"), _num(getattr(g, "adverse_ratio", None), ".2f"),
                      _num(g.z, "+.2f"), verdict)
    return table


def _right(*names: str) -> list[Column]:
    """Number columns, right-aligned as the bias audit's are."""
    from rich.table import Column

    return [Column(n, justify="right") for n in names]


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)
