"""Issue #12, the daily run, on PostgreSQL: the per-person HubSpot late sends (int_consent__hubspot_late_sends,
macros/per_key.sql) and gov_consent__sends_after_opt_out after the days of tests/dbt/test_incremental_late_sends.py
equal a `--full-refresh` build of the same raw data, row for row. A module of its own, so the test session runs it
beside the DuckDB one."""

from __future__ import annotations

from both_warehouses import equals_full_refresh
from pg import landed_then_built
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.landing import ensure_raw_tables
from steward.integrations.warehouse.target import PostgresTarget
from test_incremental_consent import _land, _send, _subscription, first_landing
from test_incremental_late_sends import COMPARED, SELECT, _compiled
from test_incremental_people import AS_OF


def test_postgres_incremental_late_sends_equal_a_full_refresh(tmp_path_factory, pg_server):
    """Each kind of day on PostgreSQL (raw and ledger copied from a DuckDB landing before each build): the build
    recomputes only the people the day touched, and both tables equal a full refresh."""
    root = tmp_path_factory.mktemp("incremental_late_sends_pg")
    duck = Warehouse(root / "w.duckdb")
    ensure_raw_tables(duck)
    url = pg_server.fresh_database("incremental_late_sends")
    target, work = PostgresTarget.from_url(url), root / "pg"

    def copy_and_build(full_refresh: bool = False, tests: bool = True) -> None:
        # a full refresh follows the daily build of the same landing: raw and ledger are already there
        landed_then_built(pg_server.psycopg, url, duck.path, target, work, SELECT, AS_OF.isoformat(), full_refresh,
                          copy=not full_refresh, tests=tests)

    def query(sql: str) -> list[tuple]:
        with pg_server.psycopg.connect(url, autocommit=True) as pg:
            return pg.execute(sql).fetchall()

    def keys() -> set[str]:
        return {row[0] for row in query("select email_key from staging.int_consent__hubspot_late_sends__keys "
                                        "where not is_all")}

    def hubspot() -> tuple:
        return tuple(query("select people_opted_out, people_sent_after_opt_out, sends_after_opt_out "
                           "from governance.gov_consent__sends_after_opt_out where platform = 'hubspot'")[0])

    def compare() -> None:
        equals_full_refresh(lambda: pg_server.psycopg.connect(url, autocommit=True), COMPARED, "public",
                            lambda: copy_and_build(full_refresh=True))

    copy_and_build(tests=False)  # nothing landed: every incremental model created empty (MODELS_ONLY's reason)
    first_landing(duck)
    copy_and_build()
    assert hubspot() == (1, 1, 1)
    # new sends, and new opt-outs by a status change and by a subscription
    _land(duck, "hubspot", "email_events", [_send(6, "p1@example.com", "2026-11-06 09:00"),
                                            _send(10, "p4@example.com", "2026-11-01 08:00", kind="STATUSCHANGE")])
    _land(duck, "hubspot", "subscriptions", [_subscription("p2@example.com", "UNSUBSCRIBED")])
    copy_and_build()
    assert "__keys" in _compiled(work)
    assert keys() == {"p1@example.com", "p2@example.com", "p4@example.com"}
    assert hubspot() == (3, 3, 4)
    compare()
    # a tombstoned send and a send that moved to another address; then opens and clicks, which recompute nobody
    _land(duck, "hubspot", "email_events", [], deleted=("ev-6",))
    _land(duck, "hubspot", "email_events", [_send(4, "p4new@example.com", "2026-11-02 09:00")])
    copy_and_build()
    assert keys() == {"p1@example.com", "p4@example.com", "p4new@example.com"}
    assert hubspot() == (3, 2, 2)
    compare()
    _land(duck, "hubspot", "email_events", [_send(8, "p1@example.com", "2026-11-09 09:00", kind="OPEN")])
    copy_and_build()
    assert "__keys" in _compiled(work) and keys() == set()
    compare()
