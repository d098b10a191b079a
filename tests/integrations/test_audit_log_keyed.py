"""The audit log is keyed (HMAC) and anchored outside the warehouse: each way of hiding a change is caught.

A plain SHA-256 chain verifies after any of these, because whoever can write the warehouse can recompute it; the
tests below play that writer, with everything but the key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steward.flows.cli import app
from steward.flows.config import IntegrationConfig, StewardConfig, write_config
from steward.flows.report import render_report
from steward.integrations.warehouse import ledger
from steward.contracts.errors import ConfigError
from steward.integrations.warehouse import Warehouse

KEY = "k3y-for-tests-5f1c9a0e7d2b4c68"  # distinctive, so a leak anywhere is found by a substring search
OTHER_KEY = "another-key-entirely-0000000000"


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv(ledger.AUDIT_KEY_ENV, KEY)
    monkeypatch.delenv(ledger.AUDIT_KEY_BLOCK_ENV, raising=False)
    return ledger.audit_key()


@pytest.fixture(autouse=True)
def _no_key_by_default(monkeypatch):
    monkeypatch.delenv(ledger.AUDIT_KEY_ENV, raising=False)
    monkeypatch.delenv(ledger.AUDIT_KEY_BLOCK_ENV, raising=False)


def _audit(wh: Warehouse, n: int, run_id: str = "r1") -> None:
    for i in range(n):
        ledger.append_audit(wh, run_id=run_id, fingerprint=f"f{i}", check_id="c.x", action="pause",
                            target=f"hubspot:{i}", decided_by="policy:c.x", reason="because", outcome="paused")


def _recompute_chain(wh: Warehouse, as_legacy: bool = True) -> None:
    """What a writer without the key can do after an edit: recompute every hash with plain SHA-256, marking the
    rows unkeyed (legacy) or leaving their key ids as they were."""
    with wh.connect() as con:
        rows = con.execute(f"select {', '.join(ledger.AUDIT_FIELDS)} from ledger.audit_log order by seq").fetchall()
        prev = ""
        for values in rows:
            row = dict(zip(ledger.AUDIT_FIELDS, values))
            row["logged_at"] = row["logged_at"].isoformat()
            digest = ledger._digest(prev, row)
            con.execute("update ledger.audit_log set prev_hash = ?, hash = ? where seq = ?", [prev, digest, row["seq"]])
            if as_legacy:
                con.execute("update ledger.audit_log set key_id = null where seq = ?", [row["seq"]])
            prev = digest


def _forge_row(wh: Warehouse, key_id: str | None) -> None:
    """Append a row the way an attacker can: any hash they can compute (plain SHA-256 here), any key id."""
    with wh.connect() as con:
        seq, prev = con.execute("select seq, hash from ledger.audit_log order by seq desc limit 1").fetchone()
        con.execute("insert into ledger.audit_log (seq, logged_at, run_id, action, target, decided_by, reason, "
                    "outcome, prev_hash, hash, key_id) values (?, now(), 'r9', 'resume', 'hubspot:1', "
                    "'person:mallory', 'forged', 'resumed', ?, ?, ?)",
                    [seq + 1, prev, hashlib.sha256(f"{prev}forged".encode()).hexdigest(), key_id])


def test_keyed_rows_verify_with_the_key_and_name_its_id_not_the_key(tmp_path, keyed):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 3)
    check = ledger.check_audit_log(wh, keyed)
    assert check.intact and check.key_id == keyed.key_id and check.legacy_rows == 0 and check.rows == 3
    assert ledger.verify_audit_log(wh) is None
    assert KEY not in repr(keyed) and KEY not in repr(check)
    with wh.connect() as con:
        assert KEY not in json.dumps(con.execute("select * from ledger.audit_log").fetchall(), default=str)


def test_an_edit_with_the_chain_recomputed_is_caught_by_the_key(tmp_path, keyed):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 3)
    with wh.connect() as con:
        con.execute("update ledger.audit_log set outcome = 'not paused' where seq = 2")
    _recompute_chain(wh, as_legacy=False)
    check = ledger.check_audit_log(wh, keyed)
    assert check.broken_seq == 1 and "keyed hash" in check.problem  # no row keeps a valid HMAC


def test_an_edit_recomputed_as_a_pre_keying_log_is_caught_by_the_anchor(tmp_path, keyed):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 3)
    anchor = ledger.audit_head(wh)
    with wh.connect() as con:
        con.execute("update ledger.audit_log set outcome = 'not paused' where seq = 2")
    _recompute_chain(wh, as_legacy=True)
    assert ledger.verify_audit_log(wh, key=None) is None  # the old, unkeyed check calls this intact
    check = ledger.check_audit_log(wh, keyed, [anchor])
    assert check.broken_seq is None and check.legacy_rows == 3  # a whole log rewritten as if from before keying...
    assert check.anchor_problem.startswith("rewritten: row 3")  # ...is what the anchor outside the warehouse catches


def test_an_edit_with_the_chain_recomputed_is_caught_by_the_anchor_without_a_key(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 3)
    anchor = ledger.audit_head(wh)
    with wh.connect() as con:
        con.execute("update ledger.audit_log set outcome = 'not paused' where seq = 2")
    _recompute_chain(wh)
    check = ledger.check_audit_log(wh, None, [anchor])
    assert check.broken_seq is None and check.anchor_problem.startswith("rewritten: row 3")


@pytest.mark.parametrize("drop, rows_left", [("seq > 3", 3), ("true", 0)])
def test_cutting_the_tail_or_emptying_the_log_is_caught_by_the_anchor(tmp_path, keyed, drop, rows_left):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 5)
    anchor = ledger.audit_head(wh)
    assert (anchor.seq, anchor.rows, anchor.key_id) == (5, 5, keyed.key_id)
    with wh.connect() as con:
        con.execute(f"delete from ledger.audit_log where {drop}")
    assert ledger.verify_audit_log(wh) is None  # what is left is a valid chain on its own
    check = ledger.check_audit_log(wh, keyed, [anchor])
    assert check.rows == rows_left and check.anchor_problem.startswith("truncated: the anchor (seq 5) is missing")


@pytest.mark.parametrize("claims_key, caught_by", [(True, "keyed hash"), (False, "unkeyed after keyed rows")])
def test_a_forged_appended_row_is_caught_by_the_key(tmp_path, keyed, claims_key, caught_by):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 3)
    _forge_row(wh, keyed.key_id if claims_key else None)
    check = ledger.check_audit_log(wh, keyed)
    assert check.broken_seq == 4 and caught_by in check.problem


def test_an_unkeyed_row_after_keyed_rows_is_a_forgery(tmp_path, keyed, monkeypatch):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 2)
    monkeypatch.delenv(ledger.AUDIT_KEY_ENV)
    _audit(wh, 1)  # what a writer without the key appends
    check = ledger.check_audit_log(wh, keyed)
    assert check.broken_seq == 3 and "unkeyed after keyed rows" in check.problem


def test_rows_from_before_keying_still_verify_and_are_protected_by_the_first_keyed_row(tmp_path, monkeypatch):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 2)  # legacy: written before a key was set up
    monkeypatch.setenv(ledger.AUDIT_KEY_ENV, KEY)
    _audit(wh, 2, run_id="r2")
    key = ledger.audit_key()
    check = ledger.check_audit_log(wh, key)
    assert check.intact and check.legacy_rows == 2 and check.key_id == key.key_id
    with wh.connect() as con:  # rewrite a legacy row and its legacy chain: the first keyed row no longer follows
        con.execute("update ledger.audit_log set outcome = 'not paused' where seq = 1")
        row = dict(zip(ledger.AUDIT_FIELDS, con.execute(
            f"select {', '.join(ledger.AUDIT_FIELDS)} from ledger.audit_log where seq = 1").fetchone()))
        row["logged_at"] = row["logged_at"].isoformat()
        first = ledger._digest("", row)
        con.execute("update ledger.audit_log set hash = ? where seq = 1", [first])
        second = dict(zip(ledger.AUDIT_FIELDS, con.execute(
            f"select {', '.join(ledger.AUDIT_FIELDS)} from ledger.audit_log where seq = 2").fetchone()))
        second["logged_at"] = second["logged_at"].isoformat()
        con.execute("update ledger.audit_log set prev_hash = ?, hash = ? where seq = 2",
                    [first, ledger._digest(first, second)])
    assert ledger.check_audit_log(wh, key).broken_seq == 3


def test_keyed_rows_with_another_key_or_no_key_are_not_called_intact(tmp_path, keyed):
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 2)
    other = ledger.AuditKey.from_text(OTHER_KEY, "test")
    assert "another key" in ledger.check_audit_log(wh, other).problem
    check = ledger.check_audit_log(wh, None)
    assert check.needs_key and check.broken_seq == 1


def test_a_short_key_is_refused_without_echoing_it(monkeypatch):
    monkeypatch.setenv(ledger.AUDIT_KEY_ENV, "tooshort-9")
    with pytest.raises(ConfigError) as exc:
        ledger.audit_key()
    assert "tooshort-9" not in str(exc.value) and ledger.AUDIT_KEY_ENV in str(exc.value)


def test_the_key_can_come_from_a_prefect_secret_block(prefect_harness, monkeypatch, tmp_path):
    from prefect.blocks.system import Secret

    Secret(value=KEY).save("steward-audit-key", overwrite=True)
    monkeypatch.setenv(ledger.AUDIT_KEY_BLOCK_ENV, "steward-audit-key")
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 2)
    assert ledger.check_audit_log(wh, ledger.AuditKey.from_text(KEY, "test")).intact
    monkeypatch.setenv(ledger.AUDIT_KEY_BLOCK_ENV, "no-such-block")
    with pytest.raises(ConfigError, match="no Prefect Secret block named 'no-such-block'"):
        ledger.audit_key()


# --- the CLI and the anchors outside the warehouse ----------------------------------------------------------------

def _config(tmp_path: Path, anchor: bool = True) -> Path:
    cfg = StewardConfig(warehouse=tmp_path / "w.duckdb", integrations=[
        IntegrationConfig(name="hubspot", platform="hubspot", path=tmp_path)],
        audit_anchor=(tmp_path / "anchors" / "audit.jsonl") if anchor else None)
    return write_config(cfg, tmp_path / "steward.yaml")


def _verify(config: Path, *args: str):
    return CliRunner().invoke(app, ["audit-log", "verify", "-c", str(config), *args])


def test_verify_checks_the_key_and_the_latest_anchor_file(tmp_path, keyed):
    config = _config(tmp_path)
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 4)
    ledger.write_anchor(tmp_path / "anchors" / "audit.jsonl", ledger.audit_head(wh), "r1")
    ok = _verify(config)
    assert ok.exit_code == 0 and "audit log intact" in ok.output and f"key id {keyed.key_id}" in ok.output
    assert "matches anchor seq 4 of run r1" in ok.output and KEY not in ok.output
    with wh.connect() as con:
        con.execute("delete from ledger.audit_log where seq = 4")
    cut = _verify(config)
    assert cut.exit_code == 1 and "truncated" in cut.output and "seq 4" in cut.output
    anchors = (tmp_path / "anchors" / "audit.jsonl").read_text()
    assert KEY not in anchors and json.loads(anchors)["seq"] == 4


def test_verify_against_a_head_given_on_the_command_line(tmp_path):
    config = _config(tmp_path, anchor=False)
    wh = Warehouse(tmp_path / "w.duckdb")
    _audit(wh, 3)
    head = ledger.audit_head(wh)
    plain = _verify(config)
    assert plain.exit_code == 0 and "unkeyed" in plain.output and "truncation cannot be detected" in plain.output
    with wh.connect() as con:
        con.execute("delete from ledger.audit_log")
    assert _verify(config).exit_code == 0  # an empty log is a valid chain: only an anchor tells
    gone = _verify(config, "--expect-head", head.text)
    assert gone.exit_code == 1 and "truncated" in gone.output
    bad = _verify(config, "--expect-head", "3:nothex")
    assert bad.exit_code == 2 and "--expect-head: expected SEQ:HASH" in bad.output


def test_verify_without_the_key_refuses_to_call_a_keyed_log_intact(tmp_path, keyed, monkeypatch):
    config = _config(tmp_path, anchor=False)
    _audit(Warehouse(tmp_path / "w.duckdb"), 2)
    monkeypatch.delenv(ledger.AUDIT_KEY_ENV)
    result = _verify(config)
    assert result.exit_code == 2 and "set STEWARD_AUDIT_KEY" in result.output and "intact" not in result.output


def test_the_report_carries_the_head_and_never_the_key(tmp_path, keyed):
    wh = Warehouse(tmp_path / "w.duckdb")
    ledger.start_run(wh, "r1", "on_demand", None)
    _audit(wh, 2)
    _audit(wh, 1, run_id="r2")  # a later run's row is not this run's head
    ledger.finish_run(wh, "r1", "completed", {})
    html = render_report(wh, "r1", tmp_path / "report.html").read_text()
    head = ledger.check_audit_log(wh, keyed)
    with wh.connect() as con:
        second = con.execute("select hash from ledger.audit_log where seq = 2").fetchone()[0]
    assert f"2:{second}" in html and "(2 rows, keyed, key id" in html and head.head.seq == 3
    assert KEY not in html


def test_a_bad_key_stops_a_run_before_anything_happens(prefect_harness, tmp_path, monkeypatch):
    from steward.flows.governance import RunParams, governance_run

    monkeypatch.setenv(ledger.AUDIT_KEY_ENV, "short-key-9")
    with pytest.raises(ConfigError) as exc:
        governance_run(RunParams(config=str(_config(tmp_path))))
    assert "short-key-9" not in str(exc.value)
    assert Warehouse(tmp_path / "w.duckdb").query_df("select count(*) as n from ledger.runs")["n"].iloc[0] == 0
