"""The evidence pack's reads are portable SQL (Seam W): each one, run on a real PostgreSQL server holding the same
ledger and mart rows as the governed demo's DuckDB file, returns the same rows."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import pandas as pd
import pytest

from governed import demo_run_copy
from pg import _PG_TYPES, copy_schema_to_postgres
from steward.flows.config import load_config
from steward.integrations.warehouse import Warehouse, evidence_reads as reads

pytestmark = pytest.mark.slow
SINCE, UNTIL = datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc)


class _OnPostgres:
    """The two Warehouse methods the evidence reads call, on a PostgreSQL database: ``?`` placeholders become
    psycopg's ``%s`` as the PostgreSQL warehouse layer does; nothing else of the SQL is touched."""

    path = "postgresql://evidence-test"

    def __init__(self, psycopg, dsn: str) -> None:
        self.psycopg, self.dsn = psycopg, dsn

    def query_df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.psycopg.connect(self.dsn) as con:
            cur = con.execute(sql.replace("?", "%s"), params or [])
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def table_exists(self, schema: str, table: str) -> bool:
        frame = self.query_df("select count(*) as n from information_schema.tables where table_schema = ? and "
                              "table_name = ?", [schema, table])
        return bool(frame["n"].iloc[0])


@pytest.fixture(scope="module")
def both(prefect_harness, pg_server, tmp_path_factory):
    """The demo's warehouse, and a PostgreSQL database with its ledger schema and the marts the pack reads."""
    duck = Warehouse(load_config(demo_run_copy(tmp_path_factory, "evidence-pg", scale=0.2).config).warehouse)
    marts = tmp_path_factory.mktemp("marts") / "marts.duckdb"
    with duckdb.connect(str(marts)) as con:  # only the marts and columns the pack reads, odd types (hugeint sums) as double
        con.execute(f"attach '{duck.path}' as src (read_only)")
        con.execute("create schema governance")
        for mart, read in ((m, cols) for kind in reads.MART_FIGURES.values() for m, cols in kind.items()):
            types = con.execute(f"describe select {', '.join(read)} from src.governance.{mart}").fetchall()
            columns = ", ".join(c if t in _PG_TYPES else f"cast({c} as double) as {c}" for c, t, *_ in types)
            con.execute(f"create table governance.{mart} as select {columns} from src.governance.{mart}")
    url = pg_server.fresh_database("evidence")
    copy_schema_to_postgres(pg_server.psycopg, url, duck.path, "ledger")
    copy_schema_to_postgres(pg_server.psycopg, url, marts, "governance")
    return duck, _OnPostgres(pg_server.psycopg, url)


@pytest.mark.parametrize("read", [reads.window_runs, reads.window_skipped_checks, reads.window_check_findings,
                                  reads.window_findings, reads.window_audit, reads.window_controls,
                                  reads.window_incidents, reads.window_landing])
def test_each_ledger_read_returns_the_same_rows_on_postgresql(both, read):
    duck, pg = both
    expected, got = read(duck, SINCE, UNTIL), read(pg, SINCE, UNTIL)
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    key = expected.columns[0]
    assert got[key].astype(str).tolist() == expected[key].astype(str).tolist()


def test_every_mart_read_returns_the_same_figures_on_postgresql(both):
    duck, pg = both
    for kind in reads.MART_FIGURES:
        expected, got = reads.mart_figures(duck, kind), reads.mart_figures(pg, kind)
        assert set(got) == set(expected) and expected, kind
        for mart, frame in expected.items():
            assert list(got[mart].columns) == list(frame.columns) and len(got[mart]) == len(frame), mart
