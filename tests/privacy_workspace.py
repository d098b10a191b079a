"""Test helper: tiny hand-written workspaces for the privacy checks, and their marts' compiled SQL run directly.

``build_tiny`` lands frames written in the tests (through the real contracts and landing), scans for PII and runs the
real dbt build at a fixed ``as_of``. ``MartSql`` then re-runs one mart's compiled SQL on staging tables a test hands
it, in a throwaway in-memory database, so property tests can try hundreds of inputs without a dbt build each.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pandas as pd

from steward.contracts.policy import Policy, load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import pii_scan
from steward.integrations.warehouse.landing import ensure_raw_tables, land_batch
from steward.integrations.sources.marketo import MARKETO_STREAMS
from steward.integrations.sources.streams import EXPORT_STREAMS
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.validation import check_batch
from steward.contracts.batch import Batch

__all__ = ["sha", "token", "ts", "land_frames", "build_tiny", "MartSql"]


def sha(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def token(value: str) -> str:
    """mask_id's token of ``value`` (macros/mask_id.sql), as staging writes it beside an email or a hash."""
    return "h:" + hashlib.md5(value.strip().lower().encode()).hexdigest()[:10]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def land_frames(wh: Warehouse, frames: dict[str, pd.DataFrame]) -> None:
    """Land each ``"<platform>.<entity>"`` frame as one batch; every other stream lands empty, as if not connected."""
    streams = {s.key: s for s in [*EXPORT_STREAMS, *MARKETO_STREAMS]}
    for key, frame in frames.items():
        batch = Batch(key.split(".")[0], streams[key], frame, f"<test {key}>",
                      hashlib.sha256(frame.to_json().encode()).hexdigest())
        verdict = check_batch(batch)
        assert verdict.quarantined.empty, (key, verdict.quarantined.to_dict("records"))
        land_batch(wh, batch, verdict.valid, verdict.quarantined, verdict.drift, verdict.contract.version, "t",
                   verdict.contract.owner)
    ensure_raw_tables(wh)


def build_tiny(root: Path, frames: dict[str, pd.DataFrame], as_of: pd.Timestamp, marts: list[str],
               policy: Policy | None = None) -> Warehouse:
    """Land, scan and build ``marts`` with everything upstream of them (their tests and unit tests included)."""
    policy = policy or load_policy()
    wh = Warehouse(root / "w.duckdb")
    land_frames(wh, frames)
    pii_scan.scan_pii(wh, policy.scope.pii_scan_schemas, policy.scope.pii_sample_rows)
    outcome = dbt_build.build(wh.path, root / "dbt", {**policy.dbt_vars(), "as_of": as_of.isoformat()},
                              select=[f"+{m}" for m in marts])
    assert not outcome.skipped, outcome.skipped
    return wh


class MartSql:
    """One governance mart's compiled SQL (from a finished build), runnable on hand-made staging tables."""

    def __init__(self, build_root: Path, mart: str, scratch: Path) -> None:
        compiled = build_root / "dbt" / "target" / "compiled" / "steward" / "models" / "marts" / "governance"
        self.sql = (compiled / f"{mart}.sql").read_text()
        # the intermediate models the mart reads that are computed, not handed in (int_consent__email_people, the
        # per-person judgement gov_consent__channel_purpose aggregates; int_people__presence and the int_people__systems
        # it is built from): their compiled SQL runs first, each after the ones it reads, as dbt's build
        intermediate = compiled.parent.parent / "intermediate"
        models = {p.stem: p.read_text() for p in sorted(intermediate.glob("int_*.sql"))}
        self.upstream: dict[str, str] = {}

        def add_upstream(sql: str) -> None:
            for name, text in models.items():
                if f'"{name}"' in sql and name not in self.upstream:
                    add_upstream(text)
                    self.upstream[name] = text

        add_upstream(self.sql)
        self.scratch = scratch  # kept for callers; the tables live in memory (below)
        self._con: duckdb.DuckDBPyConnection | None = None

    def run(self, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """The mart over exactly ``tables`` (staging model name -> frame; the upstream intermediate models not among
        them computed from them), sorted by its first columns. Each call
        attaches a new, empty in-memory database named ``w`` (the build's file name, so the compiled "w"."staging"...
        names resolve) on a connection the instance keeps, and detaches it after: a new database file per example,
        opened, written and checkpointed, cost more than the mart's SQL."""
        if self._con is None:
            self._con = duckdb.connect()
        con = self._con
        try:
            con.execute("attach ':memory:' as w")
            con.execute("create schema w.staging")
            for name, frame in tables.items():
                con.register("frame", frame)
                con.execute(f"create table w.staging.{name} as select * from frame")
                con.unregister("frame")
            for name, sql in self.upstream.items():
                if name not in tables:
                    con.execute(f"create table w.staging.{name} as {sql}")
            out = con.execute(self.sql).df()
        finally:
            con.execute("detach database if exists w")
        out = out.map(lambda v: tuple(v) if hasattr(v, "__len__") and not isinstance(v, str) else v)  # comparable
        return out.sort_values(list(out.columns[:3])).reset_index(drop=True)
