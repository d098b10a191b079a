"""A mapping (``contracts/mapping.py``) as SQL: the projection that turns a source's rows into its entity's columns.

The readers (``export_files``, ``warehouse_tables``) wrap their own query: ``select <projection> from (<reader
query>)``. The projection is rendered by sqlglot from nodes it builds (quoted identifiers; constants and value-map
keys and values as escaped literals) and from the expression trees ``contracts/mapping.py`` checked, never by
pasting text from the config; DuckDB's own parser then reads the rendered list once more (``_confirm``) and every
function it calls must be on the allow-list, in case sqlglot and DuckDB read the same text differently.

Confinement comes from that parse, not from the connection: the export reader's own DuckDB connection needs
``enable_external_access`` (``read_csv`` reads the file), so an expression must not be able to name a file, a URL, a
setting or a table, and the allow-list makes sure it cannot. Where the projection runs on rows already read (a
PostgreSQL or DuckDB warehouse table, ``project_frame``), it runs in a locked in-memory connection as well.

``timezone`` is applied here, before the contract sees the rows: a timestamp column's value without an offset is
read in the mapping's zone and handed on as ISO-8601 UTC text (``...Z``), so the contract's team-file rule (refuse a
value without an offset) passes it; a value with an offset, or one that is not a timestamp (the contract names it),
passes unchanged.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import duckdb
import pandas as pd
import pyarrow as pa

from ...contracts.errors import MappingColumnMissing, MappingFailed, SourceError
from ...contracts.mapping import ALLOWED_FUNCTIONS, ColumnSpec, EntityMapping, parse_expression
from ...contracts.registry import contract_for
from ...contracts.timestamps import ZONED, timestamp_columns
from ..warehouse.confined_sql import describe_error
from sqlglot import exp

__all__ = ["MappingFailed", "MappingColumnMissing", "check_columns", "select_list", "project", "project_frame"]

# DuckDB parses these operators and syntax forms as functions; each is arithmetic, text or interval construction
_OPERATORS = frozenset({"+", "-", "*", "/", "//", "%", "||", "~~", "!~~", "~~*", "!~~*", "to_years", "to_months",
                        "to_days", "to_hours", "to_minutes", "to_seconds", "to_weeks", "to_milliseconds",
                        "to_microseconds"})
# a time of day with an offset (``timestamps.ZONED``); RE2, DuckDB's regex engine, reads the pattern as Python does
_ZONED_RE2 = ZONED.pattern
_LOCKED = {"enable_external_access": False, "autoinstall_known_extensions": False,
           "autoload_known_extensions": False}


def check_columns(mapping: EntityMapping, entity: str, present: Iterable[str], where: str) -> None:
    """Raise ``MappingColumnMissing`` naming ``where`` (the file or table) and the first column the mapping reads
    that the source does not have."""
    have = {c.lower() for c in present}
    for target, spec in mapping.columns.items():
        for column in sorted(spec.source_columns()):
            if column.lower() not in have:
                found = ", ".join(list(present)[:12])
                raise MappingColumnMissing(f"{where}: has no column '{column}' (mappings.{entity}.columns.{target}); "
                                           f"found: {found}")


def select_list(mapping: EntityMapping, stream_key: str, present: list[str], keep: Iterable[str] = ()) -> str:
    """The rendered select list: the contract's columns in its order (mapped, or read by their own name when the
    source has them; others left out, so the contract sees them missing), then ``keep`` as they are."""
    contract = contract_for(stream_key)
    by_lower = {c.lower(): c for c in present}
    zoned = set(timestamp_columns(contract.schema())) - set(contract.dates) if mapping.timezone else set()
    items: list[str] = []
    for target in contract.columns():
        spec = mapping.columns.get(target)
        if spec is not None:
            node = _render(spec)
        elif target.lower() in by_lower:
            node = exp.column(by_lower[target.lower()], quoted=True)
        else:
            continue
        sql = node.sql(dialect="duckdb", identify=True)
        if target in zoned:
            sql = _in_zone(sql, str(mapping.timezone))
        items.append(f"{sql} AS {_ident(target)}")
    items += [_ident(k) for k in keep]
    rendered = ", ".join(items) if items else "NULL AS __none"
    _confirm(rendered)
    return rendered


def project(mapping: EntityMapping, stream_key: str, present: list[str], relation: str,
            keep: Iterable[str] = ()) -> str:
    """``relation`` (the reader's own query, Steward's text) wrapped in the mapping's projection."""
    return f"SELECT {select_list(mapping, stream_key, present, keep)} FROM ({relation}) AS mapped_source"


