"""``steward audit log verify``: check that the append-only audit log is intact.

Why ``audit log`` and not a group of its own: the docs, the report and the ``ledger.audit_log`` table all call it "the
audit log", so the command uses the same two words, and ``steward audit --help`` becomes the one place that lists
everything a reviewer checks (a bias audit, a launch's go / no-go, the log of what Steward decided). A bare
``steward log`` would read as Prefect's or dbt's logs. ``log`` is a subgroup, not an audit like ``bias``: it judges
Steward's own record, not a team's data. The old spelling ``steward audit-log verify`` stays as a hidden alias for one
release (registered in flows/cli/__init__.py).

Exit 0 when the chain and its anchors hold, 1 at the first edited, missing or forged row or when the log was cut short
or rewritten since an anchor, 2 on bad input or when the log is keyed and no key is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .._console import err, fail, one_line_errors

if TYPE_CHECKING:  # the ledger (and duckdb) load only when the command runs
    from ....integrations.warehouse.ledger import AuditCheck

__all__ = ["log_app"]

log_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


@log_app.command("verify")
def audit_log_verify(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c"),
                     expect_head: str = typer.Option(None, "--expect-head", metavar="SEQ:HASH",
                                                     help="An anchor you kept (from a run report or Slack): the "
                                                          "log must still hold this row with this hash.")) -> None:
    """Check the audit log's keyed hash chain and its head against the latest anchor; exit 1 at the first edited,
    missing or forged row, or when the log was cut short or rewritten since an anchor."""
    from ....integrations.warehouse import ledger
    from ....integrations.warehouse import Warehouse

    from ...config import load_config

    with one_line_errors():
        cfg = load_config(config)
        anchors = [ledger.parse_head(expect_head)] if expect_head else []
        kept = ledger.latest_anchor(cfg.audit_anchor) if cfg.audit_anchor else None
        anchors += [kept] if kept else []
        key = ledger.audit_key()
        check = ledger.check_audit_log(Warehouse(cfg.warehouse), key, anchors)
        if check.needs_key:
            fail(f"ledger.audit_log row {check.broken_seq} {check.problem}: set "
                 f"{ledger.AUDIT_KEY_ENV} (or {ledger.AUDIT_KEY_BLOCK_ENV}) to verify it")
        if check.broken_seq is not None:
            err.print(f"[bold red]audit log tampered:[/] row {check.broken_seq} {check.problem}")
            raise typer.Exit(1)
        if check.anchor_problem:
            err.print(f"[bold red]audit log tampered:[/] {check.anchor_problem}")
            raise typer.Exit(1)
        err.print(f"[green]audit log intact[/]: {_audit_summary(check, cfg.audit_anchor, key is not None)}")


def _audit_summary(check: AuditCheck, anchor_file: Path | None, have_key: bool) -> str:
    head = f"{check.rows} rows, head {check.head.text}" if check.head else "no rows"
    if check.key_id:
        keyed = f"keyed (key id {check.key_id})" + (f" after {check.legacy_rows} legacy rows" if check.legacy_rows
                                                     else "")
    elif have_key and check.rows:
        keyed = ("no row is keyed yet although a key is set (no run since keying, or a log rewritten without the "
                 "key: only an anchor tells)")
    else:
        keyed = "unkeyed (no STEWARD_AUDIT_KEY: a recomputed chain is caught only by an anchor)"
    anchored = ", ".join(f"matches anchor seq {a.seq}" + (f" of run {a.run_id}" if a.run_id else "")
                         for a in check.anchors) or (f"no anchor in {anchor_file} yet" if anchor_file else
                                                     "no anchor given (truncation cannot be detected)")
    return f"{head}; {keyed}; {anchored}"
