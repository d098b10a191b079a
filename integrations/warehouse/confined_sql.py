"""User SQL, confined: a launch spec's audience query may read Steward's own models and nothing else.

A launch spec is data, and so is the SQL in it. Three layers stand between that SQL and the machine:

1. **sqlglot** parses it in DuckDB's dialect: exactly one ``select`` (CTEs allowed), every table a
   ``staging.<model>`` or ``governance.<mart>`` (or a CTE visible where it is read), no function in ``from``
   (``read_text``, ``glob``, ``read_csv``, ``range``, ``unnest`` ...), no file path or URL as a table, no
   parameters, no ``attach``/``copy``/``pragma``/``set``/``install``/``load``.
2. What runs is sqlglot's rendering of the tree it checked, never the text as written, and **DuckDB's own parser**
   (``json_serialize_sql``) reads that rendering once more: its table references must be the allowed ones and every
   function it calls must be on ``ALLOWED_FUNCTIONS``. A whitelist, not a blacklist: DuckDB grows new functions that
   touch files, the network, extensions, settings or secrets with every release (``read_text``, ``glob``,
   ``query``, ``getenv``, ``duckdb_secrets``, ``current_setting``, ``nextval`` ...), and a blacklist would let the
   next one through silently, whereas a missing harmless function costs one line in this file.
3. It runs in a **locked DuckDB connection**: ``enable_external_access=false`` (no file outside the warehouse, no
   URL, no ``attach``, no extension install), no extension autoload or autoinstall, then ``lock_configuration``, so
   nothing in the session can switch them back. Even SQL that slipped past both parsers cannot read a file there.

On a PostgreSQL warehouse layers 1 and 2 run as they are, then ``confined_pg`` adds PostgreSQL's own: a second
parse of the PostgreSQL text, the server's plan, and a read-only transaction with a statement and a lock timeout.

The people a query returns are written, normalised (trimmed, lower case), to ``launch_input.audience`` with the audit
id; ``launch__audience`` reads them from there, so user SQL is never pasted into dbt SQL. Errors never carry query
results or file contents: a refused query names the rule it breaks, and a query that fails while running is reduced
to DuckDB's error type plus, only for errors raised before any row is read (parser, binder, catalog, permission),
their first line with quoted values masked.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb
import sqlglot
from sqlglot import exp

from ...contracts.errors import QueryFailed, WarehouseError

__all__ = ["ALLOWED_SCHEMAS", "ALLOWED_FUNCTIONS", "INPUT_TABLE", "QUERY_TIMEOUT_S", "RefusedQuery",
           "check_query", "confirm_with_duckdb", "locked_connection", "materialise_audience", "describe_error"]

# The schemas dbt builds from what Steward landed and checked: staging (stg_* and int_* models) and governance
# (gov_* marts). Not `raw` (landed rows before staging cleans them; every raw table has a stg_ model), not `ledger`
# (runs, the audit log, the alert outbox, launch verdicts: Steward's own records), not `launch`/`launch_input` (the
# audit's own output) and not `main`, `temp`, `system`, `information_schema` or `pg_catalog`.
ALLOWED_SCHEMAS = ("staging", "governance")
INPUT_TABLE = "launch_input.audience"
QUERY_TIMEOUT_S = 300.0  # an audience query on a laptop-sized warehouse takes seconds; this only stops runaways

# DuckDB function names (as DuckDB's parser reports them, operators included) an audience query may call. Each is a
# pure computation over the values it is given: none reads a file, a URL, a setting, a secret, a sequence or the
# catalog. Add a harmless function here when a real query needs it.
ALLOWED_FUNCTIONS = frozenset({
    # operators (DuckDB parses them as functions): arithmetic, concatenation, like / ilike / glob-pattern matching,
    # json and list access
    "+", "-", "*", "/", "//", "%", "**", "^", "||", "~~", "!~~", "~~*", "!~~*", "~~~", "!~~~", "->", "->>",
    "@>", "<@", "&&",
    # conditionals
    "coalesce", "nullif", "ifnull", "if", "greatest", "least",
    # text
    "lower", "upper", "lcase", "ucase", "trim", "ltrim", "rtrim", "length", "strlen", "len", "substring", "substr",
    "left", "right", "replace", "concat", "concat_ws", "starts_with", "ends_with", "prefix", "suffix", "contains",
    "strpos", "instr", "position", "split_part", "string_split", "str_split", "regexp_matches", "regexp_full_match",
    "regexp_replace", "regexp_extract", "lpad", "rpad", "reverse", "md5", "sha256", "hash", "levenshtein",
    "jaro_winkler_similarity", "like_escape", "ilike_escape",
    # dates and times
    "now", "today", "current_date", "get_current_timestamp", "date_trunc", "datetrunc", "date_part", "datepart",
    "date_diff", "datediff", "date_sub", "datesub", "date_add", "age", "year", "month", "day", "week", "quarter",
    "dayofweek", "isodow", "dayofyear", "epoch", "epoch_ms", "make_date", "make_timestamp", "strftime", "strptime",
    "try_strptime", "last_day", "to_days", "to_hours", "to_minutes", "to_seconds", "to_weeks", "to_months",
    "to_years", "time_bucket",
    # numbers
    "abs", "round", "floor", "ceil", "ceiling", "trunc", "sign", "power", "pow", "sqrt", "ln", "log", "log10",
    "random",
    # lists, structs, json values
    "list_value", "list_contains", "list_has", "list_has_any", "array_contains", "array_has", "array_length",
    "list_extract", "array_extract", "struct_pack", "struct_extract", "unnest", "json_extract",
    "json_extract_string", "json_value",
    # aggregates
    "count", "count_star", "sum", "avg", "mean", "min", "max", "bool_and", "bool_or", "any_value", "first", "last",
    "arg_max", "arg_min", "max_by", "min_by", "string_agg", "group_concat", "listagg", "list", "array_agg",
    "median", "quantile_cont", "quantile_disc", "stddev", "stddev_samp", "stddev_pop", "variance",
    "approx_count_distinct", "count_if",
    # window functions
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value",
    "last_value", "nth_value",
})

# Statements and clauses that are never part of an audience: sqlglot's classes for them, wherever they appear.
_FORBIDDEN = tuple(getattr(exp, name) for name in (
    "DML", "DDL", "Command", "Pragma", "Set", "Attach", "Detach", "Install", "Copy", "Use", "Into", "Describe",
    "Summarize", "Show", "Export") if hasattr(exp, name))
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# DuckDB's table reference types an audience may use; BASE_TABLE is checked for its schema.
_TABLE_REFS = {"BASE_TABLE", "SUBQUERY", "JOIN", "EMPTY", "EXPRESSION_LIST"}
# DuckDB errors raised before any row is read (planning the query, opening the connection): their message describes
# the query or the setup, not the data. Single-quoted text in them is masked all the same.
_SHAPE_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException,
                 duckdb.PermissionException, duckdb.ConnectionException)
_QUOTED = re.compile(r"'[^']*'")
# sqlglot logs the text of a statement it cannot parse fully ("falling back to a Command"): we refuse those anyway.
logging.getLogger("sqlglot").setLevel(logging.ERROR)
_LOCKED = {"enable_external_access": False, "autoinstall_known_extensions": False,
           "autoload_known_extensions": False}


class RefusedQuery(ValueError):
    """The query breaks a confinement rule; the message is the reason, in words, without the query's results."""


