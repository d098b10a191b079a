"""Whole runs on PostgreSQL give DuckDB's findings (issue #13, item 5), each scenario once on each warehouse through
tests/pg_scenarios.py: the clean workspace from ``steward demo --clean --warehouse URL`` raises nothing and finds
what DuckDB finds; a run killed mid-way and run again lands nothing twice and finds what one clean run finds. (The
injected demo, every switch, and breaking-drift isolation: tests/integrations/test_pg_demo.py.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from governed import DemoRun, demo_run_copy
from pg_scenarios import TEMPLATE_AGE, Pair, assert_same_findings, govern_on_both, raw_vs_batches
from steward.contracts.policy import load_policy
from steward.flows.governance import RunParams, RunResult, governance_run
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow
STEWARD = [sys.executable, "-m", "steward.flows.cli"]


def _environment(prefect_api: dict[str, str]) -> dict[str, str]:
    """This process's environment for a ``steward`` child, pointed at the session's Prefect server."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "SLACK_"))}, **prefect_api}


def test_steward_demo_clean_into_postgres_raises_nothing_and_finds_what_duckdb_finds(tmp_path, tmp_path_factory,
                                                                                      pg_server, prefect_harness):
    """Items 1 and 5 of the slice: ``steward demo --clean --warehouse URL`` as a user types it (files source, the
    session template's scale and seed), against the clean template governed on DuckDB. The command runs in this
    process (typer's runner, the session's Prefect server): what it does on PostgreSQL is under test here, and the
    ``steward`` process itself, its start, exit code and one JSON document on stdout, is test_cli_end_to_end.py's
    (and the killed run's below), so a child's start and imports are not paid again for it."""
    from typer.testing import CliRunner

    from steward.flows.cli import app

    duck = demo_run_copy(tmp_path_factory, "clean-duckdb", clean=True)
    url = pg_server.fresh_database("clean")
    since = datetime.now(timezone.utc) - TEMPLATE_AGE  # the clean template's age bounds the clock-bound checks
    done = CliRunner().invoke(app, ["demo", "--clean", "--source", "files", "--scale", "0.2", "--seed", "7",
                                    "--workdir", str(tmp_path / "demo"), "--warehouse", url, "--json"])
    assert done.exit_code == 0 and done.exception is None, (done.exception, done.stderr[-3000:])
    result = RunResult.model_validate(json.loads(done.stdout))  # stdout holds the one JSON document, nothing else
    assert result.status == "completed" and result.warehouse == url
    assert result.counts["warn"] == result.counts["critical"] == 0, [
        (f.check_id, f.subject, f.severity) for f in result.findings]
    pair = Pair(duck, DemoRun(tmp_path / "demo" / "steward.yaml", None, result), url, since)
    assert_same_findings(pair)
    assert not {f.check_id for f in duck.result.findings if f.severity in ("warn", "critical")}
    # a clean workspace finds (next to) nothing on either side: the comparison also holds what the checks judged
    pg, duckdb = Warehouse(url), Warehouse(duck.result.warehouse)
    assert raw_vs_batches(pg) == raw_vs_batches(duckdb)
    marts = sorted({rule.mart for rule in load_policy(None).checks.values()})
    count = "select count(*) as n from governance.{}"
    with duckdb.pinned():  # the DuckDB file opened once for the marts' counts, not once per mart
        counted = {m: int(duckdb.query_df(count.format(m))["n"][0]) for m in marts}
    assert {m: int(pg.query_df(count.format(m))["n"][0]) for m in marts} == counted


def _kill_during_ingest(config, env: dict[str, str], log) -> int:
    """``steward run -c config`` in a child; SIGKILL once it reports a landed batch. Returns the child's pid."""
    with open(log, "w") as err:
        child = subprocess.Popen([*STEWARD, "run", "-c", str(config)], cwd=config.parent, env=env,
                                 stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        while not re.search(r"ingest\s+\w+\.\w+: \d", log.read_text()):
            assert child.poll() is None, f"steward run ended before landing a batch:\n{log.read_text()[-3000:]}"
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)  # nothing of ours runs: no clean-up, an open transaction rolled back
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    return child.pid


def test_a_run_killed_mid_way_then_rerun_lands_nothing_twice_and_finds_what_one_run_finds(tmp_path_factory,
                                                                                          pg_server, prefect_api):
    """tests/flows/test_interrupt.py's kill -9 on PostgreSQL: the killed run stays ``running`` until the next run
    marks it abandoned; the next run lands what is missing, nothing twice, and judges as one uninterrupted run."""
    pair = govern_on_both(tmp_path_factory, pg_server, "crash", run=False)
    pid = _kill_during_ingest(pair.pg.config, _environment(prefect_api), pair.pg.ws.root / "killed.log")
    wh = Warehouse(pair.url)
    [(killed, status)] = wh.query_df("select run_id, status from ledger.runs").values.tolist()
    assert status == "running"
    before = wh.query_df("select batch_id, fingerprint from ledger.batches")
    assert not before.empty  # it died mid-way: some batches landed (each whole), the rest had not


    rerun = governance_run(RunParams(config=str(pair.pg.config), kind="demo"))
    assert rerun.status == "completed"
    runs = dict(wh.query_df("select run_id, status from ledger.runs").values.tolist())
    assert runs == {killed: "abandoned", rerun.run_id: "completed"}
    summary = wh.query_df("select summary from ledger.runs where run_id = ?", [killed])["summary"][0]
    assert f"process {pid}" in summary

    after = wh.query_df("select batch_id, fingerprint, run_id from ledger.batches")
    assert set(before["batch_id"]) <= set(after["batch_id"])
    again = after.loc[after["run_id"] == rerun.run_id, "fingerprint"]
    assert set(again).isdisjoint(before["fingerprint"])  # what the killed run landed is not landed again
    print(f"killed after {len(before)} of {len(after)} batches")
    raw, loaded = raw_vs_batches(wh)
    assert raw == loaded  # every batch landed whole and once, the killed run's and the rerun's
    assert raw == raw_vs_batches(Warehouse(pair.duck.result.warehouse))[0]  # the rows one clean DuckDB run landed
    pair.pg = DemoRun(pair.pg.config, pair.pg.ws, rerun)
    assert_same_findings(pair)
