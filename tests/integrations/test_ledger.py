"""Findings keep their first-seen time across runs; the audit log's hash chain catches any edit."""

from __future__ import annotations

from steward.contracts.finding import Finding
from steward.integrations.warehouse import ledger
from steward.integrations.warehouse import Warehouse


def _finding(run_id: str, observed: float) -> Finding:
    return Finding(run_id=run_id, check_id="reconciliation.ad_spend_vs_crm_cost", family="reconciliation",
                   severity="critical", subject_type="campaign", subject="701X", metric="spend_diff_pct",
                   observed=observed, threshold=0.2, explanation="x")


def test_first_seen_carries_over_and_fingerprint_ignores_the_value(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    [a] = ledger.record_findings(wh, [_finding("r1", 0.3)])
    [b] = ledger.record_findings(wh, [_finding("r2", 0.5)])
    assert a.fingerprint == b.fingerprint
    assert b.first_seen_at == a.first_seen_at and b.last_seen_at > a.last_seen_at


def _audit(wh, n):
    for i in range(n):
        ledger.append_audit(wh, run_id="r1", fingerprint=f"f{i}", check_id="c.x", action="pause", target=f"hs:{i}",
                            decided_by="policy:c.x", reason="because", outcome="paused")


def test_intact_audit_log_verifies(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 3)
    assert ledger.verify_audit_log(wh) is None


def test_edited_audit_row_is_caught(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 3)
    with wh.connect() as con:
        con.execute("update ledger.audit_log set outcome = 'not paused' where seq = 2")
    assert ledger.verify_audit_log(wh) == 2


def test_deleted_audit_row_is_caught(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 3)
    with wh.connect() as con:
        con.execute("delete from ledger.audit_log where seq = 2")
    assert ledger.verify_audit_log(wh) == 3
