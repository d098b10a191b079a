"""The dbt project has no DuckDB-only SQL outside the dispatch macros (issue #13, item 3).

Every model must build on dbt-duckdb and dbt-postgres from one text; where the dialects differ, the model calls a
macro that ``adapter.dispatch`` resolves per adapter (dbt_project/macros/portable). This reads every model and every
macro and fails on a DuckDB-only construct anywhere but in a ``duckdb__`` implementation, or in a ``default__`` one
that has a ``postgres__`` sibling. The token list is what porting the project to PostgreSQL had to replace; a new
model that brings one back fails here before it fails on a server.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from steward.integrations.transform.dbt_build import dbt_project_dir

# (name, pattern): SQL only DuckDB runs, or runs differently
DUCKDB_ONLY: list[tuple[str, str]] = [
    ("qualify", r"\bqualify\b"),
    ("DuckDB JSON function", r"\bjson_(?:extract\w*|keys|array_length|exists|value|transform|structure|type)\s*\("),
    ("JSON arrow", r"->>|(?<![-'])->(?!>)\s*'\$"),
    ("list function", r"\blist_[a-z_]+\s*\(|\blist\s*\("),
    ("list literal", r"(?<![\w\]'])\[\s*\](?!')"),
    ("regexp_matches", r"\bregexp_(?:matches|full_match|extract_all)\s*\("),
    ("strftime/strptime", r"\bstr[fp]time\s*\("),
    ("date_diff", r"(?<![.\w])date_(?:diff|sub|add)\s*\("),
    ("bare datediff/dateadd/date_trunc (use dbt.datediff, dbt.dateadd, dbt.date_trunc)",
     r"(?<![.\w])(?:datediff|dateadd|date_trunc)\s*\("),
    ("epoch function", r"\bepoch(?:_ms|_us|_ns)?\s*\("),
    (":: cast", r"::"),
    ("double without precision (use float_type())", r"\bas\s+double\b(?!\s+precision)"),
    ("count_if", r"\bcount_if\s*\("),
    ("any_value", r"(?<![.\w])any_value\s*\("),
    ("arg_max/arg_min/max_by/min_by", r"\b(?:arg_max|arg_min|max_by|min_by)\s*\("),
    ("integer division //", r"(?<!:)//"),
    ("len()", r"\blen\s*\("),
    ("string_split/str_split", r"\b(?:string_split|str_split)\w*\s*\("),
    ("select * exclude/replace", r"\*\s*(?:exclude|replace)\s*\("),
    ("group/order by all", r"\b(?:group|order)\s+by\s+all\b"),
    ("by name", r"\bby\s+name\b"),
    ("insert or replace", r"\binsert\s+or\s+(?:replace|ignore)\b"),
    ("rowid", r"\browid\b"),
    ("struct", r"\bstruct_(?:pack|extract|insert)\s*\(|\{\s*'[a-z_]+'\s*:"),
]


# (name, pattern): SQL both DuckDB and PostgreSQL run, but BigQuery or Databricks spell differently; models say it
# through a macro so that a port stays one macro each (text_type, instant_type, before/after)
SPELLED_PER_WAREHOUSE: list[tuple[str, str]] = [
    ("varchar (use text_type())", r"\bas\s+varchar\s*\)"),
    ("timestamptz (use instant_type())", r"\bas\s+timestamptz\s*\)"),
    ("interval literal (use before()/after())", r"\binterval\s+'"),
]

_ADAPTER_IF = ("if on the adapter (use adapter.dispatch)", r"\btarget\.type\s*(?:==|!=|\bin\b)")


def _strip_comments(sql: str) -> str:
    """Jinja comments and SQL line comments."""
    return re.sub(r"--[^\n]*", " ", re.sub(r"\{#.*?#\}", " ", sql, flags=re.S))


def _strip_jinja_statements(sql: str) -> str:
    """``{% set w = (days + 6) // 7 %}`` is Jinja, not SQL."""
    return re.sub(r"\{%-?\s*(?:set|if|elif|for|do)\b.*?%\}", " ", sql, flags=re.S)


def duckdb_only(sql: str) -> list[str]:
    """The DuckDB-only constructs in a piece of model SQL, by name; and any branch on the adapter's type."""
    text = _strip_comments(sql)
    found = [name for name, pattern in DUCKDB_ONLY if re.search(pattern, _strip_jinja_statements(text), flags=re.I)]
    return found + [_ADAPTER_IF[0]] * bool(re.search(_ADAPTER_IF[1], text))


_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\((.*?)\{%-?\s*endmacro\s*-?%\}", re.S)


def _macros(text: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in _MACRO.finditer(text)}


def test_the_scanner_finds_what_the_port_replaced():
    """The patterns catch the constructs the port took out (the scan below could otherwise pass vacuously)."""
    assert duckdb_only("select * from t qualify row_number() over (partition by k order by v) = 1") == ["qualify"]
    assert duckdb_only("select coalesce(drift ->> '$.missing', '[]') from b") == ["JSON arrow"]
    assert duckdb_only("select len(json_keys(drift, '$.retyped'))") == ["DuckDB JSON function", "len()"]
    assert duckdb_only("select cast(n as double) / m") == ["double without precision (use float_type())"]
    assert duckdb_only("select cast(n as double precision) / m, {{ float_type() }}") == []
    assert duckdb_only("select cast([] as varchar[])") == ["list literal"]
    assert duckdb_only("select cast('{}' as varchar[])") == []
    assert duckdb_only("{% if target.type == 'postgres' %}a{% endif %}") == ["if on the adapter (use adapter.dispatch)"]
    assert duckdb_only("{{ 'a' if target.type == 'postgres' else 'b' }}") == ["if on the adapter (use adapter.dispatch)"]
    assert duckdb_only("{%- set w = (days + 6) // 7 %} select a / b -- qualify in a comment") == []
    assert duckdb_only("select a // b") == ["integer division //"]
    assert duckdb_only("select 1 where source not like '%://%'") == []
    assert duckdb_only("select list_name, dbt.datediff('a', 'b', 'day') from t") == []
    assert duckdb_only("select date_diff('day', a, b), count_if(x), arg_max(a, b)") == [
        "date_diff", "count_if", "arg_max/arg_min/max_by/min_by"]


def _models() -> list[Path]:
    return sorted((dbt_project_dir() / "models").rglob("*.sql"))


@pytest.mark.parametrize("path", _models(), ids=lambda p: p.stem)
def test_model_has_no_duckdb_only_sql(path: Path):
    assert duckdb_only(path.read_text(encoding="utf-8")) == [], \
        f"{path.name}: DuckDB-only SQL; call a dispatch macro (dbt_project/macros/portable) instead"


def spelled_per_warehouse(sql: str) -> list[str]:
    text = _strip_jinja_statements(_strip_comments(sql))
    return [name for name, pattern in SPELLED_PER_WAREHOUSE if re.search(pattern, text, flags=re.I)]


def test_models_spell_types_and_intervals_through_macros():
    assert spelled_per_warehouse("select cast(x as varchar), now() - interval '3 days'") == [
        "varchar (use text_type())", "interval literal (use before()/after())"]
    spelled = {p.name: found for p in _models() if (found := spelled_per_warehouse(p.read_text(encoding="utf-8")))}
    assert spelled == {}


_ADAPTERS = {"duckdb", "postgres", "snowflake", "bigquery", "databricks", "spark", "redshift"}


def test_macros_keep_duckdb_only_sql_in_their_duckdb_branch():
    """A DuckDB-only construct may sit in an adapter's own implementation (``duckdb__<name>``; PostgreSQL's JSON
    arrow is ``->>`` too, in ``postgres__<name>``), or in ``default__<name>`` when ``postgres__<name>``
    exists (QUALIFY is the default of first_row_per: DuckDB, Snowflake, BigQuery and Databricks run it)."""
    macros: dict[str, str] = {}
    for path in sorted((dbt_project_dir() / "macros").rglob("*.sql")):
        macros.update(_macros(path.read_text(encoding="utf-8")))
    assert {"first_row_per", "postgres__first_row_per", "float_type", "json_value_text"} <= set(macros)
    offending = {}
    for name, body in macros.items():
        if name.split("__")[0] in _ADAPTERS:
            continue
        if name.startswith("default__") and f"postgres__{name[len('default__'):]}" in macros:
            continue
        found = duckdb_only(body)
        if found:
            offending[name] = found
    assert offending == {}


def test_unit_test_names_fit_a_postgres_identifier():
    """dbt names a unit test's temporary relation after the test; PostgreSQL refuses names over 63 bytes."""
    import yaml

    names = [test["name"] for path in (dbt_project_dir() / "models").rglob("*.yml")
             for test in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("unit_tests", [])]
    assert len(names) >= 16
    assert [n for n in names if len(n.encode()) > 63] == []
