"""Revalidation on a PostgreSQL warehouse: the contract compiled to DuckDB SQL judges a copy, the server moves rows.

The compiled contract (``sql_checks``) is DuckDB SQL (list functions, DuckDB's regexes and casts), and a server has
no ``rowid``. So one integration's rows of a raw table are streamed (a server-side cursor, ``_CHUNK`` rows at a
time) into an in-memory DuckDB table whose ``rowid`` is the row's position, beside a table of the rows' ``ctid`` in
the same order; ``validate_table`` judges the copy exactly as on DuckDB, and the failing positions map back to
``ctid``s, which the quarantine insert and the delete use in one server transaction (the writer lock keeps rows from
moving meanwhile). DuckDB spills a copy larger than memory to disk; only the failing rows' labels reach Python.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import duckdb
import pandas as pd

from ...contracts.source_checks import TableVerdict
from .pg import PgConnection, copy_relation, quote_ident as _q
from .validation import validate_table

__all__ = ["validate_pg_table", "quarantine_pg_rows"]

_CHUNK = 50_000
# PostgreSQL's column types as the DuckDB types landing created them from (dialect.pg_type, reversed)
_DUCK_TYPES = {"text": "VARCHAR", "character varying": "VARCHAR", "bigint": "BIGINT", "integer": "INTEGER",
               "smallint": "SMALLINT", "double precision": "DOUBLE", "real": "FLOAT", "boolean": "BOOLEAN",
               "timestamp with time zone": "TIMESTAMP WITH TIME ZONE", "timestamp without time zone": "TIMESTAMP",
               "date": "DATE", "jsonb": "JSON", "json": "JSON", "numeric": "DOUBLE", "bytea": "BLOB"}


def validate_pg_table(con: PgConnection, table: str, contract: Any, integration: str
                      ) -> tuple[TableVerdict, duckdb.DuckDBPyConnection]:
    """Judge one integration's rows of ``raw.<table>``; returns the verdict and the DuckDB copy (its ``ctids``
    table maps a failing ``__row`` to the server's row), which the caller closes."""
    shape = con.execute("select column_name, data_type from information_schema.columns where table_schema = 'raw' "
                        "and table_name = ? order by ordinal_position", [table]).fetchall()
    duck = duckdb.connect()
    duck.execute("create table judged (" + ", ".join(f"{_q(c)} {_DUCK_TYPES.get(t, 'VARCHAR')}" for c, t in shape)
                 + ")")
    duck.execute("create table ctids (ctid varchar)")
    names = [c for c, _ in shape]
    raw = con.raw
    with raw.transaction():
        with raw.cursor(name="steward_revalidate") as cur:
            cur.itersize = _CHUNK
            cur.execute(f"select ctid::text, {', '.join(_q(c) for c in names)} from raw.{_q(table)} "
                        "where _integration = %s order by ctid", [integration])
            while True:
                rows = cur.fetchmany(_CHUNK)
                if not rows:
                    break
                chunk = pd.DataFrame.from_records(rows, columns=["__ctid", *names])
                duck.register("chunk", chunk)
                duck.execute(f"insert into judged select {', '.join(_q(c) for c in names)} from chunk")
                duck.execute("insert into ctids select __ctid from chunk")
                duck.unregister("chunk")
    return validate_table(duck, "judged", contract), duck


def quarantine_pg_rows(con: PgConnection, duck: duckdb.DuckDBPyConnection, table: str, key: str, version: str,
                       failing: pd.DataFrame, skip: tuple[str, ...]) -> int:
    """Move the failing rows to ``ledger.quarantine`` (labelled like landing's) and out of ``raw``, atomically."""
    duck.register("failing", failing)
    select = ("select c.ctid as row_tid, f.__row as source_row, f.reasons from failing f "
              "join (select rowid as r, ctid from ctids) c on c.r = f.__row")
    now = datetime.now(timezone.utc)
    record = "to_jsonb(t)" + "".join(f" - '{c}'" for c in skip)
    con.execute("begin")
    try:
        copy_relation(con.raw, duck, select, "revalidate_failing", temporary=True)
        con.raw.execute(
            "insert into ledger.quarantine (batch_id, integration, entity, source, source_row, reasons, record, "
            f"quarantined_at) select t._batch_id, t._integration, %s, %s, f.source_row, f.reasons, {record}, %s "
            f"from raw.{_q(table)} t join revalidate_failing f on t.ctid = f.row_tid::tid order by f.source_row",
            [key.split(".", 1)[1], f"raw.{table} re-validated by contract {key} {version}", now])
        moved = con.raw.execute(f"delete from raw.{_q(table)} t using revalidate_failing f "
                                "where t.ctid = f.row_tid::tid").rowcount
        con.raw.execute("drop table revalidate_failing")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        duck.unregister("failing")
    return int(moved)
