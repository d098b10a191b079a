"""Any table or file a team points an audit at, opened as one DuckDB view.

CSV, Parquet and JSON files are read by DuckDB's own readers in an in-memory connection; a DuckDB file is opened
read-only and ``schema.table`` is checked against its catalogue. Either way the rest of the audit queries one view,
``VIEW``, and never sees a path or an unchecked name: identifiers are quoted, values are bound parameters.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb

from ...contracts.errors import SourceError

__all__ = ["Source", "open_source", "quote_ident", "FILE_READERS", "DUCKDB_FILES", "VIEW"]

FILE_READERS = {".csv": "read_csv", ".tsv": "read_csv", ".txt": "read_csv", ".parquet": "read_parquet",
                ".json": "read_json", ".ndjson": "read_json", ".jsonl": "read_json"}
DUCKDB_FILES = (".duckdb", ".ddb", ".db")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")
_CATEGORICAL = ("VARCHAR", "BOOLEAN", "ENUM", "UUID")
VIEW = "steward_audit_source"


def quote_ident(name: str) -> str:
    """A name as a SQL identifier: double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Source:
    """An open DuckDB connection with the source visible as one view, and its columns' types."""

    con: duckdb.DuckDBPyConnection
    name: str
    columns: dict[str, str]

    def require(self, *names: str) -> None:
        for col in names:
            if col not in self.columns:
                raise SourceError(f"{self.name}: no column '{col}' (columns: {', '.join(self.columns)})")

    def is_numeric(self, col: str) -> bool:
        return self.columns[col].split("(")[0].upper() in _NUMERIC

    def is_categorical(self, col: str) -> bool:
        return self.columns[col].split("(")[0].upper() in _CATEGORICAL

    def run(self, sql: str, params: list | None = None) -> list[tuple]:
        """Rows of an aggregate query; a DuckDB error becomes one line naming the source."""
        try:
            return self.con.execute(sql, params or []).fetchall()
        except duckdb.Error as exc:
            raise SourceError(f"{self.name}: {_first_line(exc)}") from exc


@contextmanager
def open_source(path: Path | str, table: str | None = None) -> Iterator[Source]:
    """A CSV/Parquet/JSON file read by DuckDB's own readers, or ``schema.table`` of a DuckDB file (read-only)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.exists() and not any(ch in str(p) for ch in "*?["):
        raise SourceError(f"{p}: file not found")
    if suffix in DUCKDB_FILES:
        if not table:
            raise SourceError(f"{p}: a DuckDB file needs --table schema.table")
        con = _connect(p, read_only=True)
        name = f"{p}:{table}"
        try:
            con.execute(f"create temp view {VIEW} as select * from {_table_ref(con, p, table)}")
        except BaseException:
            con.close()
            raise
    elif suffix in FILE_READERS:
        con, name = _connect(None), str(p)
        try:
            getattr(con, FILE_READERS[suffix])(str(p)).create_view(VIEW)
        except duckdb.Error as exc:
            con.close()
            raise SourceError(f"{p}: cannot read as {suffix[1:]} ({_first_line(exc)})") from exc
    else:
        known = ", ".join([*FILE_READERS, *DUCKDB_FILES])
        raise SourceError(f"{p}: unsupported file type '{suffix or p.name}' (supported: {known})")
    try:
        cols = {r[0]: str(r[1]) for r in con.execute(f"describe select * from {VIEW}").fetchall()}
        yield Source(con, name, cols)
    finally:
        con.close()


def _connect(path: Path | None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path) if path else ":memory:", read_only=read_only)
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot open ({_first_line(exc)})") from exc


def _table_ref(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> str:
    """``schema.table`` checked against the catalogue, then quoted; an unknown one lists what exists."""
    schema, _, name = table.rpartition(".")
    schema = schema or "main"
    found = con.execute("select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                        [schema, name]).fetchone()
    if not found or not found[0]:
        rows = con.execute("select table_schema || '.' || table_name from information_schema.tables "
                           "where table_schema not in ('information_schema', 'pg_catalog') order by 1").fetchall()
        raise SourceError(f"{path}: no table '{table}' (tables: {', '.join(r[0] for r in rows) or 'none'})")
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
