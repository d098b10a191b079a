"""Issue #12, the daily run, on PostgreSQL: stg_hubspot__email_events' change log and the per-person consent model
(int_consent__email_people, macros/per_key.sql) after the same landings and days as
tests/dbt/test_incremental_consent.py equal a `--full-refresh` build of the same raw data, row for row, and so does
gov_consent__channel_purpose. A module of its own, so the test session runs it beside the DuckDB one."""

from __future__ import annotations

import pandas as pd

from both_warehouses import equals_full_refresh
from pg import landed_then_built
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.landing import ensure_raw_tables
from steward.integrations.warehouse.target import PostgresTarget
from test_incremental_consent import COMPARED, SELECT, _activity, _compiled, _contact, _land, _profile, _send, \
    _subscription, _touch, first_landing
from test_incremental_people import AS_OF


def test_postgres_incremental_consent_equals_a_full_refresh(tmp_path_factory, pg_server):
    """Each kind of day on PostgreSQL (raw and ledger copied from a DuckDB landing before each build): the
    strategies, hooks and change logs run there too, the build recomputes only the people the day touched, and every
    table equals a full refresh."""
    root = tmp_path_factory.mktemp("incremental_consent_pg")
    duck = Warehouse(root / "w.duckdb")
    ensure_raw_tables(duck)
    url = pg_server.fresh_database("incremental_consent")
    target, work = PostgresTarget.from_url(url), root / "pg"

    def copy_and_build(full_refresh: bool = False, tests: bool = True) -> None:
        # a full refresh follows the daily build of the same landing: raw and ledger are already there
        landed_then_built(pg_server.psycopg, url, duck.path, target, work, SELECT, AS_OF.isoformat(), full_refresh,
                          copy=not full_refresh, tests=tests)

    def keys() -> set[str]:
        with pg_server.psycopg.connect(url, autocommit=True) as pg:
            return {row[0] for row in pg.execute("select email_key from staging.int_consent__email_people__keys "
                                                 "where not is_all").fetchall()}

    def compare() -> None:
        equals_full_refresh(lambda: pg_server.psycopg.connect(url, autocommit=True), COMPARED, "public",
                            lambda: copy_and_build(full_refresh=True))

    copy_and_build(tests=False)  # nothing landed: every incremental model created empty (models only)
    first_landing(duck)
    copy_and_build()
    # new sends and a new opt-out
    _land(duck, "hubspot", "email_events", [_send(6, "p1@example.com", "2026-11-06 09:00"),
                                            _send(7, "p5@example.com", "2026-11-06 09:00")])
    _land(duck, "salesforce", "contacts", [_contact(4, "p4@example.com", at=pd.Timestamp("2026-11-01", tz="UTC"),
                                                    opted_out=True)])
    copy_and_build()
    assert "__keys" in _compiled(work)
    assert keys() == {"p1@example.com", "p4@example.com", "p5@example.com"}
    compare()
    # a tombstoned send, an erased contact, a changed email
    _land(duck, "hubspot", "email_events", [], deleted=("ev-6",))
    _land(duck, "salesforce", "contacts", [], deleted=(_contact(4, None)["Id"],))
    _land(duck, "hubspot", "email_events", [_send(2, "p2new@example.com", "2026-11-02 09:00")])
    _land(duck, "cdp", "profiles", [_profile(1, "p1new@example.com", at=pd.Timestamp("2026-11-07", tz="UTC"))])
    _land(duck, "hubspot", "subscriptions", [_subscription("p2new@example.com", "UNSUBSCRIBED")])
    copy_and_build()
    assert "__keys" in _compiled(work)
    assert keys() == {"p1@example.com", "p1new@example.com", "p2@example.com", "p2new@example.com",
                      "p4@example.com"}
    compare()
    # a Marketo send and a custom touch: every person recomputed
    _land(duck, "marketo", "activities", [_activity(2, 2, "2026-11-08 10:00")])
    _land(duck, "custom", "touches", [_touch("t2", "p3@example.com", "2026-11-08")], integration="klaviyo")
    copy_and_build()
    assert "__keys" not in _compiled(work)
    compare()
