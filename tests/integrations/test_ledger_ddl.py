"""Creating a Warehouse brings the file's ledger up to LEDGER_DDL, and runs the DDL only when something is missing."""

from __future__ import annotations

import duckdb
import pytest

from steward.integrations.warehouse import LEDGER_DDL, Warehouse
from steward.integrations.warehouse import connection


def _shape(path) -> tuple:
    with duckdb.connect(str(path)) as con:
        return connection._shape(con)


def test_a_new_file_gets_every_schema_table_column_and_sequence_of_the_ddl(tmp_path):
    with duckdb.connect(":memory:") as con:
        con.execute(LEDGER_DDL)
        want = connection._shape(con)
    Warehouse(tmp_path / "w.duckdb")
    assert _shape(tmp_path / "w.duckdb") == want
    assert len(want[1]) > 100 and {"raw", "ledger"} <= want[0] and "alert_outbox_seq" in want[2]


def test_an_older_file_missing_a_column_a_table_or_a_sequence_is_brought_up_to_date(tmp_path):
    path = tmp_path / "w.duckdb"
    Warehouse(path)
    full = _shape(path)
    with duckdb.connect(str(path)) as con:  # what an older Steward left: fewer columns, tables and sequences
        con.execute("insert into ledger.runs (run_id, status) values ('r-old', 'completed')")
        con.execute("alter table ledger.runs drop column host")
        con.execute("drop table ledger.build_state")
        con.execute("drop sequence ledger.integration_health_seq")
    assert _shape(path) != full
    Warehouse(path)
    assert _shape(path) == full
    with duckdb.connect(str(path)) as con:  # the DDL adds, never replaces: the older rows are kept
        assert con.execute("select run_id, host from ledger.runs").fetchall() == [("r-old", None)]


def test_the_ddl_is_sent_only_to_a_file_missing_part_of_the_ledger(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    Warehouse(path)
    monkeypatch.setattr(connection, "_LEDGER_SHAPE", connection._ledger_shape())  # read off the real DDL
    monkeypatch.setattr(connection, "LEDGER_DDL", "select * from ledger.no_such_table")  # fails wherever it is sent
    Warehouse(path)  # the whole ledger is there: nothing sent
    with duckdb.connect(str(path)) as con:
        con.execute("alter table ledger.runs drop column host")
    with pytest.raises(duckdb.CatalogException, match="no_such_table"):
        Warehouse(path)  # a column is missing: sent
