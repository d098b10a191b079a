"""Any table or file a team points an audit at, opened as one DuckDB view.

CSV, Parquet and JSON files are read by DuckDB's own readers in an in-memory connection; a DuckDB file is opened
read-only and ``schema.table`` is checked against its catalogue. Either way the rest of the audit queries one view,
``VIEW``, and never sees a path or an unchecked name: identifiers are quoted, values are bound parameters.

``VIEW`` is where a team's shaping of the source happens, once, so every query of every audit sees the same rows:
``--where`` (confined by ``row_filter.confine_where``) keeps rows, and ``--bin COL=EDGES`` replaces a numeric column
by its labelled bands, so the banded column can be a group. An empty file, a source without rows and a filter that
keeps none are each refused in one line here, before any column is looked up.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import duckdb

from ...contracts.errors import SourceError
from .scratch import scratch

__all__ = ["Source", "Bin", "open_source", "parse_bins", "quote_ident", "FILE_READERS", "DUCKDB_FILES", "VIEW",
           "RAW_VIEW"]

FILE_READERS = {".csv": "read_csv", ".tsv": "read_csv", ".txt": "read_csv", ".parquet": "read_parquet",
                ".json": "read_json", ".ndjson": "read_json", ".jsonl": "read_json"}
DUCKDB_FILES = (".duckdb", ".ddb", ".db")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")
_CATEGORICAL = ("VARCHAR", "BOOLEAN", "ENUM", "UUID")
_INTEGRAL = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
             "UHUGEINT")
VIEW = "steward_audit_source"
RAW_VIEW = "steward_audit_raw"  # the source as read, before --where and --bin


def quote_ident(name: str) -> str:
    """A name as a SQL identifier: double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Source:
    """An open DuckDB connection with the source visible as one view, and its columns' types."""

    con: duckdb.DuckDBPyConnection
    name: str
    columns: dict[str, str]
    where: str | None = None  # the confined filter as it runs (sqlglot's rendering), None without --where
    bins: tuple["Bin", ...] = field(default=())
    bands: dict[str, tuple[str, ...]] = field(default_factory=dict)  # banded column -> its labels, lowest first

    def rows_read(self) -> int:
        """Rows of the source before ``--where``: one more pass, so asked for only when a filter was given."""
        return int(self.run(f"select count(*) from {RAW_VIEW}")[0][0])

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

    def run_at_most(self, sql: str, params: list | None, limit: int) -> list[tuple] | None:
        """The rows of a query when there are at most ``limit``, else None (and no more than ``limit + 1`` fetched:
        memory stays bounded whatever the query returns)."""
        try:
            rows = self.con.execute(sql, params or []).fetchmany(limit + 1)
        except duckdb.Error as exc:
            raise SourceError(f"{self.name}: {_first_line(exc)}") from exc
        return rows if len(rows) <= limit else None


@dataclass(frozen=True)
class Bin:
    """``--bin COL=EDGES``: a numeric column cut into half-open bands ``[edge_i, edge_i+1)``, below the first edge
    and from the last edge up. Labels read ``<18``, ``18-24`` (whole-number edges on a whole-number column: the
    band's last value), or ``[18.5, 25)`` otherwise, and ``>=65``; a missing value stays missing."""

    column: str
    edges: tuple[float, ...]

    def labels(self, integral: bool) -> list[str]:
        e = [_num(x) for x in self.edges]
        whole = integral and all(float(x).is_integer() for x in self.edges)
        inner = [f"{a}-{_num(b - 1)}" if whole else f"[{a}, {c})"
                 for a, b, c in zip(e, self.edges[1:], e[1:])]
        return [f"<{e[0]}", *inner, f">={e[-1]}"]

    def sql(self, integral: bool) -> str:
        """The CASE expression of the bands. Edges are floats checked by ``parse_bins`` and labels are built from
        them, so no text a user typed reaches the SQL."""
        col = quote_ident(self.column)
        labels = self.labels(integral)
        whens = " ".join(f"when {col} < {float(edge)!r} then {_literal(label)}"
                         for edge, label in zip(self.edges, labels))
        return f"case when {col} is null then null {whens} else {_literal(labels[-1])} end"


def parse_bins(specs: Sequence[str]) -> tuple[Bin, ...]:
    """``age=18,25,35,50,65`` -> ``Bin("age", (18, 25, 35, 50, 65))``. Edges must be finite numbers, strictly
    increasing as written; a column may be banded once."""
    bins: dict[str, Bin] = {}
    for spec in specs:
        col, sep, text = spec.partition("=")
        col = col.strip()
        if not sep or not col or not text.strip():
            raise SourceError(f"--bin {spec!r}: write COLUMN=EDGES, e.g. --bin age=18,25,35,50,65")
        try:
            edges = tuple(float(x) for x in text.split(","))
        except ValueError:
            raise SourceError(f"--bin {spec!r}: edges must be numbers separated by commas") from None
        if any(x != x or x in (float("inf"), float("-inf")) for x in edges):
            raise SourceError(f"--bin {spec!r}: edges must be finite numbers")
        if any(b <= a for a, b in zip(edges, edges[1:])):
            raise SourceError(f"--bin {spec!r}: edges must be strictly increasing")
        if col in bins:
            raise SourceError(f"--bin {spec!r}: column '{col}' is already banded")
        bins[col] = Bin(col, edges)
    return tuple(bins.values())


