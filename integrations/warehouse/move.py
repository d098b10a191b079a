"""Moving a warehouse from a DuckDB file to PostgreSQL: the landed data and Steward's ledgers, nothing else.

``raw`` (every landed row) and ``ledger`` (runs, batches, watermarks, quarantine, findings, the audit log...) are
what cannot be rebuilt; dbt's schemas (staging, governance, launch) are rebuilt by the next ``steward run`` on the
server. Each table is streamed with COPY (DuckDB reads the file, PostgreSQL receives rows in bounded chunks), all in
one server transaction: a move that fails leaves the target as it was. The target must not hold landed data yet,
so a move never mixes two histories (the audit log's hash chain would not survive it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from ...contracts.errors import WarehouseError
from .connection import Warehouse
from .pg import copy_relation, quote_ident
from .target import PostgresTarget

__all__ = ["MovedTable", "move_to_postgres", "MOVED_SCHEMAS"]

MOVED_SCHEMAS = ("raw", "ledger")


@dataclass(frozen=True)
class MovedTable:
    schema: str
    table: str
    rows: int


def move_to_postgres(source: Path, target: PostgresTarget) -> list[MovedTable]:
    """Copy ``raw`` and ``ledger`` of the DuckDB file ``source`` into ``target`` (an empty Steward warehouse or a
    new database); returns each table with its row count. Sequences follow the copied rows."""
    source = Path(source).expanduser().resolve()
    if not source.is_file():
        raise WarehouseError(f"{source}: no DuckDB warehouse there to move")
    Warehouse(source)  # brings an older file's ledger up to the current DDL before its tables are read
    wh = Warehouse(target)
    duck = duckdb.connect(str(source), read_only=True)
    moved: list[MovedTable] = []
    try:
        duck.execute("set TimeZone = 'UTC'")
        tables = duck.execute("select table_schema, table_name from information_schema.tables where table_schema "
                              "in ('raw', 'ledger') and table_type = 'BASE TABLE' order by 1, 2").fetchall()
        with wh.connect() as con:
            held = [t for s, t in tables if s == "ledger" and con.execute(
                f"select count(*) from (select 1 from ledger.{quote_ident(t)} limit 1) h").fetchone()[0]]
            if held:
                raise WarehouseError(f"{target.display}: ledger.{held[0]} already holds rows; move into an empty "
                                     "warehouse (a new database)")
            con.execute("begin")
            try:
                for schema, table in tables:
                    name = f"{schema}.{quote_ident(table)}"
                    columns = [r[0] for r in duck.execute(f"describe {name}").fetchall()]
                    select = f"select {', '.join(quote_ident(c) for c in columns)} from {name}"
                    rows = copy_relation(con.raw, duck, select, name, create=schema == "raw")
                    moved.append(MovedTable(schema, table, rows))
                for sequence, table in (("alert_outbox_seq", "alert_outbox"),
                                        ("integration_health_seq", "integration_health")):
                    top = con.execute(f"select max(seq) from ledger.{table}").fetchone()[0]
                    if top:
                        con.raw.execute("select setval(%s, %s)", [f"ledger.{sequence}", int(top)])
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
    finally:
        duck.close()
    return moved
