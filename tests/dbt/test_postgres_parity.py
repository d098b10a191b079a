"""The dbt project on dbt-postgres builds the same marts as on dbt-duckdb (issue #13, item 3).

The demo workspace the other mart tests use (seed 11, scale 0.5, every injection on) is landed once into DuckDB (the
session template); its ``raw`` and ``ledger`` schemas are copied into a fresh PostgreSQL database, and the whole
project is built on both with the same vars and the same ``as_of``. Every governance mart must hold the same rows
on both: same keys, text equal, numbers within 1e-9, lists element by element, JSON documents equal as documents
(PostgreSQL's jsonb prints ``["a", "b"]`` where DuckDB prints ``["a","b"]``). The data tests must fail and pass
alike, and every unit test must pass on PostgreSQL too. One dbt build per warehouse for the whole module.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from governed import governed_copy
from pg import copy_schema_to_postgres
from steward.contracts.policy import load_policy
from steward.flows.launch_checks import launch_vars
from steward.flows.launch_spec import load_launch_spec
from steward.integrations.demo.injections import Injections
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse.target import PostgresTarget

pytestmark = pytest.mark.slow

TOLERANCE = 1e-9
# a launch spec whose audience is a CDP segment: the launch marts build from the governance build, no query needed
LAUNCH_SPEC = Path(__file__).parents[2] / "examples" / "launches" / "conditional-high-intent.yaml"


def _by_table(rows: list[tuple[str, str, str]]) -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, {})[column] = data_type
    return tables


class Built:
    def __init__(self, duck: Path, pg_url: str, psycopg, outcomes: dict, pg_seconds: float) -> None:
        self.duck, self.pg_url, self.psycopg = duck, pg_url, psycopg
        self.outcomes, self.pg_seconds = outcomes, pg_seconds  # (warehouse, "governance"|"launch") -> BuildOutcome

    def duck_rows(self, schema: str, table: str) -> tuple[list[str], list[tuple]]:
        with duckdb.connect(str(self.duck), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")
            cur = con.execute(f'select * from "{schema}"."{table}"')
            return [d[0] for d in cur.description], cur.fetchall()

    def pg_rows(self, schema: str, table: str) -> tuple[list[str], list[tuple]]:
        with self.psycopg.connect(self.pg_url) as con:
            cur = con.execute(f'select * from "{schema}"."{table}"')
            return [d.name for d in cur.description], cur.fetchall()

    def differences(self, schema: str, tables: list[str]) -> list[str]:
        """``_compare`` of each table's rows on both warehouses, read through one connection to each (one open of
        the DuckDB file and one PostgreSQL session for the schema, not one of each per table)."""
        problems = []
        with duckdb.connect(str(self.duck), read_only=True) as duck, self.psycopg.connect(self.pg_url) as pg:
            duck.execute("set TimeZone = 'UTC'")
            for table in tables:
                d = duck.execute(f'select * from "{schema}"."{table}"')
                p = pg.execute(f'select * from "{schema}"."{table}"')
                problems += _compare(table, ([c[0] for c in d.description], d.fetchall()),
                                     ([c.name for c in p.description], p.fetchall()))
        return problems

    def duck_types(self, schema: str) -> dict[str, dict[str, str]]:
        """Every column's type, by table, in one read of the schema's catalog (one open of the file, not one a
        table)."""
        with duckdb.connect(str(self.duck), read_only=True) as con:
            return _by_table(con.execute("select table_name, column_name, data_type from information_schema.columns "
                                         "where table_schema = ?", [schema]).fetchall())

    def pg_types(self, schema: str) -> dict[str, dict[str, str]]:
        with self.psycopg.connect(self.pg_url) as con:
            return _by_table(con.execute("select table_name, column_name, data_type from information_schema.columns "
                                         "where table_schema = %s", [schema]).fetchall())

    def duck_tables(self, schema: str) -> list[str]:
        with duckdb.connect(str(self.duck), read_only=True) as con:
            return [t for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE'"
                " order by table_name", [schema]).fetchall()]


@pytest.fixture(scope="module")
def built(tmp_path_factory, pg_server) -> Built:
    copy = governed_copy(tmp_path_factory, "pg-parity", seed=11, scale=0.5, injections=Injections())
    work = tmp_path_factory.mktemp("pg-parity-dbt")
    # the DuckDB side is the template's own build (governed.py: every model, data test and unit test, from empty):
    # PostgreSQL builds with the very vars it had, its `as_of` among them, so no second DuckDB build is needed
    template_run = json.loads((copy.wh.path.parent / "dbt" / "target" / "run_results.json").read_text())
    dbt_vars = template_run["args"]["vars"]
    as_of = pd.Timestamp(dbt_vars["as_of"])
    policy = load_policy()
    assert as_of.tzinfo is not None and dbt_vars == json.loads(json.dumps(
        {**policy.dbt_vars(), "as_of": dbt_vars["as_of"]}, default=str))  # as dbt_build hands them over
    url = pg_server.fresh_database("parity")
    target = PostgresTarget.from_url(url)
    for schema in ("raw", "ledger"):  # what the sources read; the models build everything else
        copy_schema_to_postgres(pg_server.psycopg, url, copy.wh.path, schema)
    outcomes = {("duckdb", "governance"): _outcome_of(template_run)}
    started = time.perf_counter()
    outcomes["postgres", "governance"] = dbt_build.build(target, work / "postgres", dbt_vars)
    pg_seconds = time.perf_counter() - started
    # a pre-launch audit's marts, on top of that build (only they: the launch models are enabled by the var)
    launch = launch_vars(load_launch_spec(LAUNCH_SPEC), policy, as_of, "launch-parity")
    for name, warehouse in (("duckdb", copy.wh.path), ("postgres", target)):
        outcomes[name, "launch"] = dbt_build.build(warehouse, work / f"{name}-launch", launch,
                                                   select=["path:models/launch"])
    return Built(copy.wh.path, url, pg_server.psycopg, outcomes, pg_seconds)


def _outcome_of(run_results: dict) -> dbt_build.BuildOutcome:
    """What ``dbt_build.build`` returned for a build, read back from the run_results.json it left (the session
    template's build, which ran in another test's process): models built, data and unit tests passed, failures."""
    out = dbt_build.BuildOutcome()
    for r in run_results["results"]:
        kind, _, *name = r["unique_id"].split(".")
        if kind == "model":
            assert r["status"] != "error", r["unique_id"]
            out.skipped += [name[0]] if r["status"] == "skipped" else []
            out.models += r["status"] != "skipped"
        elif r["status"] in ("fail", "warn", "error"):
            out.test_failures.append(dbt_build.TestFailure(name[-2] if kind == "test" and len(name) > 1 else name[-1],
                                                           None, int(r["failures"] or 0),
                                                           "warn" if r["status"] == "warn" else "error",
                                                           (r["message"] or "")[:300]))
        elif kind == "unit_test":
            out.unit_tests += 1
        elif kind == "test":
            out.tests_passed += 1
    return out


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    return float(value)


def _json(value):
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def same(a, b) -> bool:
    """Equal as values: numbers within TOLERANCE (relative above 1), instants as instants, JSON as documents."""
    if a is None or b is None:
        return a is None and b is None
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        if math.isnan(na) or math.isnan(nb):
            return math.isnan(na) and math.isnan(nb)
        return abs(na - nb) <= TOLERANCE * max(1.0, abs(na), abs(nb))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return (a.tzinfo is None) == (b.tzinfo is None) and a == b
    if a == b:
        return True
    ja, jb = _json(a), _json(b)
    return ja is not None and ja == jb


def _key_value(value) -> str:
    number = _number(value)
    if number is not None and number == int(number):
        return str(int(number))
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).isoformat()
    return "" if value is None else str(value)


def _key(row: tuple, columns: list[int]) -> tuple:
    return tuple(_key_value(row[i]) for i in columns)


def _compare(name: str, duck: tuple[list[str], list[tuple]], pg: tuple[list[str], list[tuple]]) -> list[str]:
    (duck_cols, duck_rows), (pg_cols, pg_rows) = duck, pg
    if duck_cols != pg_cols:
        return [f"{name}: columns differ: {duck_cols} vs {pg_cols}"]
    if len(duck_rows) != len(pg_rows):
        return [f"{name}: {len(duck_rows)} rows on DuckDB, {len(pg_rows)} on PostgreSQL"]
    if not duck_rows:
        return []
    # the key: every column that is no float and no list (floats are compared within the tolerance, not as keys)
    key = [i for i in range(len(duck_cols))
           if all(not isinstance(r[i], (float, Decimal, list, tuple)) and _json(r[i]) is None for r in duck_rows)]
    by_key = {}
    for row in pg_rows:
        by_key.setdefault(_key(row, key), []).append(row)
    problems = []
    for row in duck_rows:
        candidates = by_key.get(_key(row, key), [])
        match = next((c for c in candidates if all(same(x, y) for x, y in zip(row, c))), None)
        if match is None:
            near = candidates[0] if candidates else None
            diff = {duck_cols[i]: (row[i], near[i]) for i in range(len(row)) if near and not same(row[i], near[i])}
            problems.append(f"{name}: DuckDB row {dict(zip(duck_cols, row))} has no equal on PostgreSQL"
                            + (f" (nearest differs in {diff})" if near else " (no row with its key)"))
            if len(problems) >= 3:
                break
        else:
            candidates.remove(match)
    return problems


_DUCK_FAMILY = {"TINYINT": "integer", "SMALLINT": "integer", "INTEGER": "integer", "BIGINT": "integer",
                "HUGEINT": "integer", "DOUBLE": "float", "VARCHAR": "text", "JSON": "text", "BOOLEAN": "boolean",
                "DATE": "date", "TIMESTAMP WITH TIME ZONE": "instant", "TIMESTAMP": "timestamp"}
_PG_FAMILY = {"smallint": "integer", "integer": "integer", "bigint": "integer", "double precision": "float",
              "text": "text", "character varying": "text", "jsonb": "text", "json": "text", "boolean": "boolean",
              "date": "date", "timestamp with time zone": "instant", "timestamp without time zone": "timestamp",
              "ARRAY": "array", "numeric": "decimal"}


def _family(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return "decimal"  # a decimal literal's own type (sla_hours 48.0): a Decimal in Python from both
    return "array" if duckdb_type.endswith("[]") else _DUCK_FAMILY.get(duckdb_type, duckdb_type)


def test_every_mart_column_has_the_same_kind_of_type_on_postgres(built):
    """A float on DuckDB is a double on PostgreSQL, never a numeric (it would reach Python as a Decimal, which
    refuses arithmetic with a float), and an integer sum stays an integer."""
    different = []
    for schema in ("staging", "governance", "launch"):
        duck_types, pg_types = built.duck_types(schema), built.pg_types(schema)
        for table in built.duck_tables(schema):
            pg = pg_types.get(table, {})
            for column, duck_type in duck_types[table].items():
                if _family(duck_type) != _PG_FAMILY.get(pg.get(column, "missing"), pg.get(column, "missing")):
                    different.append(f"{schema}.{table}.{column}: {duck_type} vs {pg.get(column, 'missing')}")
    assert different == []


def test_every_mart_has_the_same_rows_on_postgres(built):
    marts = [t for t in built.duck_tables("governance") if not t.endswith("__built_from")]
    assert len(marts) >= 30, marts
    assert built.differences("governance", marts) == []


def test_drift_documents_read_the_same_as_text(built):
    """The drift columns are quoted into findings' explanations: on PostgreSQL they come out as compact as DuckDB
    prints them, not with jsonb's spaces (the demo's drifted entities: added, missing and renamed columns)."""
    def drift(rows: tuple[list[str], list[tuple]]) -> dict:
        columns, values = rows
        keep = ("missing_columns", "added_columns", "renamed_columns", "retyped_columns")
        return {(r[columns.index("integration")], r[columns.index("entity")]): [r[columns.index(c)] for c in keep]
                for r in values}

    duck = drift(built.duck_rows("governance", "gov_data_quality__landing"))
    assert ['["LeadSource"]', '["Lead_Source__c"]', '{"LeadSource":"Lead_Source__c"}', "{}"] in duck.values()
    assert drift(built.pg_rows("governance", "gov_data_quality__landing")) == duck


def test_every_launch_mart_has_the_same_rows_on_postgres(built):
    marts = built.duck_tables("launch")
    assert len(marts) == 8, marts
    assert built.duck_rows("launch", "launch__audience")[1], "the segment selects people: the audit compares rows"
    assert built.differences("launch", marts) == []


def test_staging_tables_have_the_same_rows_on_postgres(built):
    """The tables the marts read (newest record per key, incremental event models) agree too, so a mart difference
    cannot hide behind a staging one that happens to cancel out."""
    tables = [t for t in built.duck_tables("staging") if not t.endswith("__built_from")]
    assert "stg_hubspot__email_events" in tables and "int_customers__unified" in tables
    assert built.differences("staging", tables) == []


def test_data_tests_agree_and_unit_tests_pass_on_postgres(built):
    def failures(outcome):
        return sorted((f.test, f.severity, f.failures) for f in outcome.test_failures)

    for build in ("governance", "launch"):
        duck, pg = built.outcomes["duckdb", build], built.outcomes["postgres", build]
        assert pg.models == duck.models > 0
        assert pg.skipped == [] and duck.skipped == []
        # a primary_key test is one node for two assertions (not null, unique): the launch build has eight nodes
        assert pg.tests_passed == duck.tests_passed >= 8
        assert failures(pg) == failures(duck)
    # every unit test of the project passed on PostgreSQL
    assert built.outcomes["postgres", "governance"].unit_tests == _unit_tests() >= 16
    print(f"\ndbt build on PostgreSQL (demo scale 0.5): {built.pg_seconds:.1f} s")


def _unit_tests() -> int:
    import yaml

    return sum(len((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("unit_tests", []))
               for path in (dbt_build.dbt_project_dir() / "models").rglob("*.yml"))
