"""Test helper: run a governance scenario on both warehouses and compare the findings (issue #13, item 5).

The DuckDB side is a copy of the session's governed demo (tests/governed.py ``demo_run_copy``: the run is paid once
per session); the PostgreSQL side is another copy of the same workspace whose ``steward.yaml`` names a fresh database
on the session's server (``pg_server``), governed by a real flow run. A scenario that changes the workspace (an export
loses its key, a run is killed) applies the same change to both copies and runs again on each with
:func:`rerun_on_both`. :func:`assert_same_findings` is the comparison the issue asks for: the same check ids,
subjects and severities, observed values within 1e-9 -- except a check measured against the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import yaml

from governed import DemoRun, demo_run_copy
from steward.flows.governance import RunParams, governance_run
from steward.integrations.warehouse import Warehouse

__all__ = ["CLOCK_BOUND", "TEMPLATE_AGE", "Pair", "findings", "on_warehouse", "govern_on_both", "rerun_on_both",
           "assert_same_findings", "raw_vs_batches"]

# hours since the newest batch of a stale source: measured against the clock, so it grows between two runs
CLOCK_BOUND = {"integration_health.stale_source"}
TEMPLATE_AGE = timedelta(hours=24)  # the session's DuckDB template may be that old (a long session)


@dataclass
class Pair:
    """One scenario on both warehouses: the DuckDB copy (``duck.result`` its last run) and the PostgreSQL copy."""

    duck: DemoRun
    pg: DemoRun  # ``pg.config`` names the PostgreSQL database; ``pg.result`` is its last run
    url: str
    since: datetime  # the oldest of the runs compared: bounds how far the clock-bound checks may drift


def findings(wh: Warehouse, run_id: str) -> list[tuple]:
    """A run's findings as stored in the warehouse: (check_id, subject, severity, observed), sorted."""
    return sorted(wh.query_df("select check_id, subject, severity, observed from ledger.findings where run_id = ?",
                              [run_id]).itertuples(index=False, name=None))


def on_warehouse(config: Path, url: str, name: str = "steward.pg.yaml") -> Path:
    """A copy of ``config`` next to it that governs into ``url`` instead (the paths in it stay relative)."""
    target = config.with_name(name)
    target.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "warehouse": url}))
    return target


def govern_on_both(tmp_path_factory, pg_server, name: str, *, scale: float = 0.2, seed: int = 7,
                   clean: bool = False, run: bool = True) -> Pair:
    """The demo workspace ``(scale, seed, clean)`` governed on DuckDB (the session template) and, when ``run``, on a
    fresh PostgreSQL database (one flow run); ``run=False`` leaves the PostgreSQL side to the caller."""
    duck = demo_run_copy(tmp_path_factory, f"{name}-duckdb", scale=scale, seed=seed, clean=clean)
    pg = demo_run_copy(tmp_path_factory, f"{name}-postgres", scale=scale, seed=seed, clean=clean)
    url = pg_server.fresh_database(name.replace("-", "_"))
    config = on_warehouse(pg.config, url)
    pair = Pair(duck, DemoRun(config, pg.ws, None), url, datetime.now(timezone.utc) - TEMPLATE_AGE)
    if run:
        result = governance_run(RunParams(config=str(config), kind="demo"))
        assert result.status == "completed" and result.warehouse == url, result.status
        pair.pg = DemoRun(config, pg.ws, result)
    return pair


def rerun_on_both(pair: Pair, change: Callable[[Path], None]) -> Pair:
    """Apply ``change`` to each copy's workspace folder, govern both again; the pair's results become the new runs."""
    for side in (pair.duck, pair.pg):
        change(side.ws.root)
    duck = governance_run(RunParams(config=str(pair.duck.config), kind="demo"))
    pg = governance_run(RunParams(config=str(pair.pg.config), kind="demo"))
    assert duck.status == pg.status == "completed", (duck.status, pg.status)
    return Pair(DemoRun(pair.duck.config, pair.duck.ws, duck), DemoRun(pair.pg.config, pair.pg.ws, pg), pair.url,
                pair.since)


def assert_same_findings(pair: Pair, duck_run: str | None = None, pg_run: str | None = None) -> list[tuple]:
    """The stored findings of the two runs (default: each side's last) agree: check ids, subjects and severities
    exactly, observed values within 1e-9 (a clock-bound check: within the hours elapsed since ``pair.since``).
    Returns PostgreSQL's findings."""
    want = findings(Warehouse(pair.duck.result.warehouse), duck_run or pair.duck.result.run_id)
    got = findings(Warehouse(pair.url), pg_run or pair.pg.result.run_id)
    assert [f[:3] for f in got] == [f[:3] for f in want], _diff(got, want)
    hours = (datetime.now(timezone.utc) - pair.since).total_seconds() / 3600
    for (check_id, subject, _, observed), (_, _, _, expected) in zip(got, want):
        tolerance = hours if check_id in CLOCK_BOUND else 1e-9
        assert (observed is None) == (expected is None), (check_id, subject)
        assert observed is None or abs(observed - expected) <= tolerance, (check_id, subject, observed, expected)
    return got


def _diff(got: list[tuple], want: list[tuple]) -> str:
    pg, duck = {f[:3] for f in got}, {f[:3] for f in want}
    return f"only on PostgreSQL: {sorted(pg - duck)}; only on DuckDB: {sorted(duck - pg)}"


def raw_vs_batches(wh: Warehouse) -> tuple[dict[str, int], dict[str, int]]:
    """Rows in each raw table, and the rows ``ledger.batches`` says were loaded into it (equal when no batch landed
    twice or half), on either warehouse."""
    tables = wh.query_df("select table_name from information_schema.tables where table_schema = 'raw'")
    raw = {t: int(wh.query_df(f'select count(*) as n from raw."{t}"')["n"][0]) for t in tables["table_name"]}
    loaded = wh.query_df("select platform || '__' || entity as t, sum(rows_loaded) as n from ledger.batches "
                         "group by platform || '__' || entity")
    return ({t: n for t, n in raw.items() if n},
            {r.t: int(r.n) for r in loaded.itertuples() if r.n})
