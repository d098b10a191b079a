"""The rebuild state on PostgreSQL: the sources' fingerprints see a landed batch and a ledger change, and the stored
state of a build round-trips (integrations/transform/changes.py, ledger.build_state)."""

from __future__ import annotations

from datetime import datetime, timezone

from steward.contracts.rebuild import BuildState, TestResult
from steward.integrations.transform import changes
from steward.integrations.warehouse import Warehouse, ledger
from steward.integrations.warehouse.landing import ensure_raw_tables


def test_fingerprints_and_the_stored_state_work_on_postgres(pg_server):
    wh = Warehouse(pg_server.fresh_database("changed"))
    ensure_raw_tables(wh)
    sources = changes.source_relations()
    before = changes.fingerprints(wh, sources)
    assert before["launch_input.audience"] == "absent"
    assert before["steward.batches"] == "rows 0; hash 0"
    with wh.connect() as con:
        con.execute('insert into raw."cdp__profiles" (profile_id, _batch_id, _integration) values (?, ?, ?)',
                    ["p-1", "b-1", "cdp"])
        con.execute("insert into ledger.batches (batch_id, integration, platform, entity, rows_loaded, loaded_at) "
                    "values (?, ?, ?, ?, ?, ?)", ["b-1", "cdp", "cdp", "profiles", 1, datetime.now(timezone.utc)])
    after = changes.fingerprints(wh, sources)
    assert {s for s in before if before[s] != after[s]} == {"cdp.profiles", "steward.batches"}
    assert after == changes.fingerprints(wh, sources)  # the same data, the same fingerprints
    state = BuildState("run-1", "key", after, ("stg_x",),
                       (TestResult("test.steward.t.1", "pass"),
                        TestResult("test.steward.u.2", "fail", "u", "m", 3, "warn", "Got 3 results")))
    ledger.save_build_state(wh, state)
    ledger.save_build_state(wh, state)  # replaced, not added
    assert ledger.load_build_state(wh) == state
    ledger.forget_build_state(wh)
    assert ledger.load_build_state(wh) is None
