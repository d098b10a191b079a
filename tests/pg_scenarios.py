"""Test helper: run a governance scenario on both warehouses and compare the findings (issue #13, item 5).

The DuckDB side is a copy of the session's governed demo (tests/governed.py ``demo_run_copy``: the run is paid once
per session); the PostgreSQL side is another copy of the same workspace whose ``steward.yaml`` names a fresh database
on the session's server (``pg_server``), governed by a real flow run. A scenario that changes the workspace (an export
loses its key, a run is killed) applies the same change to both copies and runs again on each with
:func:`rerun_on_both`. :func:`assert_same_findings` is the comparison the issue asks for: the same check ids,
subjects and severities, observed values within 1e-9 -- except a check measured against the clock.

The PostgreSQL run of a workspace is the same run every time, so it is paid once per session as well
(:func:`pg_demo_run_copy`): whichever xdist worker asks first governs it into its server and dumps the database next
to a copy of the folder the run left; each worker restores the dump once into a template database of its own server,
and each caller gets a ``CREATE DATABASE ... TEMPLATE`` clone of it (well under a second) and a copy of the folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import pickle
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import yaml

from governed import DemoRun, _session_dir, demo_run_copy, template_day
from steward.flows.governance import RunParams, governance_run
from steward.integrations.warehouse import Warehouse

__all__ = ["CLOCK_BOUND", "TEMPLATE_AGE", "Pair", "findings", "on_warehouse", "pg_demo_run_copy", "govern_on_both",
           "rerun_on_both", "assert_same_findings", "raw_vs_batches"]

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


# the template database each worker restored on its own server, per template folder: {(port, tag): database}
_LOCAL_TEMPLATES: dict[tuple[int, str], str] = {}


def _pg_demo_run_template(tmp_path_factory, pg_server, scale: float, seed: int, clean: bool) -> Path:
    """The folder of the session's demo run ``(scale, seed, clean)`` governed into PostgreSQL: ``ws`` (the workspace
    after the run), ``db.dump`` (the database) and ``template.pickle`` (the workspace, the run's result, the URL and
    folder it ran in). Built once for the session by whichever xdist worker asks first; the caller must have a
    Prefect API (``prefect_harness``): the run is a real flow run."""
    tag = hashlib.sha256(repr(("pg-demo-run", scale, seed, clean, template_day())).encode()).hexdigest()[:12]
    root = _session_dir(tmp_path_factory) / f"pg-demo-run-{tag}"
    with open(root.parent / f"pg-demo-run-{tag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "template.pickle").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            pg = demo_run_copy(tmp_path_factory, f"pg-demo-run-{tag}", scale=scale, seed=seed, clean=clean)
            url = pg_server.fresh_database("pg_demo_run")
            config = on_warehouse(pg.config, url)
            result = governance_run(RunParams(config=str(config), kind="demo"))
            assert result.status == "completed" and result.warehouse == url, result.status
            pg_server.dump_database(url.rsplit("/", 1)[1], root / "db.dump")
            shutil.copytree(pg.ws.root, root / "ws", symlinks=True)
            ws = replace(pg.ws, root=root / "ws", files={k: root / "ws" / Path(f).relative_to(pg.ws.root)
                                                         for k, f in pg.ws.files.items()})
            (root / "template.pickle").write_bytes(pickle.dumps(  # written last: the template is done
                (ws, result.model_dump_json().replace(str(pg.ws.root), str(root / "ws")), url)))
    return root


def pg_demo_run_copy(tmp_path_factory, pg_server, name: str, scale: float = 0.2, seed: int = 7,
                     clean: bool = False) -> DemoRun:
    """A private copy of the session's demo run governed into PostgreSQL: the folder the run left (its
    ``steward.pg.yaml`` naming a database of its own on ``pg_server``, a clone of the run's) and the run's result,
    its warehouse and paths pointing at the copy. The workspace is the one ``demo_run_copy(scale, seed, clean)``
    governs on DuckDB, so the two compare."""
    from steward.flows.governance import RunResult

    template = _pg_demo_run_template(tmp_path_factory, pg_server, scale, seed, clean)
    ws, result_json, built_url = pickle.loads((template / "template.pickle").read_bytes())
    key = (pg_server.port, template.name)
    if key not in _LOCAL_TEMPLATES:  # this worker's server: restored once, cloned for each caller
        database = f"tpl_{template.name.replace('-', '_')}"
        pg_server.restore_database(template / "db.dump", database)
        _LOCAL_TEMPLATES[key] = database
    url = pg_server.clone_database(_LOCAL_TEMPLATES[key], name.replace("-", "_"))
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(template / "ws", root / "ws", symlinks=True)
    config = on_warehouse(root / "ws" / "steward.yaml", url)
    result = RunResult.model_validate_json(result_json.replace(str(ws.root), str(root / "ws"))
                                           .replace(built_url, url))
    files = {k: root / "ws" / Path(f).relative_to(ws.root) for k, f in ws.files.items()}
    return DemoRun(config, replace(ws, root=root / "ws", files=files), result)


def govern_on_both(tmp_path_factory, pg_server, name: str, *, scale: float = 0.2, seed: int = 7,
                   clean: bool = False, run: bool = True) -> Pair:
    """The demo workspace ``(scale, seed, clean)`` governed on DuckDB (the session template) and, when ``run``, on
    PostgreSQL (a clone of the session's run there, :func:`pg_demo_run_copy`); ``run=False`` gives a fresh
    PostgreSQL database and leaves the PostgreSQL side's run to the caller."""
    duck = demo_run_copy(tmp_path_factory, f"{name}-duckdb", scale=scale, seed=seed, clean=clean)
    since = datetime.now(timezone.utc) - TEMPLATE_AGE
    if run:
        pg = pg_demo_run_copy(tmp_path_factory, pg_server, f"{name}-postgres", scale=scale, seed=seed, clean=clean)
        assert pg.result.status == "completed" and pg.result.warehouse == yaml.safe_load(
            pg.config.read_text())["warehouse"], pg.result.status
        return Pair(duck, pg, pg.result.warehouse, since)
    pg = demo_run_copy(tmp_path_factory, f"{name}-postgres", scale=scale, seed=seed, clean=clean)
    url = pg_server.fresh_database(name.replace("-", "_"))
    return Pair(duck, DemoRun(on_warehouse(pg.config, url), pg.ws, None), url, since)


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
    with wh.pinned():  # a DuckDB file opened once for the few dozen counts, not once each (PostgreSQL: no-op)
        tables = wh.query_df("select table_name from information_schema.tables where table_schema = 'raw'")
        raw = {t: int(wh.query_df(f'select count(*) as n from raw."{t}"')["n"][0]) for t in tables["table_name"]}
        loaded = wh.query_df("select platform || '__' || entity as t, sum(rows_loaded) as n from ledger.batches "
                             "group by platform || '__' || entity")
    return ({t: n for t, n in raw.items() if n},
            {r.t: int(r.n) for r in loaded.itertuples() if r.n})