def check_query(sql: str) -> str:
    """The SQL that will run for ``sql``: sqlglot's rendering of the one ``select`` it parsed, confirmed by DuckDB's
    own parser. Raises ``RefusedQuery`` naming the first rule the query breaks."""
    tree = _parse_one(sql)
    for node in tree.walk():
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            raise RefusedQuery("has a parameter placeholder; write the value into the query")
        if isinstance(node, _FORBIDDEN):
            raise RefusedQuery(f"must be one select statement: {_kind(node)} is not allowed")
        if isinstance(node, exp.Func) and _in_from(node):
            raise RefusedQuery(f"reads table function {_func_name(node)}, which is not allowed")
        if isinstance(node, exp.Table):
            _check_table(node)
        if isinstance(node, exp.Anonymous) and node.name.lower() not in ALLOWED_FUNCTIONS:
            raise RefusedQuery(f"calls function {node.name.lower()}, which is not on the allowed list")
    rendered = tree.sql(dialect="duckdb")
    with _memory_connection() as con:
        confirm_with_duckdb(con, rendered)
    return rendered


def _parse_one(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        where = exc.errors[0] if exc.errors else {}
        raise RefusedQuery(f"is not valid SQL (near line {where.get('line', '?')}, column {where.get('col', '?')})") \
            from None
    except sqlglot.errors.SqlglotError:
        raise RefusedQuery("is not valid SQL") from None
    if len(statements) != 1:
        raise RefusedQuery(f"must be one select statement, found {len(statements)} statements")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise RefusedQuery(f"must be one select statement, not {_kind(tree)}")
    return tree


def _kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return f"{str(node.this).upper()} statement"
    return f"{type(node).__name__.upper()}"


def _func_name(node: exp.Func) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else node.sql_name().lower()


def _in_from(node: exp.Expression) -> bool:
    """A function whose value is a table: directly in ``from``, a join or ``lateral``, or as a table's name."""
    parent = node.parent
    while isinstance(parent, (exp.Alias, exp.TableAlias)):
        parent = parent.parent
    return isinstance(parent, (exp.From, exp.Join, exp.Lateral, exp.Table))


def _check_table(table: exp.Table) -> None:
    if isinstance(table.this, exp.Func):
        raise RefusedQuery(f"reads table function {_func_name(table.this)}, which is not allowed")
    if not isinstance(table.this, exp.Identifier):
        raise RefusedQuery(f"reads {table.this.sql(dialect='duckdb')[:60]}, which is not a table")
    name, schema = table.name, table.db
    if not _NAME.match(name) or (schema and not _NAME.match(schema)):
        raise RefusedQuery(f"reads '{name}', which is not a table name (files and URLs cannot be read)")
    if table.catalog:
        raise RefusedQuery(f"reads {table.catalog}.{schema}.{name}: name tables as schema.table, without a database")
    if not schema:
        if name.lower() not in _visible_ctes(table):
            raise RefusedQuery(f"reads table {name} without a schema: name it {ALLOWED_SCHEMAS[0]}.{name} or "
                               f"{ALLOWED_SCHEMAS[1]}.{name} (or define a CTE {name} before it is read)")
        return
    if schema.lower() not in ALLOWED_SCHEMAS:
        raise RefusedQuery(f"reads {schema}.{name}: only tables in schemas {', '.join(ALLOWED_SCHEMAS)} may be read")


def _visible_ctes(node: exp.Expression) -> set[str]:
    """The CTE names visible where ``node`` stands: those of every enclosing ``with``, and inside a CTE only those
    defined before it (or itself, in a ``with recursive``), as DuckDB binds them."""
    names: set[str] = set()
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.With):
            ctes = list(parent.expressions)
            index = next((i for i, c in enumerate(ctes) if c is child), len(ctes))
            names |= {c.alias_or_name.lower() for c in ctes[:index + (1 if parent.args.get("recursive") else 0)]}
        else:
            with_ = parent.args.get("with_") or parent.args.get("with")
            if isinstance(with_, exp.With) and child is not with_:
                names |= {c.alias_or_name.lower() for c in with_.expressions}
        child, parent = parent, parent.parent
    return names


