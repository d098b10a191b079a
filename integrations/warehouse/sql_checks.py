"""Source contracts compiled to one DuckDB statement, so a contract runs where the data is.

``compile_contract`` turns a pandera ``DataFrameSchema`` (what ``SourceContract.schema()`` returns) into one SQL
query over a relation. The query returns one row per failing row: its row number and the failed checks, labelled
exactly as pandera's failure cases are (``"<column>: <check>"``), so quarantine reasons and ``by_check`` counts do not
depend on which engine judged the rows. What is compiled:

- per column: dtype (``validate_table`` only: a column stored in another type is cast, and a value that does not cast
  is ``coerce_dtype`` and ``dtype`` like pandera's coercion), ``nullable``, ``unique``, and the built-in checks
  ``isin``, ``notin``, ``str_matches``, ``str_contains``, ``str_startswith``, ``str_endswith``, ``str_length``,
  ``in_range``, ``equal_to``, ``not_equal_to``, ``gt``, ``ge``, ``lt``, ``le``; nulls pass them, as in pandera;
- per frame: ``Config.unique`` (the first row of a key is kept, its repeats fail), and the ``@dataframe_check``s
  whose SQL is in ``DATAFRAME_CHECK_SQL``. Like pandera, a failing dataframe check is reported once per non-null
  column of the row, and a check that evaluates to null fails.

Falls back to pandera, for that check only (``CompiledContract.fallback``): a custom column check, a built-in check
not listed above, a regex that RE2 cannot express with Python's meaning (lookarounds, backreferences, ``\\b``, ``\\S``
and friends), and a dataframe check with no entry in ``DATAFRAME_CHECK_SQL``. Regexes are rewritten so that RE2 reads
them as Python's ``re.match`` does (``\\s`` and ``\\d`` are Unicode, ``$`` also matches before a final newline).

A dataframe check that evaluates to null (pandas NA) is judged as pandera judges NA: those rows pass when no row fails
the check, and when some row does fail it, the whole batch is refused (``WholeBatchFailure``), as pandera refuses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pandera.pandas as pa

from ...contracts.source_checks import ROW  # the row-number column the compiled query returns

__all__ = ["CompiledContract", "DATAFRAME_CHECK_SQL", "WholeBatchFailure", "Untranslatable", "compile_contract",
           "failing_rows", "failing_rows_table", "python_regex_to_re2"]

# "<model>.<check>": the same predicate as the model's @dataframe_check, in DuckDB SQL (true = the row passes).
# Where pandas yields False for a null (string and datetime comparisons) the SQL says so with coalesce; where it
# yields NA (nullable Int64 comparisons) the SQL stays null, and null is judged as pandera judges NA (see module doc).
DATAFRAME_CHECK_SQL: dict[str, str] = {
    "CampaignMemberFrame.one_person": '("ContactId" IS NULL) <> ("LeadId" IS NULL)',
    "CampaignStatsFrame.clicks_within_impressions": '"metrics.clicks" <= "metrics.impressions"',
    "MarketoLeadFrame.updated_after_created": '"updatedAt" IS NULL OR "createdAt" IS NULL OR "updatedAt" >= "createdAt"',
    "SmartCampaignFrame.only_trigger_campaigns_are_active":
        'NOT coalesce("isActive", false) OR coalesce("type" = \'trigger\', false)',
    "ErasureRequestFrame.completed_after_request": 'NOT coalesce("status" = \'completed\', false) OR '
                                                   '("completed_at" IS NOT NULL AND coalesce("completed_at" >= "requested_at", false))',
    "DecisionFrame.review_after_decision": '"reviewed_at" IS NULL OR coalesce("reviewed_at" >= "decided_at", false)',
}

_DUCK_TYPES = {"string[pyarrow]": "VARCHAR", "str": "VARCHAR", "Int64": "BIGINT", "int64": "BIGINT",
               "float64": "DOUBLE", "boolean": "BOOLEAN", "bool": "BOOLEAN",
               "datetime64[us, UTC]": "TIMESTAMP WITH TIME ZONE", "datetime64[ns, UTC]": "TIMESTAMP WITH TIME ZONE"}
_COMPARE = {"equal_to": ("=", "value"), "not_equal_to": ("<>", "value"), "greater_than": (">", "min_value"),
            "greater_than_or_equal_to": (">=", "min_value"), "less_than": ("<", "max_value"),
            "less_than_or_equal_to": ("<=", "max_value")}
_PY_SPACE = r"\t\n\x0b\f\r\x1c-\x1f\x85\p{Z}"  # what Python's \s matches in a str pattern


class Untranslatable(ValueError):
    """A check or regex the compiler leaves to pandera."""


class WholeBatchFailure(ValueError):
    """A check that cannot be judged row by row for this data (pandera's failure case without an index)."""

    def __init__(self, column: str, check: str):
        super().__init__(f"column '{column}' fails {check}")
        self.column, self.check = column, check


_NA = "\x00na\x00"  # marks a row whose dataframe check was null; never a label


@dataclass(frozen=True)
class CompiledContract:
    sql: str  # SELECT __row, labels (VARCHAR[]) for every failing row of the relation
    fallback: list[tuple[str | None, pa.Check]] = field(default_factory=list)  # (column or None, check) for pandera


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def python_regex_to_re2(pattern: str) -> str:
    """``pattern`` as RE2 reads it with Python ``re`` meaning; raises Untranslatable where RE2 cannot follow."""
    if re.search(r"\(\?(<?[=!]|P=)|\\[1-9bBSDWAZ]", pattern):
        raise Untranslatable(pattern)
    out, i, class_at = [], 0, -1  # class_at: where the open character class began, -1 outside one
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            sub = {"s": _PY_SPACE, "d": r"\p{Nd}", "w": r"\p{L}\p{N}_"}.get(pattern[i + 1])
            out.append(ch + pattern[i + 1] if not sub else sub if class_at >= 0 else f"[{sub}]")
            i += 2
            continue
        if class_at < 0:
            class_at = i if ch == "[" else -1
            out.append(r"(?:\n?$)" if ch == "$" else ch)
        else:
            first = i == class_at + 1 or (i == class_at + 2 and pattern[class_at + 1] == "^")
            if ch == "]" and not first:
                class_at = -1
            out.append(ch)
        i += 1
    return "".join(out)


def _check_pass_sql(col: str, check: pa.Check) -> str:
    """SQL that is true, or null for a null value, when ``col`` passes the built-in ``check``."""
    stats, name = check.statistics or {}, check.name
    if name in _COMPARE:
        op, key = _COMPARE[name]
        return f"{col} {op} {lit(stats[key])}"
    if name == "in_range":
        lo = ">=" if stats.get("include_min", True) else ">"
        hi = "<=" if stats.get("include_max", True) else "<"
        return f"({col} {lo} {lit(stats['min_value'])} AND {col} {hi} {lit(stats['max_value'])})"
    if name in ("isin", "notin"):
        values = stats["allowed_values" if name == "isin" else "forbidden_values"]
        member = f"{col} IN (SELECT unnest([{', '.join(lit(v) for v in values)}]))"
        return member if name == "isin" else f"NOT ({member})"
    if name == "str_matches":
        return f"regexp_matches({col}, {lit('^(?:' + python_regex_to_re2(str(stats['pattern'])) + ')')})"
    if name == "str_contains":
        return f"regexp_matches({col}, {lit(python_regex_to_re2(str(stats['pattern'])))})"
    if name == "str_startswith":
        return f"starts_with({col}, {lit(stats['string'])})"
    if name == "str_endswith":
        return f"ends_with({col}, {lit(stats['string'])})"
    if name == "str_length":
        parts = [f"length({col}) >= {lit(stats['min_value'])}" if stats.get("min_value") is not None else "",
                 f"length({col}) <= {lit(stats['max_value'])}" if stats.get("max_value") is not None else ""]
        return "(" + " AND ".join(p for p in parts if p) + ")"
    raise Untranslatable(name)


def _per_column_labels(columns: list[str], label: str) -> str:
    """One label per non-null column of the row: how pandera reports a frame-level failure."""
    items = ", ".join(f"CASE WHEN {q(c)} IS NOT NULL THEN {lit(c + ': ' + label)} END" for c in columns)
    return f"[{items}]"


def compile_contract(schema: pa.DataFrameSchema, relation: str, types: dict[str, str] | None = None) -> CompiledContract:
    """One query over ``relation`` (which must carry ``__row``). ``types`` (column -> DuckDB type) turns on the
    dtype checks: a column whose type differs is cast, and values that do not cast fail ``coerce_dtype``."""
    columns = list(schema.columns)
    flags: list[tuple[str, str]] = []  # (failure predicate, SQL list of labels)
    casts: dict[str, str] = {}
    fallback: list[tuple[str | None, pa.Check]] = []
    for name, col in schema.columns.items():
        ref, want = q(name), _DUCK_TYPES.get(str(col.dtype))
        if types is not None and want and types.get(name, want) != want:
            casts[name] = f"TRY_CAST({ref} AS {want})"
            flags.append((f"({casts[name]} IS NULL AND {ref} IS NOT NULL)",
                          f"[{lit(f'{name}: coerce_dtype({chr(39)}{col.dtype}{chr(39)})')}, "
                          f"{lit(f'{name}: dtype({chr(39)}{col.dtype}{chr(39)})')}]"))
        expr = casts.get(name, ref)
        if not col.nullable:
            flags.append((f"{ref} IS NULL", f"[{lit(name + ': not_nullable')}]"))
        if col.unique:
            keep = {"exclude_first": f"row_number() OVER (PARTITION BY {expr} ORDER BY {ROW}) > 1",
                    "exclude_last": f"row_number() OVER (PARTITION BY {expr} ORDER BY {ROW} DESC) > 1"}
            dup = keep.get(col.report_duplicates, f"count(*) OVER (PARTITION BY {expr}) > 1")
            flags.append((f"({ref} IS NOT NULL AND {dup})", f"[{lit(name + ': field_uniqueness')}]"))
        for check in col.checks:
            try:
                flags.append((f"NOT coalesce({_check_pass_sql(expr, check)}, true)",
                              f"[{lit(name + ': ' + (check.error or check.name))}]"))
            except Untranslatable:
                fallback.append((name, check))
    if schema.unique:
        keys = ", ".join(q(k) for k in schema.unique)
        order = "DESC" if schema.report_duplicates == "exclude_last" else ""
        dup = (f"count(*) OVER (PARTITION BY {keys}) > 1" if schema.report_duplicates == "all"
               else f"row_number() OVER (PARTITION BY {keys} ORDER BY {ROW} {order}) > 1")
        flags.append((dup, _per_column_labels(list(schema.unique), "multiple_fields_uniqueness")))
    for check in schema.checks:
        sql = DATAFRAME_CHECK_SQL.get(f"{schema.name}.{check.name}")
        if sql is None:
            fallback.append((None, check))
            continue
        label = check.error or check.name
        flags.append((f"NOT coalesce({sql}, true)", _per_column_labels(columns, label)))
        flags.append((f"({sql}) IS NULL", f"[{lit(_NA + str(schema.name) + _NA + label)}]"))
    return CompiledContract(_assemble(relation, flags), fallback)


def _assemble(relation: str, flags: list[tuple[str, str]]) -> str:
    if not flags:
        return f"SELECT {ROW}, []::VARCHAR[] AS labels FROM {relation} WHERE false"
    named = ", ".join(f"{pred} AS __f{i}" for i, (pred, _) in enumerate(flags))
    labels = " || ".join(f"CASE WHEN __f{i} THEN {lab} ELSE []::VARCHAR[] END" for i, (_, lab) in enumerate(flags))
    where = " OR ".join(f"__f{i}" for i in range(len(flags)))
    return (f"WITH __flagged AS (SELECT *, {named} FROM {relation}) "
            f"SELECT {ROW}, list_filter({labels}, lambda x: x IS NOT NULL) AS labels FROM __flagged WHERE {where}")


def failing_rows(con: duckdb.DuckDBPyConnection, compiled: CompiledContract,
                 extra: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """Run ``compiled``: (failing rows as ``__row``, ``reasons``; failures per label). ``extra`` adds (__row, label)
    rows found by the pandera fallback."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE __failed AS SELECT {ROW}, unnest(labels) AS label FROM "
                f"({compiled.sql})")
    if extra is not None and len(extra):
        con.register("__extra_labels", extra)
        con.execute(f"INSERT INTO __failed SELECT {ROW}, label FROM __extra_labels")
        con.unregister("__extra_labels")
    _refuse_na_with_failures(con)
    reasons = con.execute(f"SELECT {ROW}, array_to_string(list_sort(list_distinct(list(label))), '; ') AS reasons "
                          f"FROM __failed GROUP BY {ROW} ORDER BY {ROW}").df()
    by_check = dict(con.execute("SELECT label, count(*) FROM __failed GROUP BY label").fetchall())
    con.execute("DROP TABLE __failed")
    return reasons, {str(k): int(v) for k, v in by_check.items()}


def failing_rows_table(con: duckdb.DuckDBPyConnection, compiled: CompiledContract, extra_sql: str | None,
                       into: str) -> tuple[int, dict[str, int]]:
    """``failing_rows`` for a whole table, with no row leaving DuckDB: the failing rows' ``__row`` and ``reasons``
    go into table ``into``; returns how many rows fail and failures per label. ``extra_sql`` selects more
    (__row, label) pairs (the zone rule's)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE __failed AS SELECT {ROW}, unnest(labels) AS label FROM "
                f"({compiled.sql})" + (f" UNION ALL {extra_sql}" if extra_sql else ""))
    _refuse_na_with_failures(con)
    con.execute(f"CREATE OR REPLACE TABLE {into} AS SELECT {ROW}, "
                f"array_to_string(list_sort(list_distinct(list(label))), '; ') AS reasons FROM __failed GROUP BY {ROW}")
    by_check = dict(con.execute("SELECT label, count(*) FROM __failed GROUP BY label").fetchall())
    con.execute("DROP TABLE __failed")
    failing = con.execute(f"SELECT count(*) FROM {into}").fetchall()[0][0]
    return int(failing), {str(k): int(v) for k, v in by_check.items()}


def _refuse_na_with_failures(con: duckdb.DuckDBPyConnection) -> None:
    """pandas cannot turn NA into a pass or a fail once another row fails: pandera refuses the batch, and so do we."""
    marks = con.execute(f"SELECT DISTINCT label FROM __failed WHERE starts_with(label, {lit(_NA)})").fetchall()
    for (mark,) in marks:
        _, model, check = mark.split(_NA)
        if con.execute("SELECT count(*) FROM __failed WHERE ends_with(label, ?)", [": " + check]).fetchone()[0]:
            raise WholeBatchFailure(model, check)
    con.execute(f"DELETE FROM __failed WHERE starts_with(label, {lit(_NA)})")
