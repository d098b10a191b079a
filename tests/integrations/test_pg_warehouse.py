"""PostgreSQL as Steward's warehouse (issue #13, items 1, 2, 4): the config takes a URL, the warehouse layer runs
unchanged on a real server, and the demo's exports land there exactly as they land in a DuckDB file, atomically
per batch and never twice."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from both_warehouses import any_warehouse, both  # noqa: F401
from steward.contracts.errors import ConfigError
from steward.contracts.finding import Finding, Severity
from steward.flows.config import load_config
from steward.flows.pull import pull_integration
from steward.integrations.demo.generator import generate_workspace
from steward.integrations.demo.injections import Injections
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse, landing, ledger
from steward.integrations.warehouse.dialect import to_postgres
from steward.integrations.warehouse.target import PostgresTarget

AS_OF = pd.Timestamp("2026-11-20 12:00", tz="UTC")
T0 = datetime(2024, 6, 1, 9, 0, tzinfo=timezone.utc)


def _config(tmp_path, warehouse: str, extra: str = "") -> str:
    path = tmp_path / "steward.yaml"
    path.write_text(f"warehouse: {warehouse}\n{extra}integrations:\n"
                    "  - {name: crm, platform: salesforce, kind: export_files, path: exports}\n")
    return path


# --- 1. config -------------------------------------------------------------------------------------------------


def test_the_warehouse_setting_takes_a_path_or_a_postgres_url(tmp_path, monkeypatch):
    assert load_config(_config(tmp_path, "data/w.duckdb")).warehouse == (tmp_path / "data/w.duckdb").resolve()
    cfg = load_config(_config(tmp_path, "postgresql://steward@db.internal:6543/marketing",
                              "warehouse_password_env: STEWARD_PG_PASSWORD\n"))
    assert cfg.warehouse == PostgresTarget("db.internal", 6543, "steward", "marketing", "STEWARD_PG_PASSWORD")
    monkeypatch.setenv("STEWARD_PG_PASSWORD", "s3cret-value")
    assert cfg.warehouse.connect_kwargs()["password"] == "s3cret-value"
    assert "s3cret" not in str(cfg.warehouse) and "s3cret" not in repr(cfg)


@pytest.mark.parametrize("url, extra, says", [
    ("postgresql://steward:hunter2@db:5432/m", "", "warehouse: the URL must not hold a password"),
    ("postgresql://db:5432/m", "", "warehouse: a PostgreSQL URL needs a user, a host and a database"),
    ("postgresql://steward@db:99999/m", "", "warehouse: "),
    ("postgresql://steward@db/m", "warehouse_password_env: 'not a name'\n", "warehouse_password_env: 'not a name'"),
])
def test_a_bad_warehouse_url_is_one_line_naming_the_field(tmp_path, url, extra, says):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, url, extra))
    message = str(err.value)
    assert "\n" not in message and says in message and "hunter2" not in message
    assert message.startswith(str(tmp_path / "steward.yaml"))


def test_a_bad_warehouse_url_exits_2_from_the_cli(tmp_path):
    from typer.testing import CliRunner

    from steward.flows.cli import app

    config = _config(tmp_path, "postgresql://steward:hunter2@db:5432/m")
    result = CliRunner().invoke(app, ["report", "--config", str(config)])
    assert result.exit_code == 2
    assert "warehouse: the URL must not hold a password" in result.output and "hunter2" not in result.output


# --- 2. one warehouse layer ------------------------------------------------------------------------------------


def test_statements_are_transpiled_once_with_the_overrides_sqlglot_lacks():
    upsert = to_postgres("insert or replace into ledger.watermarks values (?, ?, ?, ?, ?)")
    assert upsert.sql.endswith("ON CONFLICT (integration, entity) DO UPDATE SET cursor_value = "
                               "excluded.cursor_value, batch_id = excluded.batch_id, advanced_at = excluded.advanced_at")
    named = to_postgres("select seq from ledger.audit_log where run_id = $run and reason like 'a%'")
    assert named.sql == "SELECT seq FROM ledger.audit_log WHERE run_id = %s AND reason LIKE 'a%%'"
    assert named.slots == ("run",)
    assert "JSONB" in to_postgres("create table if not exists ledger.x (a json)").sql
    assert to_postgres("select 1") is to_postgres("select 1")  # cached per statement


def _finding(run_id: str, observed: float) -> Finding:
    return Finding(run_id=run_id, check_id="bias.selection_rate", family="bias", severity=Severity.warn,
                   subject_type="segment", subject="lead_score:55+", metric="ratio", observed=observed,
                   threshold=0.8, evidence={"people": 120}, explanation="Older leads are scored lower.")


def test_the_ledger_writes_and_reads_the_same_on_both(any_warehouse):
    wh = any_warehouse
    ledger.start_run(wh, "run-1", "governance", "/x/steward.yaml")
    first = ledger.record_findings(wh, [_finding("run-1", 0.61)])
    ledger.finish_run(wh, "run-1", "completed", {"findings": 1})
    ledger.start_run(wh, "run-2", "governance", None)
    again = ledger.record_findings(wh, [_finding("run-2", 0.59)])
    assert again[0].first_seen_at == first[0].first_seen_at  # carried over across runs
    ledger.record_findings(wh, [_finding("run-2", 0.58)])  # the same run again replaces, not duplicates
    rows = wh.query_df("select run_id, observed, evidence from ledger.findings order by run_id")
    assert rows["run_id"].tolist() == ["run-1", "run-2"] and rows["observed"].tolist() == [0.61, 0.58]
    assert json.loads(rows["evidence"][0]) == {"people": 120}
    assert ledger.mark_abandoned(wh) == []  # run-2 is this live process's

    for n in range(3):
        ledger.append_audit(wh, run_id="run-2", fingerprint="fp-a", check_id="bias.selection_rate", action="alert",
                            target="#marketing-ops", decided_by="policy", reason=f"r{n}", outcome="sent")
    assert ledger.verify_audit_log(wh, key=None) is None
    assert ledger.audit_head(wh, "run-2").seq == 3

    intent = ledger.begin_control(wh, ledger.ControlIntent("crm", "701", "pause", "run-2", "policy", "bias"))
    assert [i.campaign_id for i in ledger.open_intents(wh)] == ["701"]
    ledger.end_control(wh, intent, "paused")
    ledger.record_control(wh, "crm", "702", "paused", "spend spike")
    assert ledger.confirmed_state(wh, "crm", "701") == "paused"
    assert ledger.campaign_controls(wh)["campaign_id"].tolist() == ["701", "702"]
    resuming = ledger.begin_control(wh, ledger.ControlIntent("crm", "702", "resume", "run-2", "policy", "fixed"))
    # many at once, an open intent looked through to the row it replaced, an unknown campaign None
    assert ledger.confirmed_states(wh, "crm", ["701", "702", "703"]) == {"701": "paused", "702": "paused", "703": None}
    ledger.end_control(wh, resuming, "active")
    assert ledger.confirmed_states(wh, "crm", ["702"]) == {"702": "active"}
    assert ledger.confirmed_states(wh, "crm", []) == {}

    skipped = [{"check_id": "bias.x", "integrations": ["crm"], "states": {"crm": "down"}, "reason": "down"}]
    ledger.record_skipped(wh, "run-2", skipped, T0)
    ledger.record_skipped(wh, "run-2", skipped, T0)  # recorded again: replaced
    assert ledger.not_evaluated(wh, "run-2") == [{"check_id": "bias.x", "integrations": "crm",
                                                  "states": "crm: down", "reason": "down"}]


# --- 3, 4, 5. landing: the demo's exports, atomic batches, reruns ------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_workspace(tmp_path_factory.mktemp("demo"), scale=0.05, as_of=AS_OF, injections=Injections())


def _pull_all(wh: Warehouse, ws, run_id: str, extra=None) -> None:
    for folder in sorted(p for p in ws.exports.iterdir() if p.is_dir()):
        pull_integration(ExportFilesAdapter(folder.name, folder.name, folder, wh), wh, run_id)
    if extra is not None:  # a second Salesforce org whose export has bad rows: the quarantine compares too
        pull_integration(ExportFilesAdapter("crm_eu", "salesforce", extra, wh, entities=["accounts"]), wh, run_id)


def _state(wh: Warehouse) -> dict:
    """Everything landing writes, as comparable values: row counts per raw table, the batches' counts, the
    quarantine, the watermarks and the tombstones."""
    tables = wh.query_df("select table_name from information_schema.tables where table_schema = 'raw' "
                         "order by table_name")["table_name"].tolist()
    with wh.connect() as con:
        raw = {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in tables}
        batches = con.execute("select integration, entity, source, rows_read, rows_loaded, rows_quarantined "
                              "from ledger.batches order by 1, 2, 3").fetchall()
        quarantine = con.execute("select integration, entity, source_row, reasons from ledger.quarantine "
                                 "order by 1, 2, 3").fetchall()
        marks = con.execute("select integration, entity, cursor_value from ledger.watermarks order by 1, 2").fetchall()
        files = con.execute("select integration, entity, source from ledger.landed_files order by 1, 2, 3").fetchall()
    return {"raw": raw, "batches": batches, "quarantine": quarantine, "watermarks": marks, "files": files}


def test_the_demo_lands_the_same_in_postgres_as_in_duckdb_and_a_rerun_lands_nothing(tmp_path, pg_server, demo):
    duck, pg = both(tmp_path, pg_server)
    extra = tmp_path / "eu"
    _accounts_batch(extra, [_acc(1), _acc(2, revenue="lots"), _acc(3), _acc(3)])
    _pull_all(duck, demo, "run-1", extra)
    _pull_all(pg, demo, "run-1", extra)
    want, got = _state(duck), _state(pg)
    assert sum(want["raw"].values()) > 1000 and want["quarantine"]  # the demo's injected problems are there
    assert got == want
    _pull_all(pg, demo, "run-2", extra)  # the same exports again: every batch is recognised, nothing lands twice
    assert _state(pg) == want


def _accounts_batch(folder, rows: list[str]):
    folder.mkdir(exist_ok=True)
    (folder / "accounts.csv").write_text("Id,Name,Industry,AnnualRevenue,CreatedDate\n" + "\n".join(rows) + "\n")
    return next(ExportFilesAdapter("crm", "salesforce", folder, entities=["accounts"]).pull("accounts"))


def _acc(i: int, revenue: str = "1000") -> str:
    return f"001{i:015d},Acme {i},Retail,{revenue},2024-01-0{1 + i % 9}T00:00:00Z"


def test_a_crash_mid_batch_leaves_nothing_of_it_on_postgres(tmp_path, pg_server, monkeypatch):
    """The batch's rows, quarantine and record are one transaction: an error after the rows went in (here, while
    the batch record is written) rolls every part back, and earlier batches stay."""
    from steward.integrations.warehouse import landing_pg
    from steward.integrations.warehouse.validation import check_batch

    wh = Warehouse(pg_server.fresh_database("crash"))
    good = _accounts_batch(tmp_path / "a", [_acc(1), _acc(2)])
    v = check_batch(good)
    landing.land_batch(wh, good, v.valid, v.quarantined, v.drift, v.contract.version, "r1")
    before = _state(wh)
    bad = _accounts_batch(tmp_path / "b", [_acc(3), _acc(4), _acc(5, revenue="lots")])
    v = check_batch(bad)
    assert len(v.quarantined) == 1

    def crash(*args, **kwargs):
        raise RuntimeError("the machine went away mid-batch")

    monkeypatch.setattr(landing_pg, "_records", crash)
    with pytest.raises(RuntimeError, match="went away"):
        landing.land_batch(wh, bad, v.valid, v.quarantined, v.drift, v.contract.version, "r2")
    assert _state(wh) == before
    monkeypatch.undo()
    result = landing.land_batch(wh, bad, v.valid, v.quarantined, v.drift, v.contract.version, "r2")
    assert (result.rows_loaded, result.rows_quarantined, result.skipped) == (2, 1, False)
    assert _state(wh)["raw"]["salesforce__accounts"] == 4


def test_the_pii_scan_finds_the_same_columns_on_both(tmp_path, pg_server):
    """Plain columns and the keys of ``_unmapped`` (jsonb_each_text on a server, a map on DuckDB), counts only."""
    from test_pii_scan_columns import ROWS, _contacts, _land, _values

    from steward.integrations.warehouse import pii_scan

    frame = pd.concat([_contacts(ROWS), pd.DataFrame({"Backup_Email": _values("email", ROWS),
                                                      "Notes": _values("text", ROWS),
                                                      "Cell": _values("phone", ROWS)})], axis=1)
    found = []
    for n, wh in enumerate(both(tmp_path, pg_server)):
        _land(wh, tmp_path / f"in{n}", frame)
        found.append(sorted((c.table_name, c.column_name, c.name_kind, c.content_kind, c.values_sampled,
                             c.values_matching) for c in pii_scan.scan_pii(wh, ["raw"], sample_rows=ROWS - 5)))
    assert found[0] == found[1]
    assert ("salesforce__contacts", "_unmapped.Backup_Email", "email", "email", ROWS - 5, ROWS - 5) in found[1]
    assert ("salesforce__contacts", "_unmapped.Cell", None, "phone", ROWS - 5, ROWS - 5) in found[1]


def test_a_duckdb_warehouse_moves_to_postgres_whole(tmp_path, pg_server, demo):
    """raw and ledger copied with COPY: the same landing state, an intact audit chain, sequences that continue, and
    the next pull of the same exports lands nothing twice. A target already holding a ledger is refused."""
    from steward.integrations.warehouse import outbox
    from steward.integrations.warehouse.move import move_to_postgres

    duck = Warehouse(tmp_path / "old.duckdb")
    _pull_all(duck, demo, "run-1")
    ledger.start_run(duck, "run-1", "governance", None)
    ledger.append_audit(duck, run_id="run-1", fingerprint=None, check_id=None, action="pause", target="crm:701",
                        decided_by="policy", reason="bias", outcome="paused")
    outbox.enqueue(duck, "run-1", outbox.OutboxMessage("post", "#ops", {"text": "hello"}))
    url = pg_server.fresh_database("moved")
    target = PostgresTarget.from_url(url)
    moved = move_to_postgres(duck.path, target)
    assert {m.table: m.rows for m in moved if m.schema == "ledger"}["audit_log"] == 1
    pg = Warehouse(target)
    assert _state(pg) == _state(duck)
    assert ledger.verify_audit_log(pg, key=None) is None
    outbox.enqueue(pg, "run-2", outbox.OutboxMessage("post", "#ops", {"text": "again"}))
    assert [a.run_id for a in outbox.alerts(pg)] == ["run-1", "run-2"]  # the sequence continued past the copy
    _pull_all(pg, demo, "run-2")
    assert _state(pg) == _state(duck)
    with pytest.raises(Exception, match="already holds rows"):
        move_to_postgres(duck.path, target)


def test_steward_warehouse_move_moves_into_the_configured_server(tmp_path, pg_server):
    from typer.testing import CliRunner

    from steward.flows.cli import app
    from steward.integrations.warehouse.validation import check_batch

    old = Warehouse(tmp_path / "old.duckdb")
    batch = _accounts_batch(tmp_path / "a", [_acc(1), _acc(2), _acc(3, revenue="lots")])
    v = check_batch(batch)
    landing.land_batch(old, batch, v.valid, v.quarantined, v.drift, v.contract.version, "r1")
    url = pg_server.fresh_database("cli")
    result = CliRunner().invoke(app, ["warehouse", "move", str(old.path), "-c", str(_config(tmp_path, url))])
    assert result.exit_code == 0, result.output
    assert "moved" in result.output and "3 rows" not in result.output
    assert _state(Warehouse(url)) == _state(old)
    result = CliRunner().invoke(app, ["warehouse", "move", str(old.path), "-c",
                                      str(_config(tmp_path, "w.duckdb"))])
    assert result.exit_code == 2 and "warehouse: set it to the PostgreSQL URL" in result.output
