"""User SQL, confined, on a PostgreSQL warehouse: the DuckDB rules first, then the server's own reading and limits.

A launch spec's audience query is written once, in DuckDB's dialect, and checked by ``confined_sql.check_query`` on
both warehouses (sqlglot and DuckDB's parser: one ``select``, ``staging``/``governance`` tables or CTEs only,
whitelisted functions, no table functions or parameters). On PostgreSQL three more layers stand between that
checked query and the server:

1. **The text that runs is sqlglot's PostgreSQL rendering of the checked tree, without comments** (so PostgreSQL's
   nested ``/* /* */ */`` comments, which DuckDB does not have, cannot make the two read different statements), and
   sqlglot parses that text again in PostgreSQL's dialect: one select, allowed tables, and every function named on
   ``PG_ALLOWED_FUNCTIONS``. A whitelist again: ``pg_read_file``, ``pg_ls_dir``, ``lo_import``, ``dblink``,
   ``current_setting``, ``set_config``, ``nextval``, ``pg_sleep`` are not on it and never will be.
2. **PostgreSQL's own parser and planner** read it (``explain (verbose, format json)``, which plans without running):
   every relation the plan scans must be in an allowed schema (or ``raw``, which Steward's staging views read once
   the plan expands them), and a function scanned as a table must be on the whitelist.
3. It runs in a **read-only transaction** (``set transaction read only``: the server refuses table writes,
   ``nextval``, ``copy`` and DDL in it, though not every write: PostgreSQL 15 still lets ``lo_from_bytea`` make a
   large object, which the whitelist keeps out) with ``statement_timeout``, ``lock_timeout`` and ``search_path`` (``pg_catalog, pg_temp``) set for
   that transaction only. PostgreSQL has no switch like DuckDB's ``enable_external_access``: its file and network
   functions need a superuser or the ``pg_read_server_files``/``pg_execute_server_program`` roles, so give Steward's
   warehouse user neither (docs/prelaunch.md); the two checks above refuse them whatever the role.

The rows go to a temporary table (the one write a read-only transaction allows); a second transaction replaces
``launch_input.audience`` from it, so a refused, failed or stopped query leaves the previous audience untouched.
Errors carry no data values: PostgreSQL's message is kept (first line, quoted values masked) only for errors raised
while parsing or planning (SQLSTATE class 42: syntax, unknown table or column, permission), else only its type.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import sqlglot
from sqlglot import exp

from ...contracts.errors import QueryFailed, WarehouseError
from .dialect import to_postgres
from .pg import _psycopg, pg_connect
from .target import PostgresTarget

__all__ = ["PG_ALLOWED_FUNCTIONS", "render_for_postgres", "check_postgres_text", "materialise_audience_pg",
           "describe_pg_error"]

# PostgreSQL function names (as sqlglot renders them for PostgreSQL) the whitelisted DuckDB functions become, plus
# the SQL forms sqlglot parses as functions (cast, extract, ...). Each is a pure computation over its arguments. A
# DuckDB function with no PostgreSQL form (``hash``, ``week``, ``arg_min``, ``list_extract``) is passed through by
# sqlglot under its own name and refused here, rather than failing on the server.
PG_ALLOWED_FUNCTIONS = frozenset({
    "cast", "try_cast", "extract", "coalesce", "nullif", "greatest", "least", "case", "if",
    "lower", "upper", "trim", "ltrim", "rtrim", "btrim", "length", "char_length", "substring", "substr", "left",
    "right", "replace", "concat", "concat_ws", "starts_with", "strpos", "position", "split_part", "string_to_array",
    "regexp_replace", "regexp_match", "regexp_matches", "regexp_like", "lpad", "rpad", "reverse", "md5", "sha256",
    "convert_to", "encode", "levenshtein", "like", "ilike",
    "now", "current_date", "current_timestamp", "date_trunc", "date_part", "age", "make_date", "make_timestamp",
    "to_char", "to_date", "to_timestamp", "date", "interval",
    "abs", "div", "round", "floor", "ceil", "ceiling", "trunc", "sign", "power", "sqrt", "ln", "log", "log10", "random",
    "array", "array_length", "array_position", "cardinality", "unnest", "jsonb_extract_path_text",
    "jsonb_extract_path", "json_extract_path_text", "json_extract_path", "jsonb_path_query_first",
    "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "string_agg", "array_agg",
    "percentile_cont", "percentile_disc", "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp",
    "var_pop", "mode", "any_value",
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value",
    "last_value", "nth_value",
})
_ALLOWED_SCHEMAS = ("staging", "governance")  # confined_sql.ALLOWED_SCHEMAS (imported there; kept equal by a test)
_PLAN_SCHEMAS = (*_ALLOWED_SCHEMAS, "raw")  # what a plan may scan once staging views are expanded
# sqlglot's classes for operators (``and``, ``=``, ``||``, ``->``): some are Func subclasses, none calls a function
_OPERATORS = (exp.Binary, exp.Connector, exp.Unary)
_FUNC_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)")
_QUOTED = re.compile(r"'[^']*'")
_TEMP = "pg_temp.steward_audience_rows"
LOCK_TIMEOUT_S = 30.0  # a dbt build holding a model it is replacing: wait this long, then say so


def render_for_postgres(checked: str) -> str:
    """The PostgreSQL text for a query ``check_query`` returned: its tree without comments, through the warehouse
    layer's one DuckDB -> PostgreSQL translation (:func:`.dialect.to_postgres`)."""
    from .confined_sql import RefusedQuery

    tree = sqlglot.parse_one(checked, read="duckdb")
    stmt = to_postgres(tree.sql(dialect="duckdb", comments=False))
    if stmt.slots or stmt.before:
        raise RefusedQuery("must be one select statement without parameters")
    return stmt.sql


