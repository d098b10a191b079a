"""A file audit's ``--where``: a row filter a team writes in SQL, confined to one boolean expression over the
source's own columns.

A file audit's connection must read the file it audits, so it cannot be locked like the launch audit's
(``confined_sql.py``); the filter is confined by what it may contain instead. Two parsers stand between the text
and DuckDB, as in ``confined_sql.py``:

1. **sqlglot** parses it in DuckDB's dialect as exactly one expression, and every node of the tree must be on a
   whitelist: column references (unqualified, and each a real column of the source), literals, comparisons,
   ``and``/``or``/``not``, ``in`` over a list, ``between``, ``is [not] null``, ``like``/``ilike``, arithmetic,
   ``||``, ``cast``/``try_cast``, ``case``, and the scalar functions of ``FILTER_FUNCTIONS``. No subquery, no table
   function, no parameter, no aggregate or window: each is refused with the rule it breaks.
2. What runs is sqlglot's rendering of that tree with every identifier quoted (column names rewritten to the
   source's own spelling), never the text as written, and **DuckDB's own parser** (``json_serialize_sql``) reads
   the rendering once more: only the expression classes and function names above may appear in its tree.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import duckdb
import sqlglot
from sqlglot import exp

from ...contracts.errors import SourceError

__all__ = ["FILTER_FUNCTIONS", "confine_where"]

# Scalar functions a filter may call, as DuckDB's parser names them (operators included). Pure computations over
# the values they are given: none reads a file, a URL, a setting, a secret or the catalog.
FILTER_FUNCTIONS = frozenset({
    "+", "-", "*", "/", "//", "%", "||", "~~", "!~~", "~~*", "!~~*",
    "lower", "upper", "lcase", "ucase", "trim", "ltrim", "rtrim", "length", "strlen", "substring", "substr",
    "starts_with", "ends_with", "prefix", "suffix", "contains", "concat", "nullif", "ifnull", "greatest", "least",
    "abs", "round", "floor", "ceil", "ceiling", "year", "month", "day", "quarter", "week", "dayofweek", "isodow",
    "date_trunc", "datetrunc", "date_part", "datepart", "date_diff", "datediff", "strftime", "current_date", "today",
    "to_days", "to_hours", "to_minutes", "to_seconds", "to_weeks", "to_months", "to_years", "trunc",  # intervals
})

# sqlglot classes a filter may hold (functions included; ``exp.Anonymous`` is checked by name instead).
_NODES = tuple(getattr(exp, name) for name in (
    "Column", "Identifier", "Literal", "Boolean", "Null", "Paren", "Var", "DataType", "DataTypeParam",
    "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "NullSafeEQ", "NullSafeNEQ", "And", "Or", "Not", "In", "Between", "Is",
    "Like", "ILike", "Escape", "Add", "Sub", "Mul", "Div", "IntDiv", "Mod", "Neg", "DPipe", "Cast", "TryCast",
    "Case", "If", "Interval",
    "Lower", "Upper", "Trim", "Length", "Substring", "StartsWith", "EndsWith", "Contains", "Concat", "Coalesce",
    "Nullif", "Greatest", "Least", "Abs", "Round", "Floor", "Ceil", "Year", "Month", "Day", "Quarter", "Week",
    "DayOfWeek", "DateTrunc", "TimestampTrunc", "TimeToStr", "CurrentDate", "DateDiff",
) if hasattr(exp, name))
# DuckDB's expression classes a filter may hold; FUNCTION is checked against FILTER_FUNCTIONS.
_DUCKDB_CLASSES = {"CONJUNCTION", "COMPARISON", "BETWEEN", "OPERATOR", "CONSTANT", "COLUMN_REF", "CAST", "CASE",
                   "FUNCTION", "TYPE"}


def confine_where(text: str, columns: Iterable[str], source: str) -> str:
    """The SQL that will filter ``source``'s rows for ``text``: sqlglot's rendering of one whitelisted boolean
    expression whose columns are ``columns``. Raises ``SourceError`` (one line, naming the source and the rule)."""
    known = {c.lower(): c for c in columns}
    try:
        tree = _parse_one(text)
        for node in tree.walk():
            _check_node(node, known)
        rendered = tree.sql(dialect="duckdb", identify=True, comments=False)  # a comment could close itself
        _confirm_with_duckdb(rendered)
    except _Refused as exc:
        raise SourceError(f"{source}: --where is refused: {exc}") from None
    return rendered


class _Refused(ValueError):
    """A rule the filter breaks, in words."""


def _parse_one(text: str) -> exp.Expression:
    if not text.strip():
        raise _Refused("it is empty")
    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError:
        raise _Refused("it is not a valid SQL expression") from None
    if len(statements) != 1:
        raise _Refused(f"it must be one expression, found {len(statements)} statements")
    tree = statements[0]
    if isinstance(tree, (exp.Query, exp.DDL, exp.DML, exp.Command)):
        raise _Refused("it must be a condition on columns (e.g. age >= 18 and region = 'EU'), not a statement")
    return tree


def _check_node(node: exp.Expression, known: dict[str, str]) -> None:
    if isinstance(node, (exp.Query, exp.Subquery, exp.Exists)) or (isinstance(node, exp.In)
                                                                    and node.args.get("query")):
        raise _Refused("it has a subquery; a filter may only compare this source's columns with values")
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        raise _Refused("it has a parameter placeholder; write the value into the filter")
    if isinstance(node, exp.In) and (node.args.get("unnest") or node.args.get("field")):
        raise _Refused("'in' must list values, e.g. region in ('EU', 'UK')")
    if isinstance(node, exp.Column):
        _check_column(node, known)
    elif isinstance(node, exp.Anonymous):
        if node.name.lower() not in FILTER_FUNCTIONS:
            raise _Refused(f"it calls function {node.name.lower()}, which is not on the allowed list")
    elif isinstance(node, exp.Window):
        raise _Refused("it has a window (over ...): aggregates and windows cannot filter rows")
    elif isinstance(node, exp.AggFunc):
        raise _Refused(f"it calls {node.sql_name().lower()}: aggregates and windows cannot filter rows")
    elif isinstance(node, exp.Func) and not isinstance(node, _NODES):
        raise _Refused(f"it calls function {node.sql_name().lower()}, which is not on the allowed list")
    elif not isinstance(node, _NODES):
        raise _Refused(f"it uses {type(node).__name__.upper()}, which a row filter may not")


def _check_column(column: exp.Column, known: dict[str, str]) -> None:
    if column.table or column.args.get("db") or column.args.get("catalog"):
        raise _Refused(f"column {column.sql(dialect='duckdb')} is qualified; name the source's columns alone")
    if not isinstance(column.this, exp.Identifier):
        raise _Refused(f"{column.sql(dialect='duckdb')[:40]} is not a column name")
    real = known.get(column.name.lower())
    if real is None:
        raise _Refused(f"no column '{column.name}' (columns: {', '.join(known.values())})")
    column.this.replace(exp.to_identifier(real, quoted=True))


def _confirm_with_duckdb(rendered: str) -> None:
    """DuckDB's own parse of what will run: only whitelisted expression classes and functions, so sqlglot and DuckDB
    cannot read the same text differently."""
    with duckdb.connect(":memory:") as con:
        tree = json.loads(con.execute("select json_serialize_sql(?)", [f"select 1 where {rendered}"]).fetchone()[0])
    statements = tree.get("statements", [])
    if tree.get("error") or len(statements) != 1:
        raise _Refused("DuckDB does not read it as one expression")
    node = statements[0].get("node", {})
    if node.get("from_table", {}).get("type") != "EMPTY" or len(node.get("select_list", [])) != 1:
        raise _Refused("DuckDB does not read it as one expression")
    _walk(node.get("where_clause"))


def _walk(node: Any) -> None:
    if isinstance(node, list):
        for value in node:
            _walk(value)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("class")
    if kind is not None:
        if kind not in _DUCKDB_CLASSES:
            raise _Refused(f"DuckDB reads a {kind.lower()} in it, which a row filter may not hold")
        if kind == "FUNCTION" and (node.get("schema") or node.get("catalog")
                                   or str(node.get("function_name", "")).lower() not in FILTER_FUNCTIONS):
            raise _Refused(f"it calls function {str(node.get('function_name', '')).lower()}, which is not on the "
                           "allowed list")
    for value in node.values():
        _walk(value)