def project_frame(mapping: EntityMapping, stream_key: str, frame: pd.DataFrame, keep: Iterable[str] = (),
                  where: str = "") -> pd.DataFrame:
    """Rows already read (a warehouse table's batch) through the projection, in a locked in-memory DuckDB. An
    expression failing on a value is ``MappingFailed`` naming ``where``, without DuckDB's message (it quotes the
    value)."""
    con = duckdb.connect(":memory:", config=dict(_LOCKED))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET lock_configuration = true")
        source = pa.Table.from_pandas(frame, preserve_index=False)
        con.register("mapped_rows", source)
        sql = project(mapping, stream_key, list(frame.columns), "SELECT * FROM mapped_rows", keep)
        relation = con.sql(sql)
        table = relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
    except duckdb.Error as exc:
        raise MappingFailed(f"{where}: cannot read {stream_key} through its mapping: {describe_error(exc)}") from None
    finally:
        con.close()
    return table.to_pandas(types_mapper=_NULLABLE.get)


_NULLABLE = {pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
             pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def _render(spec: ColumnSpec) -> exp.Expression:
    if spec.column is not None:
        node: exp.Expression = exp.column(spec.column, quoted=True)
    elif spec.expr is not None:
        node = exp.Paren(this=parse_expression(spec.expr))
    else:
        return _literal(spec.const)
    if not spec.values:
        return node
    text = exp.Cast(this=node.copy(), to=exp.DataType.build("VARCHAR"))
    ifs = [exp.If(this=exp.Literal.string(key), true=_literal(value)) for key, value in spec.values.items()]
    plain = all(v is None or isinstance(v, str) for v in spec.values.values())
    return exp.Case(this=text, ifs=ifs, default=text.copy() if plain else node)


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(repr(value))
    return exp.Literal.string(str(value))


def _in_zone(sql: str, zone: str) -> str:
    """A value without an offset read in ``zone``, as UTC ISO text; others (offset given, not a timestamp, null)
    unchanged, so the contract judges them as usual."""
    text = f"CAST(({sql}) AS VARCHAR)"
    return (f"CASE WHEN {text} IS NULL OR regexp_matches({text}, {_lit(_ZONED_RE2)}) THEN {text} "
            f"ELSE coalesce(strftime(timezone('UTC', timezone({_lit(zone)}, TRY_CAST({text} AS TIMESTAMP))), "
            f"'%Y-%m-%dT%H:%M:%S.%fZ'), {text}) END")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _confirm(rendered: str) -> None:
    """DuckDB's own parse of the select list: every function on the allow-list, no subquery or table."""
    con = duckdb.connect(":memory:", config=dict(_LOCKED))
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [f"SELECT {rendered}"]).fetchone()[0])
    finally:
        con.close()
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        raise SourceError("mapping: the projection is not one select list as DuckDB reads it")
    _walk(tree["statements"][0]["node"].get("select_list", []))
    if tree["statements"][0]["node"].get("from_table", {}).get("type", "EMPTY") != "EMPTY":
        raise SourceError("mapping: the projection reads a table")


def _walk(node: Any) -> None:
    if isinstance(node, list):
        for value in node:
            _walk(value)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("class")
    if kind in ("SUBQUERY", "PARAMETER", "WINDOW", "LAMBDA"):
        raise SourceError(f"mapping: the projection holds a {kind.lower()}, which is not allowed")
    if kind == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        allowed = ALLOWED_FUNCTIONS | _OPERATORS | {"timezone", "strftime", "regexp_matches", "nullif"}
        if node.get("schema") or node.get("catalog") or name not in allowed:
            raise SourceError(f"mapping: the projection calls function {name}, which is not on the allowed list")
    for value in node.values():
        _walk(value)