def check_postgres_text(sql: str) -> None:
    """sqlglot's reading of the PostgreSQL text: one select, allowed tables, whitelisted functions only."""
    from .confined_sql import _FORBIDDEN, RefusedQuery, _check_table, _in_from

    try:
        statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except sqlglot.errors.SqlglotError:
        raise RefusedQuery("is not valid SQL once written for PostgreSQL") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise RefusedQuery("must be one select statement (PostgreSQL does not read it as one)")
    for node in statements[0].walk():
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            raise RefusedQuery("has a parameter placeholder; write the value into the query")
        if isinstance(node, _FORBIDDEN):
            raise RefusedQuery("must be one select statement")
        if isinstance(node, exp.Table):
            _check_table(node)
        if isinstance(node, exp.Func) and not isinstance(node, _OPERATORS):
            name = _pg_function_name(node)
            if name not in PG_ALLOWED_FUNCTIONS or (_in_from(node) and name != "unnest"):
                raise RefusedQuery(f"calls function {name}, which is not on the allowed list for PostgreSQL")
            if isinstance(node.parent, exp.Dot):
                raise RefusedQuery(f"calls function {name} by a schema-qualified name, which is not allowed")


def _pg_function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    found = _FUNC_NAME.match(node.sql(dialect="postgres"))
    return found.group(1).lower() if found else type(node).__name__.lower()


def _plan_nodes(plan: Any) -> Iterator[dict]:
    if isinstance(plan, list):
        for value in plan:
            yield from _plan_nodes(value)
    elif isinstance(plan, dict):
        if "Node Type" in plan:
            yield plan
        for value in plan.values():
            yield from _plan_nodes(value)


def _confirm_with_postgres(raw: Any, sql: str) -> None:
    """PostgreSQL's own parse and plan of the text (nothing runs): every relation the plan scans is in an allowed
    schema, and every function scanned as a table is on the whitelist. A plan expands views, so the schemas
    Steward's own staging views read (``raw``) are allowed here; the query itself naming ``raw`` was refused above."""
    from .confined_sql import RefusedQuery

    plan = raw.execute(f"explain (verbose, format json) {sql}").fetchone()[0]
    for node in _plan_nodes(json.loads(plan) if isinstance(plan, str) else plan):
        kind = node["Node Type"]
        if kind in ("Foreign Scan", "Custom Scan", "Table Function Scan", "Named Tuplestore Scan"):
            raise RefusedQuery(f"reads a {kind.lower()}, which is not allowed")
        function = str(node.get("Function Name", "")).lower()
        if kind == "Function Scan" and (function not in PG_ALLOWED_FUNCTIONS or node.get("Schema") != "pg_catalog"):
            raise RefusedQuery(f"reads table function {function or '?'}, which is not allowed")
        if "Relation Name" in node and str(node.get("Schema", "")).lower() not in _PLAN_SCHEMAS:
            raise RefusedQuery(f"reads {node.get('Schema')}.{node['Relation Name']}: only tables in schemas "
                               f"{', '.join(_ALLOWED_SCHEMAS)} may be read")


