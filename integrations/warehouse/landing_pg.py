"""Landing on a PostgreSQL warehouse: DuckDB (in memory) reads and shapes the batch, COPY carries it to the server.

The same contract as ``landing`` on DuckDB, in one server transaction per batch: the rows, the quarantine, the
batch record, the schema snapshot, the tombstones and the watermark commit together or not at all (a crash or an
error mid-batch rolls all of it back). Rows never travel as row-by-row INSERTs: the batch is copied with COPY into a
temporary table of the transaction's session, and merged into ``raw`` from there by set-based statements. Raw
tables are created in the batch's DuckDB shape, with :func:`.dialect.pg_type` mapping each column type.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from ...contracts.batch import Batch
from .connection import Warehouse
from .pg import PgConnection, copy_relation, quote_ident as _q
from .scratch import scratch

__all__ = ["land_batch_pg", "land_staged_pg", "ensure_raw_table_pg"]


def ensure_raw_table_pg(wh: Warehouse, table: str, frame: pd.DataFrame) -> bool:
    """``landing.ensure_raw_table`` on a server: the empty table in the contract's shape, or its new columns."""
    duck = scratch()  # a cursor of the process's in-memory DuckDB: its own registered frames
    try:
        duck.register("empty_frame", frame)
        with wh.connect() as con:
            exists = _exists(con, table)
            _ensure_table(con, duck, f"raw.{_q(table)}", table, "select * from empty_frame")
    finally:
        duck.close()
    return not exists


def land_batch_pg(wh: Warehouse, batch: Batch, frame: pd.DataFrame, quarantined: pd.DataFrame, drift: dict | None,
                  record: dict[str, Any], types: dict | None, keep_max: int, now: datetime, lock: Any):
    """``landing.land_batch`` on a server (``frame``: the valid rows with ``_batch_id``, ``_integration`` and
    ``_loaded_at``; ``record``: the ``ledger.batches`` values). Returns the batch id, or the id of the batch that
    landed the same content before (then with ``skipped`` true)."""
    from . import landing

    stream = batch.stream
    table = landing.raw_table(batch)
    duck = scratch()  # a cursor of the process's in-memory DuckDB: its own registered frames
    try:
        duck.register("landing_frame", frame)
        with lock, wh.connect() as con:
            seen = _seen(con, batch)
            if seen:
                return seen, True
            batch_id = record["batch_id"]
            con.execute("begin")
            try:
                _ensure_table(con, duck, table, stream.table, "select * from landing_frame")
                copy_relation(con.raw, duck, "select * from landing_frame", "landing_frame", temporary=True)
                if batch.merge:
                    landing._refuse_erasing_merge(con, table, batch, drift)
                    landing._delete_same_keys(con, table, stream.primary_key, batch.integration)
                columns = ", ".join(_q(c) for c in frame.columns)
                con.execute(f"insert into {table} ({columns}) select {columns} from landing_frame")
                if batch.merge:
                    landing._revive(con, frame, stream.primary_key, batch.integration, stream.entity)
                _quarantine(con, quarantined, keep_max, batch, batch_id, now)
                _records(con, batch, record, types, now)
                if batch.deleted:
                    landing._bury(con, table, stream.primary_key, batch, batch_id, now)
                if batch.watermark is not None:
                    landing._advance_watermark(con, batch.integration, stream.entity, batch.watermark, batch_id, now)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
    finally:
        duck.close()
    return batch_id, False


