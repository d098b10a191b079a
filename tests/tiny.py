"""Test helper: tiny hand-built warehouses for the governance audits, and their marts' compiled SQL.

A handful of rows per platform, written straight into the raw tables in each source contract's shape, is enough to
run the real dbt project and compare marts with numbers worked out by hand. ``Compiled`` then re-runs the SQL dbt
compiled for a model on in-memory tables, fast enough for hypothesis to try hundreds of inputs against the exact
SQL that production runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import pandas as pd

from steward.contracts.policy import Policy, load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse.landing import ensure_raw_tables
from steward.integrations.warehouse import Warehouse

__all__ = ["AS_OF", "ms", "ts", "tiny_warehouse", "tiny_policy", "build", "mart", "Compiled"]

AS_OF = pd.Timestamp("2026-11-20 12:00", tz="UTC")  # a Friday
_DATABASE = "tiny"  # the warehouse file's stem: dbt qualifies every relation with it
_PACKAGED_VARS = load_policy().dbt_vars()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def ms(text: str) -> int:
    """HubSpot's epoch milliseconds for a UTC time."""
    return int(ts(text).value // 10**6)


def tiny_warehouse(folder: Path, rows: dict[str, pd.DataFrame], batches: pd.DataFrame | None = None) -> Warehouse:
    """Every raw table in its contract's shape, holding only ``rows`` ("<platform>.<entity>" -> raw columns)."""
    wh = Warehouse(folder / f"{_DATABASE}.duckdb")
    ensure_raw_tables(wh)
    with wh.connect() as con:
        for key, frame in rows.items():
            landed = frame.assign(_batch_id="b-tiny", _integration=key.split(".")[0], _loaded_at=AS_OF)
            con.register("tiny_rows", landed)
            con.execute(f'insert into raw."{key.replace(".", "__")}" by name select * from tiny_rows')
            con.unregister("tiny_rows")
        if batches is not None:
            con.register("tiny_batches", batches)
            con.execute("insert into ledger.batches by name select * from tiny_batches")
    return wh


def tiny_policy(policy: Policy | None = None, **scope) -> Policy:
    """The packaged policy with some scope values changed (as a team would in its own policy file)."""
    policy = policy or load_policy()
    return policy.model_copy(update={"scope": policy.scope.model_copy(update=scope)})


def build(wh: Warehouse, work: Path, policy: Policy, select: list[str]) -> dbt_build.BuildOutcome:
    """``dbt build --full-refresh`` of the selected models at AS_OF; any failing data or unit test fails the calling
    test. A full refresh: a tiny warehouse's raw is written by hand (one batch, ``b-tiny`` at AS_OF), not landed, and
    a test may rewrite it between builds, which the incremental staging models (macros/incremental_events.sql,
    macros/per_key.sql) would not read again.

    Indirect selection is cautious: a test that also reads a model outside the selection (a relationship test) is
    left out, because the tiny warehouse never built that model.

    dbt's unit tests of the selected models run only under a policy whose vars differ from the packaged one's:
    under the packaged vars they check the same SQL on the same fixture rows as the session's template build, which
    runs every unit test (tests/governed.py ``governed_template``; they set their own ``as_of``).
    """
    previous = os.environ.get("DBT_INDIRECT_SELECTION")
    os.environ["DBT_INDIRECT_SELECTION"] = "cautious"
    try:
        outcome = dbt_build.build(wh.path, work, {**policy.dbt_vars(), "as_of": AS_OF.isoformat()}, select=select,
                                  full_refresh=True, unit_tests=policy.dbt_vars() != _PACKAGED_VARS)
    finally:
        if previous is None:
            os.environ.pop("DBT_INDIRECT_SELECTION", None)
        else:
            os.environ["DBT_INDIRECT_SELECTION"] = previous
    assert not outcome.test_failures, [(f.test, f.message) for f in outcome.test_failures]
    return outcome


def mart(wh: Warehouse, name: str, order: str | None = None) -> pd.DataFrame:
    return wh.query_df(f"select * from governance.{name}" + (f" order by {order}" if order else ""))


class Compiled:
    """The SQL dbt compiled for each model of a build, runnable on in-memory tables named like the real ones."""

    def __init__(self, work: Path) -> None:
        files = (work / "target" / "compiled").rglob("*.sql")
        self.sql = {p.stem: p.read_text() for p in files if not any(d.endswith(".yml") for d in p.parts)}
        self._con: duckdb.DuckDBPyConnection | None = None  # one per instance: opening one costs 20-80 ms here

    def run(self, model: str, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """``model`` over ``inputs`` ("<schema>.<relation>" -> frame); models listed in ``inputs`` may be chained."""
        return self.run_many([model], inputs)[model]

    def run_many(self, models: list[str], inputs: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Each of ``models`` over ``inputs``, in order, in one in-memory database; each result is also kept as a
        table (``staging.`` for int_/stg_, else ``governance.``) that the later models read, as dbt's build would.
        A property test that judges several marts per example loads its inputs once instead of once per mart, which
        is most of what an example costs. Each call gets a new, empty in-memory database (attached, then detached),
        on a connection the instance keeps: opening a connection per call cost more than most examples' SQL."""
        if self._con is None:
            self._con = duckdb.connect()
        con = self._con
        try:
            con.execute(f"attach ':memory:' as {_DATABASE}")
            for schema in ("staging", "governance", "raw"):
                con.execute(f"create schema if not exists {_DATABASE}.{schema}")
            for name, frame in inputs.items():
                con.register("frame", frame)
                con.execute(f'create table {_DATABASE}.{name} as select * from frame')
                con.unregister("frame")
            out = {}
            for model in models:
                sql = self._sql(model)
                if len(models) == 1:
                    return {model: con.execute(sql).fetchdf()}
                schema = "staging" if model.startswith(("int_", "stg_")) else "governance"
                con.execute(f"create or replace table {_DATABASE}.{schema}.{model} as {sql}")
                out[model] = con.execute(f"select * from {_DATABASE}.{schema}.{model}").fetchdf()
            return out
        finally:
            con.execute(f"detach database if exists {_DATABASE}")

    def chain(self, models: list[str], inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """Run ``models`` in order, each one's result an input of the next (``staging.`` for int_, else governance)."""
        return self.run_many(models, inputs)[models[-1]]

    def _sql(self, model: str) -> str:
        if model not in self.sql:
            raise KeyError(f"{model} was not compiled in this build; compiled: {sorted(self.sql)}")
        return re.sub(r";\s*$", "", self.sql[model].strip())