def materialise_audience_pg(target: PostgresTarget, audit_id: str, checked: dict[str, str],
                            timeout_s: float) -> dict[str, int]:
    """``confined_sql.materialise_audience`` on PostgreSQL, for queries ``check_query`` has already returned."""
    psycopg = _psycopg()
    texts = {part: render_for_postgres(sql) for part, sql in checked.items()}
    for sql in texts.values():
        check_postgres_text(sql)
    raw = pg_connect(target, "steward-audience")
    try:
        raw.execute(f"create temporary table if not exists {_TEMP.split('.')[1]} (part text, email_key text)")
        raw.execute(f"truncate {_TEMP}")
        for part, sql in texts.items():
            failure = None
            try:
                _run_confined(raw, part, sql, timeout_s)
            except psycopg.errors.QueryCanceled:
                failure = f"was stopped after {timeout_s:g} s; narrow the query"
            except psycopg.errors.LockNotAvailable:
                failure = (f"waited more than {LOCK_TIMEOUT_S:g} s for a table another session is changing (a dbt "
                           "build?); audit again when it is done")
            except psycopg.Error as exc:
                failure = f"failed while running ({describe_pg_error(exc)})"  # raised below: no chained error
            if failure is not None:
                raise QueryFailed(failure, part)
        with raw.transaction():
            raw.execute("create schema if not exists launch_input")
            raw.execute("create table if not exists launch_input.audience (audit_id text, part text, email_key text)")
            raw.execute("delete from launch_input.audience")
            raw.execute(f"insert into launch_input.audience select %s, part, email_key from {_TEMP}", [audit_id])
        return {part: raw.execute("select count(*) from launch_input.audience where audit_id = %s and part = %s",
                                  [audit_id, part]).fetchone()[0] for part in texts}
    except psycopg.Error as exc:
        raise WarehouseError(f"{target.display}: cannot keep the audience ({describe_pg_error(exc)})") from None
    finally:
        raw.close()


def _run_confined(raw: Any, part: str, sql: str, timeout_s: float) -> None:
    with raw.transaction():
        raw.execute("set transaction read only")  # first statement of the transaction, as PostgreSQL requires
        raw.execute("select set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true), "
                    "set_config('search_path', 'pg_catalog, pg_temp', true)",
                    [f"{int(timeout_s * 1000)}ms", f"{int(LOCK_TIMEOUT_S * 1000)}ms"])
        _confirm_with_postgres(raw, sql)  # a RefusedQuery here rolls the transaction back
        # a temporary table is the one thing a read-only transaction may write; % is literal in the user's text
        raw.execute(f"insert into {_TEMP} select distinct %s, email_key from ("
                    f"select nullif(lower(trim(cast(email as text))), '') as email_key from (\n"
                    f"{sql.replace('%', '%%')}\n) as audience_query) as normalised where email_key is not null",
                    [part])


def describe_pg_error(exc: BaseException) -> str:
    """One line about a PostgreSQL error that cannot carry a data value: its type, and for errors of SQLSTATE class
    42 (raised while parsing or planning: syntax, unknown table or column, permission), its first line with quoted
    values masked. Data exceptions (class 22) quote the value that failed, so only their type is kept."""
    kind = type(exc).__name__
    if str(getattr(exc, "sqlstate", "") or "").startswith("42"):
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{kind}: {re.sub(_QUOTED, chr(39) + '…' + chr(39), first)[:200]}"
    return f"{kind}; PostgreSQL's message is withheld because it may quote data values"
