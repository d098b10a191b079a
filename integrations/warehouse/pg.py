"""A PostgreSQL connection that answers like a DuckDB one, so the warehouse layer runs on both unchanged.

``Warehouse.connect()`` yields a :class:`PgConnection` on a PostgreSQL warehouse: ``execute(sql, params)`` with
DuckDB's ``?``/``$name`` placeholders (transpiled once per statement by :mod:`.dialect`), ``fetchall``,
``fetchone``, ``df``, ``executemany``, and ``register(name, frame)`` (a pandas frame becomes a temporary table,
filled with COPY). JSON comes back as text and timestamps in UTC, as from DuckDB. The connection is in autocommit,
so ``begin``/``commit``/``rollback`` statements delimit transactions exactly as they do on DuckDB.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import duckdb
import pandas as pd

from ...contracts.errors import WarehouseError
from .dialect import bind, pg_type, split_statements, to_postgres
from .scratch import scratch
from .target import PostgresTarget

__all__ = ["PgConnection", "pg_connect", "copy_relation", "quote_ident"]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise WarehouseError("a PostgreSQL warehouse needs psycopg: pip install 'steward[postgres]'") from None
    return psycopg


def pg_connect(target: PostgresTarget, application_name: str = "steward"):
    """A raw psycopg connection in autocommit, UTC, JSON loaded as text; errors say the target, never a secret."""
    psycopg = _psycopg()
    from psycopg.types.string import TextLoader

    kwargs = {**target.connect_kwargs(), "application_name": application_name[:63]}
    try:
        raw = psycopg.connect(**kwargs, autocommit=True, cursor_factory=psycopg.ClientCursor,
                              options="-c TimeZone=UTC")
    except psycopg.Error as exc:
        raise WarehouseError(f"{target.display}: cannot connect to the warehouse ({_first_line(exc)})") from None
    for name in ("json", "jsonb"):
        raw.adapters.register_loader(name, TextLoader)
    return raw


class PgConnection:
    """DuckDB's connection methods over psycopg (what the warehouse layer's modules call)."""

    dialect = "postgres"  # the few statements with no portable form ask this (``getattr(con, "dialect", ...)``)

    def __init__(self, raw: Any, target: PostgresTarget) -> None:
        self.raw = raw
        self.target = target
        self._cur: Any = None

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> "PgConnection":
        psycopg = _psycopg()
        statements = [sql] if params else split_statements(sql) if ";" in sql.strip().rstrip(";") else [sql]
        try:
            for text in statements:
                stmt = to_postgres(text)
                cur = self.raw.cursor()
                for first in stmt.before:
                    cur.execute(first)
                cur.execute(stmt.sql, bind(stmt, params) if stmt.slots else None)
                self._cur = cur
        except psycopg.Error as exc:
            raise WarehouseError(f"{self.target.display}: {_first_line(exc)}") from exc
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> "PgConnection":
        for row in rows:
            self.execute(sql, row)
        return self

    @property
    def description(self):
        return self._cur.description if self._cur is not None else None

    def fetchall(self) -> list[tuple]:
        return [tuple(r) for r in self._cur.fetchall()] if self._cur is not None and self._cur.description else []

    def fetchone(self) -> tuple | None:
        if self._cur is None or not self._cur.description:
            return None
        row = self._cur.fetchone()
        return tuple(row) if row is not None else None

    def df(self) -> pd.DataFrame:
        """The result as a frame; numeric columns as floats, timestamps as pandas timestamps (as DuckDB's ``df``)."""
        columns = [d.name for d in self._cur.description] if self._cur is not None and self._cur.description else []
        frame = pd.DataFrame.from_records(self.fetchall(), columns=columns)
        for column in frame.columns:
            if frame[column].dtype == object and frame[column].map(lambda v: type(v).__name__ == "Decimal").any():
                frame[column] = frame[column].astype(float)
        return frame

    fetchdf = df

    def register(self, name: str, frame: pd.DataFrame) -> "PgConnection":
        """A frame as a temporary table of this connection (``unregister`` drops it), filled with COPY."""
        duck = scratch()  # a cursor of the process's in-memory DuckDB: its own registered frame
        try:
            duck.register("frame", frame)
            copy_relation(self.raw, duck, "select * from frame", name, temporary=True)
        finally:
            duck.close()
        return self

    def unregister(self, name: str) -> "PgConnection":
        self.raw.execute(f"drop table if exists {quote_ident(name)}")
        return self

    def close(self) -> None:
        self.raw.close()


def copy_relation(raw: Any, duck: duckdb.DuckDBPyConnection, select: str, table: str, *,
                  temporary: bool = False, create: bool = True, params: Sequence[Any] | None = None,
                  batch_rows: int = 50_000) -> int:
    """Stream a DuckDB query's rows into a PostgreSQL table with COPY (binary-free, row by row on the wire, in
    batches of ``batch_rows`` on our side, so memory stays bounded on any size); returns the rows copied.

    ``table`` is created in the query's shape unless ``create`` is false (then the query's columns must exist in
    it, matched by name). DuckDB reads and shapes the data; PostgreSQL only receives it."""
    if create:
        shape = duck.execute(f"describe {select}", params or []).fetchall()
        target = quote_ident(table) if "." not in table and temporary else table
        raw.execute(f"create {'temporary ' if temporary else ''}table if not exists {target} "
                    f"({', '.join(f'{quote_ident(r[0])} {pg_type(str(r[1]))}' for r in shape)})")
    rel = duck.execute(select, params or [])
    columns = [d[0] for d in rel.description]
    target = quote_ident(table) if temporary and "." not in table else table
    copied = 0
    with raw.cursor().copy(f"copy {target} ({', '.join(quote_ident(c) for c in columns)}) from stdin") as copy:
        while True:
            chunk = rel.fetchmany(batch_rows)
            if not chunk:
                break
            for row in chunk:
                copy.write_row(row)
            copied += len(chunk)
    return copied


@contextmanager
def pg_session(target: PostgresTarget, read_only: bool = False) -> Iterator[PgConnection]:
    """One short-lived session, as ``Warehouse.connect`` opens on DuckDB; ``read_only`` makes the server refuse
    any write in it."""
    raw = pg_connect(target)
    try:
        if read_only:
            raw.execute("set session characteristics as transaction read only")
        yield PgConnection(raw, target)
    finally:
        raw.close()


# Two processes creating the same table at once collide in PostgreSQL's catalog (a unique violation on pg_type):
# the ledger's DDL runs under a transaction-scoped advisory lock, so the second one finds the tables made.
DDL_LOCK = (0x53544557, 2)  # "STEW", 2; the writer lock is ("STEW", 1)


def ensure_ledger(target: PostgresTarget, ddl: str) -> None:
    """Create the ledger's schemas, tables and sequences that are missing (``json`` as ``jsonb``)."""
    with pg_session(target) as con:
        con.execute("begin")
        try:
            con.raw.execute("select pg_advisory_xact_lock(%s, %s)", DDL_LOCK)
            con.execute(ddl)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
