"""The end of every governance run: the audit log's head leaves the warehouse.

A keyed chain stops anyone without the key from editing a row and recomputing the hashes after it, but not from
cutting rows off the end or emptying the table: only a copy of the head kept elsewhere shows that. The run's report
carries the head (``SEQ:HASH``, for ``steward audit log verify --expect-head``), and so does ``audit_anchor`` in
steward.yaml, an append-only file best kept where the warehouse's writers cannot rewrite it.
"""

from __future__ import annotations

from ..integrations.warehouse import ledger
from ..integrations.warehouse import Warehouse

from .config import StewardConfig
from .progress import report

__all__ = ["anchor_audit_log"]


def anchor_audit_log(wh: Warehouse, cfg: StewardConfig, run_id: str) -> ledger.AuditHead | None:
    """Write the head to the anchor file (when configured) and say it; warn once per run when the log is unkeyed."""
    head = ledger.audit_head(wh)
    if ledger.audit_key() is None:
        report("audit", f"the audit log is not keyed: set {ledger.AUDIT_KEY_ENV} (or {ledger.AUDIT_KEY_BLOCK_ENV}) "
                        "so an edited row cannot be hidden by recomputing the chain")
    if head is None:
        return None
    if cfg.audit_anchor:
        ledger.write_anchor(cfg.audit_anchor, head, run_id)
    report("audit", f"audit log head {head.text} ({head.rows} rows)"
           + (f", anchored in {cfg.audit_anchor}" if cfg.audit_anchor else ""))
    return head