def land_staged_pg(wh: Warehouse, batch: Batch, verdict: Any, record: dict[str, Any], keep_max: int,
                   now: datetime, lock: Any) -> tuple[str, bool, int]:
    """``landing.land_staged`` on a server: the staged file is read by DuckDB, its valid rows copied to a temporary
    table, and only rows whose content differs from the stored row of their key are merged. Returns (batch id,
    skipped, rows changed)."""
    from . import landing

    stream = batch.stream
    table = f"raw.{_q(stream.table)}"
    duck = duckdb.connect()
    try:
        duck.execute("SET TimeZone = 'UTC'")  # a timestamp without an offset casts as UTC (the zone rule)
        duck.execute("SET enable_progress_bar = false")
        duck.execute(f"attach '{batch.staged.replace(chr(39), chr(39) * 2)}' as __stage (read_only)")
        duck.execute(f"create temp view landing_frame as {verdict.landing_sql('__stage')}")
        columns = [r[0] for r in duck.execute("describe select * from landing_frame").fetchall()]
        with lock, wh.connect() as con:
            seen = _seen(con, batch)
            if seen:
                return seen, True, 0
            batch_id = record["batch_id"]
            rows_valid = record["rows_loaded"]
            changed = rows_valid
            con.execute("begin")
            try:
                _ensure_table(con, duck, table, stream.table, "select *, ''::varchar as _batch_id, ''::varchar as "
                              "_integration, now() as _loaded_at from landing_frame")
                copy_relation(con.raw, duck, "select * from landing_frame", "landing_frame", temporary=True)
                keys = [k.strip() for k in stream.primary_key.split(",")]
                source = "landing_frame"
                held = con.execute(f"select count(*) from (select 1 from {table} where _integration = ? limit 1) h",
                                   [batch.integration]).fetchone()[0]
                if held and rows_valid:
                    match = " and ".join(f"t.{_q(k)} = f.{_q(k)}" for k in keys)
                    same = (f"({', '.join(f't.{_q(c)}' for c in columns)}) is not distinct from "
                            f"({', '.join(f'f.{_q(c)}' for c in columns)})")
                    con.raw.execute(f"create temporary table landing_changed as select f.* from landing_frame f "
                                    f"where not exists (select 1 from {table} t where t._integration = %s and "
                                    f"{match} and {same})", [batch.integration])
                    source = "landing_changed"
                    changed = con.execute("select count(*) from landing_changed").fetchone()[0]
                    if changed:
                        con.execute(f"delete from {table} t where t._integration = ? and exists "
                                    f"(select 1 from landing_changed f where {match})", [batch.integration])
                if changed:
                    names = ", ".join(_q(c) for c in columns)
                    con.raw.execute(f"insert into {table} ({names}, _batch_id, _integration, _loaded_at) "
                                    f"select {names}, %s, %s, %s from {source}", [batch_id, batch.integration, now])
                    if "," not in stream.primary_key:
                        con.execute("delete from ledger.tombstones t where t.integration = ? and t.entity = ? and "
                                    f"t.record_id in (select cast({_q(keys[0])} as varchar) from {source})",
                                    [batch.integration, stream.entity])
                _quarantine(con, verdict.quarantine, keep_max, batch, batch_id, now)
                _records(con, batch, record, verdict.types, now)
                if batch.file_stat is not None:
                    landing._record_file(con, batch, batch_id, now)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
    finally:
        duck.close()
    return batch_id, False, changed


def _seen(con: PgConnection, batch: Batch) -> str | None:
    row = con.execute("select batch_id from ledger.batches where integration = ? and entity = ? and fingerprint = ?",
                      [batch.integration, batch.stream.entity, batch.fingerprint]).fetchone()
    return row[0] if row else None


def _quarantine(con: PgConnection, quarantined: pd.DataFrame, keep_max: int, batch: Batch, batch_id: str,
                now: datetime) -> None:
    """The first ``keep_max`` failing rows, with their reasons and the record as JSON, copied in one COPY."""
    if not len(quarantined) or keep_max <= 0:
        return
    kept = quarantined.head(keep_max)
    q = pd.DataFrame({"source_row": kept["source_row"].astype("int64"), "reasons": kept["reasons"].astype(str),
                      "record": kept["record"].astype(str)})
    duck = scratch()  # a cursor of the process's in-memory DuckDB: its own registered frames
    try:
        duck.register("q", q)
        copy_relation(con.raw, duck, "select * from q", "quarantine_frame", temporary=True)
    finally:
        duck.close()
    con.raw.execute("insert into ledger.quarantine (batch_id, integration, entity, source, source_row, reasons, "
                    "record, quarantined_at) select %s, %s, %s, %s, source_row, reasons, record::jsonb, %s "
                    "from quarantine_frame order by source_row",
                    [batch_id, batch.integration, batch.stream.entity, batch.source, now])
    con.raw.execute("drop table quarantine_frame")


def _records(con: PgConnection, batch: Batch, record: dict[str, Any], types: dict | None, now: datetime) -> None:
    """The batch's row in ``ledger.batches`` and its schema snapshot."""
    names = list(record)
    con.execute(f"insert into ledger.batches ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
                [record[n] for n in names])
    con.execute("insert into ledger.schema_snapshots (batch_id, integration, entity, columns, taken_at, types) "
                "values (?, ?, ?, ?, ?, ?)",
                [record["batch_id"], batch.integration, batch.stream.entity,
                 json.dumps(list(map(str, batch.frame.columns))), now, json.dumps(types) if types else None])


def _exists(con: PgConnection, table: str) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = 'raw' "
                            "and table_name = ?", [table]).fetchone()[0])


def _ensure_table(con: PgConnection, duck: duckdb.DuckDBPyConnection, table: str, name: str, select: str) -> None:
    """The raw table in the shape of ``select`` (run in DuckDB), or the columns it lacks added (old rows null)."""
    from .dialect import pg_type

    shape = [(r[0], pg_type(str(r[1]))) for r in duck.execute(f"describe {select}").fetchall()]
    if not _exists(con, name):
        con.raw.execute(f"create table if not exists {table} ({', '.join(f'{_q(c)} {t}' for c, t in shape)})")
        return
    have = {r[0] for r in con.execute("select column_name from information_schema.columns where table_schema = "
                                      "'raw' and table_name = ?", [name]).fetchall()}
    for column, kind in shape:
        if column not in have:
            con.raw.execute(f"alter table {table} add column {_q(column)} {kind}")
