"""Issue #12, the daily run, on PostgreSQL: the incremental people staging models and the per-key people models
(macros/per_key.sql) after the same landings and deltas as tests/dbt/test_incremental_people.py equal a
`--full-refresh` build of the same raw data, row for row. A module of its own, so the test session runs it beside
the DuckDB one."""

from __future__ import annotations

from pg import landed_then_built
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.landing import ensure_raw_tables
from steward.integrations.warehouse.target import PostgresTarget
from test_incremental_people import (AS_OF, PER_KEY, SELECT, STAGING, _compiled, _first_delta, _first_landing,
                                     _second_delta)


def test_postgres_incremental_people_tables_equal_a_full_refresh(tmp_path_factory, pg_server):
    """The same landings and deltas on PostgreSQL (raw and ledger copied from a DuckDB landing after each): the
    strategies, hooks and change logs run there too, and every incremental table equals a full refresh."""
    root = tmp_path_factory.mktemp("incremental_people_pg")
    duck = Warehouse(root / "w.duckdb")
    ensure_raw_tables(duck)
    url = pg_server.fresh_database("incremental_people")
    target, work = PostgresTarget.from_url(url), root / "pg"

    def copy_and_build(full_refresh: bool = False, tests: bool = True) -> None:
        # a full refresh follows the daily build of the same landing: raw and ledger are already there
        landed_then_built(pg_server.psycopg, url, duck.path, target, work, SELECT, AS_OF.isoformat(), full_refresh,
                          copy=not full_refresh, tests=tests)

    def compare() -> None:
        with pg_server.psycopg.connect(url, autocommit=True) as pg:
            for model in STAGING + PER_KEY:
                pg.execute(f"drop table if exists public.inc_{model}")
                pg.execute(f"create table public.inc_{model} as select * from staging.{model}")
        copy_and_build(full_refresh=True)
        with pg_server.psycopg.connect(url, autocommit=True) as pg:
            for model in STAGING + PER_KEY:
                differences = pg.execute(
                    f"select (select count(*) from (select * from public.inc_{model} except all "
                    f"select * from staging.{model}) as a) + (select count(*) from (select * from staging.{model} "
                    f"except all select * from public.inc_{model}) as b)").fetchone()[0]
                assert differences == 0, model

    copy_and_build(tests=False)  # nothing landed: every incremental model created empty (MODELS_ONLY's reason)
    _first_landing(duck)
    copy_and_build()
    assert "__keys" in _compiled(work, "int_customers__unified")
    _first_delta(duck)
    copy_and_build()
    assert "__keys" in _compiled(work, "int_customers__unified")
    compare()
    _second_delta(duck)
    copy_and_build()
    assert "__keys" in _compiled(work, "int_people__opt_outs")
    compare()