@contextmanager
def open_source(path: Path | str, table: str | None = None, *, where: str | None = None,
                bins: Sequence[str] | Sequence[Bin] = ()) -> Iterator[Source]:
    """A CSV/Parquet/JSON file read by DuckDB's own readers, or ``schema.table`` of a DuckDB file (read-only),
    seen through ``VIEW``: rows kept by ``where`` (confined), columns of ``bins`` replaced by their bands."""
    p = Path(path)
    suffix = p.suffix.lower()
    banded = tuple(b if isinstance(b, Bin) else parse_bins([b])[0] for b in bins)
    if not p.exists() and not any(ch in str(p) for ch in "*?["):
        raise SourceError(f"{p}: file not found")
    if p.is_file() and p.stat().st_size == 0:
        raise SourceError(f"{p}: the file is empty (no header, no rows)")
    if suffix in DUCKDB_FILES:
        if not table:
            raise SourceError(f"{p}: a DuckDB file needs --table schema.table")
        con = _connect(p, read_only=True)
        name = f"{p}:{table}"
        try:
            con.execute(f"create temp view {RAW_VIEW} as select * from {_table_ref(con, p, table)}")
        except BaseException:
            con.close()
            raise
    elif suffix in FILE_READERS:
        con, name = _connect(None), str(p)
        try:
            getattr(con, FILE_READERS[suffix])(str(p)).create_view(RAW_VIEW)
        except duckdb.Error as exc:
            con.close()
            raise SourceError(f"{p}: cannot read as {suffix[1:]} ({_first_line(exc)})") from exc
    else:
        known = ", ".join([*FILE_READERS, *DUCKDB_FILES])
        raise SourceError(f"{p}: unsupported file type '{suffix or p.name}' (supported: {known})")
    try:
        raw = Source(con, name, _describe(con, RAW_VIEW))
        _require_rows(raw, RAW_VIEW, table=table is not None)
        rendered = None
        if where is not None:  # sqlglot loads only for a filter: it is a tenth of a second of every audit's start
            from .row_filter import confine_where

            rendered = confine_where(where, raw.columns, name)
        _create_view(raw, banded, rendered)
        bands = {b.column: tuple(b.labels(_integral(raw.columns[b.column]))) for b in banded}
        src = Source(con, name, _describe(con, VIEW), rendered, banded, bands)
        if rendered is not None:
            _require_rows(src, VIEW, where)
        yield src
    finally:
        con.close()


def _describe(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {r[0]: str(r[1]) for r in con.execute(f"describe select * from {view}").fetchall()}


def _create_view(raw: Source, bins: tuple[Bin, ...], where: str | None) -> None:
    """``VIEW``: the raw source with banded columns replaced and the confined filter applied."""
    for b in bins:
        raw.require(b.column)
        if not raw.is_numeric(b.column):
            raise SourceError(f"{raw.name}: --bin column '{b.column}' is {raw.columns[b.column]}, not a number")
    replace = ", ".join(f"{b.sql(_integral(raw.columns[b.column]))} as {quote_ident(b.column)}" for b in bins)
    select = f"select * replace ({replace})" if replace else "select *"
    raw.run(f"create temp view {VIEW} as {select} from {RAW_VIEW}" + (f" where {where}" if where else ""))


def _require_rows(src: Source, view: str, where: str | None = None, table: bool = False) -> None:
    """One line for a source with no rows (a CSV with a header only, an empty table) or a filter that keeps none,
    before any column lookup can turn it into a confusing 'no column' error."""
    if src.run(f"select 1 from {view} limit 1"):
        return
    if where is not None:
        raise SourceError(f"{src.name}: no rows match --where {' '.join(where.split())!r} "
                          f"(of {src.rows_read():,} rows read)")
    raise SourceError(f"{src.name}: {'the table' if table else 'the file'} has no rows "
                      f"(columns: {', '.join(src.columns) or 'none'})")


def _integral(type_name: str) -> bool:
    return type_name.split("(")[0].upper() in _INTEGRAL


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else format(x, "g")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connect(path: Path | None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """No progress bar: DuckDB draws one on stdout once a query runs 2 s (a big file on a busy machine), and stdout
    holds the audit's table or its ONE JSON document."""
    try:  # a file read by DuckDB's readers needs no database of its own: a scratch cursor's temp views are its own
        con = duckdb.connect(str(path), read_only=read_only) if path else scratch()
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot open ({_first_line(exc)})") from exc
    con.execute("set enable_progress_bar = false")
    return con


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
