"""Issue #12, the daily run, on PostgreSQL: after the same landings and days as tests/dbt/test_per_key_identity.py,
the per-key int_people__presence equals a `--full-refresh` build row for row, and gov_identity__match,
gov_reconciliation__consent and gov_privacy__deletion_propagation equal their former pairwise definitions. A module
of its own, so the test session runs it beside the DuckDB one."""

from __future__ import annotations

import pandas as pd

from pg import landed_then_built
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.landing import ensure_raw_tables
from steward.integrations.warehouse.target import PostgresTarget
from test_incremental_people import AS_OF, _compiled, _first_landing
from test_per_key_identity import DAYS, DEFINITIONS, PRESENCE, SELECT, _rows

# PostgreSQL's sha256() takes and gives bytea
_POSTGRES = {"sha256(email_key)": "encode(sha256(convert_to(email_key, 'UTF8')), 'hex')"}


def _definition(mart: str) -> str:
    sql = DEFINITIONS[mart]
    for duckdb_sql, postgres_sql in _POSTGRES.items():
        sql = sql.replace(duckdb_sql, postgres_sql)
    return sql


def test_postgres_presence_equals_a_full_refresh_and_the_marts_their_definitions(tmp_path_factory, pg_server):
    root = tmp_path_factory.mktemp("per_key_identity_pg")
    duck = Warehouse(root / "w.duckdb")
    ensure_raw_tables(duck)
    url = pg_server.fresh_database("per_key_identity")
    target, work = PostgresTarget.from_url(url), root / "pg"

    def query(sql: str) -> pd.DataFrame:
        with pg_server.psycopg.connect(url, autocommit=True) as pg:
            cursor = pg.execute(sql)
            return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])

    def copy_and_build(full_refresh: bool = False, tests: bool = True) -> None:
        # a full refresh follows the daily build of the same landing: raw and ledger are already there
        landed_then_built(pg_server.psycopg, url, duck.path, target, work, SELECT, AS_OF.isoformat(), full_refresh,
                          copy=not full_refresh, tests=tests)

    def marts_equal_definitions() -> None:
        for mart in DEFINITIONS:
            built, defined = query(f"select * from governance.{mart}"), query(_definition(mart))
            assert list(built.columns) == list(defined.columns), mart
            assert _rows(built) == _rows(defined), mart

    def daily_equals_full_refresh() -> None:
        marts_equal_definitions()
        with pg_server.psycopg.connect(url, autocommit=True) as pg:
            pg.execute(f"drop table if exists public.inc_{PRESENCE}")
            pg.execute(f"create table public.inc_{PRESENCE} as select * from staging.{PRESENCE}")
        copy_and_build(full_refresh=True)
        differences = query(
            f"select (select count(*) from (select * from public.inc_{PRESENCE} except all "
            f"select * from staging.{PRESENCE}) as a) + (select count(*) from (select * from staging.{PRESENCE} "
            f"except all select * from public.inc_{PRESENCE}) as b) as n")["n"][0]
        assert differences == 0
        marts_equal_definitions()

    copy_and_build(tests=False)  # nothing landed: every incremental model created empty (models only)
    _first_landing(duck)
    copy_and_build()
    assert len(query("select * from governance.gov_identity__match")) > 0
    daily_equals_full_refresh()
    for deltas, per_key in DAYS:  # the DuckDB module's days: two deltas that touch different people share one
        for delta in deltas:
            delta(duck)
        copy_and_build()
        assert ("__keys" in _compiled(work, PRESENCE)) == per_key, [delta.__name__ for delta in deltas]
        daily_equals_full_refresh()
