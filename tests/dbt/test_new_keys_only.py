"""Issue #12, the daily run: a day of export files that brings only new records (the email events' usual day: 100k
new events at 10M) skips the staging model's look for the built rows it replaces. Landing records on
``ledger.batches.keys_new`` whether every key a file landed was new to its raw table; the strategy
(macros/per_key.sql, ``_read_only_new_keys``) trusts it only when every batch the build reads says so. The build must
still hold what a full refresh holds, and a changed record, another integration's rows or a record landed again
after its deletion must still replace what was built."""

from __future__ import annotations

import json

import pandas as pd

from steward.contracts.policy import load_policy
from steward.flows.pull import pull_entity
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.landing import ensure_raw_tables

MODEL = "stg_hubspot__email_events"
AS_OF = pd.Timestamp("2026-11-20 12:00", tz="UTC")


def _events(folder, ids, kind: str = "SENT"):
    """The day's email events file in ``folder``: one event per id (HubSpot's JSON lines export)."""
    folder.mkdir(exist_ok=True)
    (folder / "email_events.jsonl").write_text("".join(
        json.dumps({"id": f"e{i}", "type": kind, "recipient": f"p{i}@example.com", "emailCampaignId": 1,
                    "created": 1762765200000 + i, "portalId": 42}) + "\n" for i in ids))
    return folder


def _pull(wh, folder, integration: str = "hubspot"):
    adapter = ExportFilesAdapter(integration, "hubspot", folder, wh, entities=["email_events"])
    [pulled] = pull_entity(adapter, adapter.streams()[0], wh, "r", keep_max=100)
    assert pulled.result.rows_changed is not None  # staged: the path that knows whether its keys were new
    return pulled.result


def _keys_new(wh, batch_id: str) -> bool | None:
    with wh.connect() as con:
        return con.execute("select keys_new from ledger.batches where batch_id = ?", [batch_id]).fetchone()[0]


def _build(wh, work, full_refresh: bool = False) -> str:
    """Build the model; the statement its materialization ran (dbt writes it under target/run)."""
    dbt_vars = {**load_policy().dbt_vars(), "as_of": AS_OF.isoformat()}
    outcome = dbt_build.build(wh.path, work, dbt_vars, select=[MODEL], full_refresh=full_refresh)
    assert not outcome.test_failures, [(f.test, f.message) for f in outcome.test_failures]
    return next((work / "target" / "run").rglob(f"{MODEL}.sql")).read_text()


def _built(wh) -> list[tuple[str, str]]:
    return [tuple(r) for r in wh.query_df(f"select email_event_id, event_type from staging.{MODEL} "
                                          "order by 1, 2").itertuples(index=False)]


def _logged(wh) -> set[str]:
    """The people the newest build logged (its change log's keys)."""
    return set(wh.query_df(f"select email_key from staging.{MODEL}__changes where email_key is not null and seq = "
                           f"(select max(seq) from staging.{MODEL}__changes)")["email_key"])


def test_landing_says_whether_every_key_was_new(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    first = _pull(wh, _events(tmp_path / "a", range(5)))
    assert _keys_new(wh, first.batch_id) is True  # nothing stored yet
    new = _pull(wh, _events(tmp_path / "a", range(5, 8)))
    assert _keys_new(wh, new.batch_id) is True
    changed = _pull(wh, _events(tmp_path / "a", [2, 9], kind="OPEN"))
    assert _keys_new(wh, changed.batch_id) is False  # e2 was stored
    other = _pull(wh, _events(tmp_path / "b", [20]), integration="hubspot-eu")
    assert _keys_new(wh, other.batch_id) is False  # another integration's rows share the table
    # a record the platform deleted (raw row gone, tombstone kept) and then exported again
    with wh.connect() as con:
        con.execute("delete from raw.hubspot__email_events where id = 'e30'")
        con.execute("insert into ledger.tombstones (integration, entity, record_id, batch_id, seen_at) "
                    "values ('hubspot-eu', 'email_events', 'e21', 'b-x', now())")
    lifted = _pull(wh, _events(tmp_path / "b", [21]), integration="hubspot-eu")
    assert _keys_new(wh, lifted.batch_id) is False
    assert wh.query_df("select count(*) as n from ledger.tombstones")["n"].iat[0] == 0  # lifted by the landing


def test_a_day_of_new_keys_skips_the_probe_and_equals_a_full_refresh(tmp_path):
    wh, work, files = Warehouse(tmp_path / "w.duckdb"), tmp_path / "dbt", tmp_path / "in"
    ensure_raw_tables(wh)
    _events(files, range(6))
    _pull(wh, files)
    _build(wh, work)
    _events(files, range(6, 9))
    _pull(wh, files)
    statement = _build(wh, work)
    assert "__replaced" not in statement  # no look for replaced rows: every key was new
    assert _logged(wh) == {f"p{i}@example.com" for i in range(6, 9)}  # the day's recipients, for per-key models
    daily = _built(wh)
    assert daily == [(f"e{i}", "SENT") for i in sorted(range(9), key=lambda i: f"e{i}")]
    # a changed record: the probe runs and its row is replaced, not duplicated
    _events(files, [4], kind="STATUSCHANGE")
    _pull(wh, files)
    statement = _build(wh, work)
    assert "__replaced" in statement
    assert [row for row in _built(wh) if row[0] == "e4"] == [("e4", "STATUSCHANGE")]
    assert _logged(wh) == {"p4@example.com"}
    incremental = _built(wh)
    _build(wh, work, full_refresh=True)
    assert _built(wh) == incremental


def test_the_strategy_trusts_the_ledger_only_for_every_batch_it_reads(tmp_path):
    """Two files landed before one build, one of new keys, one with a changed record: the build reads both, and
    the second's keys_new false makes it look for replaced rows."""
    wh, work, files = Warehouse(tmp_path / "w.duckdb"), tmp_path / "dbt", tmp_path / "in"
    ensure_raw_tables(wh)
    _events(files, range(4))
    _pull(wh, files)
    _build(wh, work)
    _events(files, [10, 11])
    _pull(wh, files)
    _events(files, [1], kind="OPEN")
    _pull(wh, files)
    statement = _build(wh, work)
    assert "__replaced" in statement
    assert _built(wh) == [("e0", "SENT"), ("e1", "OPEN"), ("e10", "SENT"), ("e11", "SENT"), ("e2", "SENT"),
                          ("e3", "SENT")]
