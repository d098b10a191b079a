"""Appends to the audit log made at the same moment each land, in one unbroken chain.

``steward serve`` audits each refused Slack click from a thread of its own, and two clicks can come at once; a run
and ``steward serve`` may both append on a PostgreSQL warehouse, where a connection takes no writer lock. Each row
takes the number after the last row and chains to its hash, so two appends that read the same last row would
collide, and the later one's row was lost (``duplicate key "1"`` at its commit, found when two refusals raced).
"""

from __future__ import annotations

import contextlib
import threading

from both_warehouses import any_warehouse  # noqa: F401
from steward.integrations.warehouse import ledger

APPENDERS = 8


def _append_at_once(wh) -> list[BaseException]:
    """``APPENDERS`` threads append one row each, released together; the errors they met."""
    start, errors = threading.Barrier(APPENDERS), []

    def append(i: int) -> None:
        start.wait()
        try:
            ledger.append_audit(wh, run_id="serve", fingerprint=None, check_id=None, action="request_approval",
                                target=f"hubspot:{i}", decided_by=f"slack:U{i}", reason="refused click",
                                outcome="refused")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(APPENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _targets(wh) -> tuple[list[int], set[str]]:
    rows = wh.query_df("select seq, target from ledger.audit_log order by seq")
    return rows["seq"].tolist(), set(rows["target"])


def test_appends_from_threads_at_once_all_land_in_one_chain(any_warehouse):
    wh = any_warehouse
    ledger.append_audit(wh, run_id="r", fingerprint=None, check_id=None, action="first", target="t",
                        decided_by="x", reason="r", outcome="o")  # the ledger exists before the race
    assert _append_at_once(wh) == []
    seqs, targets = _targets(wh)
    assert seqs == list(range(1, APPENDERS + 2))
    assert targets == {"t", *(f"hubspot:{i}" for i in range(APPENDERS))}
    assert ledger.verify_audit_log(wh) is None


def test_on_postgresql_the_server_orders_appends_from_other_processes(pg_server, monkeypatch):
    """Without this process's own turn-taking, as between two processes: the transaction's advisory lock alone
    keeps the appends apart."""
    from both_warehouses import postgres_warehouse

    wh = postgres_warehouse(pg_server)
    ledger.append_audit(wh, run_id="r", fingerprint=None, check_id=None, action="first", target="t",
                        decided_by="x", reason="r", outcome="o")
    monkeypatch.setattr(ledger, "_APPENDS", contextlib.nullcontext())
    assert _append_at_once(wh) == []
    seqs, _ = _targets(wh)
    assert seqs == list(range(1, APPENDERS + 2))
    assert ledger.verify_audit_log(wh) is None
