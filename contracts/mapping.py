"""Mappings: where an integration's entity comes from and how its columns become the entity's contract columns.

A team whose exports or synced tables do not look like a built-in platform's (a Klaviyo send log, a Meta Ads
insights export, a decision log with its own names) declares per entity in ``steward.yaml`` which file or table holds
it and how each contract column is read from it::

    mappings:
      touches:
        file: sends.csv
        timezone: UTC
        columns:
          touch_id: Event ID                                  # rename: a source column
          email: {column: Email}                              # the same, long form
          channel: {const: email}                             # a constant
          touched_at: {expr: "strptime(\"Sent At\", '%d/%m/%Y %H:%M')"}   # a confined SQL expression
          gender: {column: Sex, values: {M: male, F: female}}  # a value map; unlisted values pass through

The mapping is data, judged here before anything is read: each target is a column of the entity's contract, and
each expression is parsed by sqlglot (DuckDB's dialect) and allowed only when every node of it is a column reference,
a literal, arithmetic, a comparison, ``CASE``, ``CAST``/``TRY_CAST``, ``COALESCE``/``NULLIF`` or a call of a scalar
function on ``ALLOWED_FUNCTIONS``. A subquery, a table function (``read_csv``), a setting (``current_setting``), the
environment (``getenv``), a pragma or a second statement is refused, so the expression can only compute over the
row it is given. What runs is sqlglot's rendering of the checked tree (``integrations/sources/mapping.py``), never
the text as written. No I/O here: the source's actual columns are compared when it is read.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlglot
from pydantic import BaseModel, ConfigDict, model_serializer, model_validator
from sqlglot import exp

from .registry import SOURCE_CONTRACTS

__all__ = ["ColumnSpec", "EntityMapping", "MappingError", "ALLOWED_FUNCTIONS", "FORMATS", "parse_expression",
           "check_mappings", "format_for"]

Scalar = str | int | float | bool

# DuckDB's scalar functions an expression may call (names as DuckDB spells them, lower case): each computes over the
# values it is given and nothing else; none reads a file, a URL, a setting, a secret, a sequence or the catalog, and
# none aggregates rows. Add a harmless one here when a real export needs it.
ALLOWED_FUNCTIONS = frozenset({
    # text
    "lower", "upper", "trim", "ltrim", "rtrim", "replace", "regexp_replace", "regexp_extract", "regexp_matches",
    "split_part", "concat", "concat_ws", "substr", "substring", "left", "right", "length", "strlen", "lpad", "rpad",
    "starts_with", "ends_with", "contains", "strpos", "reverse", "md5", "sha256",
    # conditionals
    "coalesce", "nullif", "ifnull", "greatest", "least",
    # dates and times: parsing and formatting
    "strptime", "try_strptime", "strftime", "make_timestamp", "make_date", "epoch_ms", "to_timestamp", "date_trunc",
    "date_part", "datepart", "last_day", "timezone", "year", "month", "day",
    # numbers
    "round", "floor", "ceil", "ceiling", "abs", "sign", "trunc", "power", "pow", "sqrt", "ln", "log", "log10",
})
# sqlglot nodes an expression may hold besides function calls: values, operators and conditionals
_ALLOWED_NODES = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Neg, exp.Not, exp.And, exp.Or,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.DPipe, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT,
    exp.LTE, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Case, exp.If, exp.Cast, exp.TryCast,
    exp.DataType, exp.DataTypeParam, exp.Coalesce, exp.Nullif, exp.Interval, exp.Var, exp.Tuple)
_FUNCTION_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
FORMATS: dict[str, str] = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".jsonl": "json",
                           ".ndjson": "json", ".parquet": "parquet"}
_KINDS_WITH_MAPPINGS = ("export_files", "warehouse_tables")


class MappingError(ValueError):
    """A mapping that cannot be applied: ``field`` is its path under the integration (``mappings.touches.columns.
    touched_at``), ``reason`` what is wrong, in words."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """How one contract column is read: a source ``column``, a constant (``const``) or an expression (``expr``),
    optionally through a value map (``values``: source value -> contract value; others pass through, null stays
    null). A plain string in YAML is a rename (``column``)."""

    column: str | None = None
    const: Scalar | None = None
    expr: str | None = None
    values: dict[str, Scalar | None] | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"column": data}
        if isinstance(data, dict) and isinstance(data.get("values"), dict):  # YAML keys: 1, true, M -> text
            return {**data, "values": {_key_text(k): v for k, v in data["values"].items()}}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> "ColumnSpec":
        given = [k for k in ("column", "const", "expr") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of column, const or expr" + (f" (found {', '.join(given)})"
                                                                          if given else ""))
        if self.values is not None and "const" in given:
            raise ValueError("values maps a column or an expression, not a constant")
        if self.column is not None and not self.column.strip():
            raise ValueError("column is empty")
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler: Any) -> Any:
        """Only what was given, and ``const: null`` kept (a config written back reads the same)."""
        data = handler(self)
        if isinstance(data, dict) and "const" in self.model_fields_set:
            data["const"] = self.const
        return data

    def source_columns(self) -> set[str]:
        """The source columns this spec reads."""
        if self.column is not None:
            return {self.column}
        if self.expr is not None:
            return {c.name for c in parse_expression(self.expr).find_all(exp.Column)}
        return set()


class EntityMapping(_Strict):
    """One entity's source (``file`` and ``format`` for export files, ``table`` for synced warehouse tables), what a
    timestamp without an offset means in it (``timezone``; without one such a value is refused, as for any team
    file) and its columns (contract column -> ``ColumnSpec``; contract columns not listed are read by their own
    name when the source has them)."""

    file: str | None = None
    format: Literal["csv", "json", "parquet"] | None = None
    table: str | None = None
    timezone: str | None = None
    columns: dict[str, ColumnSpec] = {}

    def source_columns(self) -> set[str]:
        return set().union(*(spec.source_columns() for spec in self.columns.values())) if self.columns else set()

    def fingerprint(self) -> str:
        """A hash of the mapping, so the same file read through a changed mapping is new content."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def format_for(mapping: EntityMapping) -> str | None:
    """The reader a mapped file needs: ``format`` when given, else from the file's extension."""
    if mapping.format is not None:
        return mapping.format
    return FORMATS.get(PurePosixPath(mapping.file or "").suffix.lower())