def confirm_with_duckdb(con: duckdb.DuckDBPyConnection, rendered: str) -> None:
    """DuckDB's own parse of what will run (``json_serialize_sql``): one select, tables in the allowed schemas or
    CTEs, no table function, whitelisted functions only, no parameters. It guards against sqlglot and DuckDB reading
    the same text differently; ``check_query`` calls it, and ``materialise_audience`` again on the warehouse."""
    tree = json.loads(con.execute("select json_serialize_sql(?)", [rendered]).fetchone()[0])
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        raise RefusedQuery("must be one select statement (DuckDB does not read it as one)")
    ctes: set[str] = set()
    _collect_ctes(tree, ctes)
    _walk_duckdb(tree, ctes)


def _collect_ctes(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        out |= {entry["key"].lower() for entry in node.get("cte_map", {}).get("map", [])}
        for value in node.values():
            _collect_ctes(value, out)
    elif isinstance(node, list):
        for value in node:
            _collect_ctes(value, out)


def _walk_duckdb(node: Any, ctes: set[str]) -> None:
    if isinstance(node, list):
        for value in node:
            _walk_duckdb(value, ctes)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("class")
    if kind == "PARAMETER":
        raise RefusedQuery("has a parameter placeholder; write the value into the query")
    is_table_ref = kind is None and "sample" in node and "alias" in node and "modifiers" not in node
    if kind in ("FUNCTION", "WINDOW") or (kind is None and "function_name" in node and not is_table_ref):
        name = str(node.get("function_name", "")).lower()
        if node.get("schema") or node.get("catalog") or name not in ALLOWED_FUNCTIONS:
            raise RefusedQuery(f"calls function {name}, which is not on the allowed list")
    if is_table_ref:
        _check_duckdb_table(node, ctes)
    for value in node.values():
        _walk_duckdb(value, ctes)


def _check_duckdb_table(ref: dict, ctes: set[str]) -> None:
    kind = ref["type"]
    if kind == "TABLE_FUNCTION":
        name = str(ref.get("function", {}).get("function_name", "?")).lower()
        raise RefusedQuery(f"reads table function {name}, which is not allowed")
    if kind not in _TABLE_REFS:
        raise RefusedQuery(f"reads a {kind.lower().replace('_', ' ')}, which is not allowed")
    if kind != "BASE_TABLE":
        return
    schema, name = ref.get("schema_name", "").lower(), ref.get("table_name", "")
    allowed = schema in ALLOWED_SCHEMAS if schema else name.lower() in ctes
    if ref.get("catalog_name") or not allowed:
        raise RefusedQuery(f"reads {'.'.join(p for p in (schema, name) if p)}: only tables in schemas "
                           f"{', '.join(ALLOWED_SCHEMAS)} may be read")


@contextmanager
def _memory_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:", config=dict(_LOCKED))
    try:
        con.execute("set lock_configuration = true")
        yield con
    finally:
        con.close()


@contextmanager
def locked_connection(path: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file that can read and write that file only: no other file, no URL, no
    extension install or autoload, and its configuration locked so no statement can turn any of that back on."""
    try:
        con = duckdb.connect(str(path), config=dict(_LOCKED))
    except duckdb.Error as exc:  # e.g. another connection in this process holds the file with other settings
        raise WarehouseError(f"{path}: cannot open a confined connection ({describe_error(exc)})") from None
    try:
        con.execute("set lock_configuration = true")
        yield con
    finally:
        con.close()


def materialise_audience(path: Path | str, audit_id: str, queries: dict[str, str],
                         timeout_s: float = QUERY_TIMEOUT_S) -> dict[str, int]:
    """Run each confined query (``{"audience": sql, "eligible": sql}``) in a locked connection and keep the
    normalised emails it returns in ``launch_input.audience`` under ``audit_id``; rows of earlier audits are removed
    (one audit at a time per warehouse, like the launch tables). Returns the distinct people per part. On a
    PostgreSQL warehouse (``path`` a ``PostgresTarget``) the same checks run, then ``confined_pg``'s. A query still
    running after ``timeout_s`` (a runaway recursive CTE, a cross join of big models) is interrupted.

    Raises ``RefusedQuery`` (a rule broken) or ``QueryFailed`` (a runtime error, reduced by ``describe_error``)."""
    counts: dict[str, int] = {}
    if not isinstance(path, (str, Path)):  # a PostgresTarget: the same checks, then the server's own (confined_pg)
        from .confined_pg import materialise_audience_pg

        return materialise_audience_pg(path, audit_id, {part: check_query(sql) for part, sql in queries.items()},
                                       timeout_s)
    with locked_connection(path) as con:
        rendered = {part: check_query(sql) for part, sql in queries.items()}
        for sql in rendered.values():
            confirm_with_duckdb(con, sql)
        con.execute("create schema if not exists launch_input")
        con.execute(f"create table if not exists {INPUT_TABLE} (audit_id varchar, part varchar, email_key varchar)")
        con.execute("begin")
        con.execute(f"delete from {INPUT_TABLE}")
        for part, sql in rendered.items():
            failure = None
            timer = threading.Timer(timeout_s, con.interrupt)
            timer.start()
            try:
                con.execute(
                    f"insert into {INPUT_TABLE} select distinct ?, ?, email_key from ("
                    f"select nullif(lower(trim(cast(email as varchar))), '') as email_key from (\n{sql}\n) "
                    f"as audience_query) where email_key is not null", [audit_id, part])
            except duckdb.InterruptException:
                failure = f"was stopped after {timeout_s:g} s; narrow the query"
            except duckdb.Error as exc:
                failure = f"failed while running ({describe_error(exc)})"  # raised below: no chained DuckDB error
            finally:
                timer.cancel()
            if failure is not None:
                con.execute("rollback")
                raise QueryFailed(failure, part)
            counts[part] = con.execute(f"select count(*) from {INPUT_TABLE} where audit_id = ? and part = ?",
                                       [audit_id, part]).fetchone()[0]
        con.execute("commit")
    return counts


def describe_error(exc: BaseException) -> str:
    """One line about a DuckDB error that cannot carry a data value: its type, and for errors raised before any row
    is read, its first line with quoted values masked. Conversion, range and other runtime errors quote the value
    that failed (a customer's email, a file's contents), so only their type is kept."""
    kind = type(exc).__name__
    if isinstance(exc, _SHAPE_ERRORS):
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{kind}: {re.sub(_QUOTED, chr(39) + '…' + chr(39), first)[:200]}"
    return f"{kind}; DuckDB's message is withheld because it may quote data values"