def parse_expression(text: str) -> exp.Expression:
    """``text`` as one confined scalar expression (DuckDB dialect); raises ``ValueError`` naming the first rule it
    breaks."""
    try:
        parsed = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError:
        raise ValueError("is not a valid SQL expression") from None
    if len(parsed) != 1:
        raise ValueError(f"must be one expression, found {len(parsed)} statements")
    tree = parsed[0]
    for node in tree.walk():
        _allowed(node)
    return tree


def _allowed(node: exp.Expression) -> None:
    if isinstance(node, (exp.Query, exp.Subquery, exp.Exists)):
        raise ValueError("holds a subquery, which is not allowed (an expression computes over its row only)")
    if isinstance(node, exp.Column) and (node.table or not isinstance(node.this, exp.Identifier)):
        raise ValueError(f"reads {node.sql(dialect='duckdb')}: name a source column without a table")
    if isinstance(node, exp.Var) and not _WORD.match(node.name):
        raise ValueError(f"holds {node.name!r}, which is not allowed")
    if isinstance(node, (exp.Coalesce, exp.Nullif, exp.Cast, exp.TryCast, exp.If, exp.Case)):
        return
    if isinstance(node, exp.Func):
        name = _function_name(node)
        if name not in ALLOWED_FUNCTIONS:
            raise ValueError(f"calls function {name}, which is not on the allowed list")
        return
    if not isinstance(node, _ALLOWED_NODES):
        raise ValueError(f"holds {type(node).__name__.upper()}, which is not allowed in an expression")


def _function_name(node: exp.Func) -> str:
    """The function as DuckDB will be asked to call it: sqlglot's own rendering, which is what runs."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    found = _FUNCTION_NAME.match(node.sql(dialect="duckdb"))
    return found.group(1).lower() if found else type(node).__name__.lower()


def check_mappings(platform: str, kind: str, mappings: dict[str, EntityMapping]) -> None:
    """Every mapping of one integration against its platform's contracts; raises ``MappingError`` for the first
    problem, with its field path under the integration."""
    if mappings and kind not in _KINDS_WITH_MAPPINGS:
        raise MappingError("mappings", f"apply to kind export_files or warehouse_tables, not {kind}")
    for entity, mapping in mappings.items():
        where = f"mappings.{entity}"
        contract = SOURCE_CONTRACTS.get(f"{platform}.{entity}")
        if contract is None:
            known = sorted(k.split(".", 1)[1] for k in SOURCE_CONTRACTS if k.startswith(f"{platform}."))
            raise MappingError(where, f"{platform} has no entity '{entity}' (entities: {', '.join(known)})")
        _check_source(where, kind, platform, mapping)
        if mapping.timezone is not None:
            try:
                ZoneInfo(mapping.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise MappingError(f"{where}.timezone", f"'{mapping.timezone}' is not a time zone (write it like "
                                                        "UTC or Europe/Paris)") from None
        columns = contract.columns()
        for target, spec in mapping.columns.items():
            if target not in columns:
                raise MappingError(f"{where}.columns.{target}", f"not a column of {contract.stream} (columns: "
                                                                f"{', '.join(columns)})")
            if spec.expr is not None:
                try:
                    parse_expression(spec.expr)
                except ValueError as exc:
                    raise MappingError(f"{where}.columns.{target}.expr", str(exc)) from None


def _check_source(where: str, kind: str, platform: str, mapping: EntityMapping) -> None:
    if kind == "export_files":
        if mapping.table is not None:
            raise MappingError(f"{where}.table", "export files are read from 'file', not 'table'")
        if mapping.file is not None:
            path = PurePosixPath(mapping.file)
            if path.is_absolute() or ".." in path.parts or "\\" in mapping.file or not path.name:
                raise MappingError(f"{where}.file", f"'{mapping.file}' must be a file inside the integration's path")
            if format_for(mapping) is None:
                raise MappingError(f"{where}.format", f"cannot tell the format of '{mapping.file}': add format: csv, "
                                                      "json or parquet")
        elif mapping.format is not None:
            raise MappingError(f"{where}.format", "applies to a mapped 'file'")
        return
    if mapping.file is not None or mapping.format is not None:
        raise MappingError(f"{where}.file", "warehouse tables are read from 'table', not 'file'")
    if mapping.table is not None and not _TABLE.match(mapping.table):
        raise MappingError(f"{where}.table", f"'{mapping.table}' is not a table name (schema.table)")
    if mapping.table is None and platform == "custom":
        raise MappingError(f"{where}.table", "a custom entity on warehouse_tables needs the table or view to read")


def _key_text(key: Any) -> str:
    """A value map's key as the source value's text: YAML reads ``1`` as a number and ``true`` as a boolean."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        raise ValueError("values: a null key cannot be mapped (a null stays null)")
    return str(key)
