"""What a `steward run` costs outside dbt (#12): Prefect's temporary server is launched by Steward at the start of
the process, comes up while the run loads, and is the server the flow then uses; nothing changes with a real
server; a server that cannot start is one error line. No timing is asserted: these are behaviour tests."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.flows import runtime

# A fresh Python, as `steward run` is: no PREFECT_API_URL, its own Prefect home. It launches the temporary server,
# loads what a run loads, then runs a real flow with a real task and says what it saw.
PROBE = """
import json, os, sys
from steward.flows.runtime import apply_defaults, flow_settings, start_temporary_server, use_temporary_server
apply_defaults()
server = start_temporary_server()
launched_pid = server.process.pid
import steward.flows.governance  # the run's modules load while the server starts
use_temporary_server()
from prefect import flow, task
from prefect.runtime import flow_run

@task
def double(x: int) -> int:
    return 2 * x

@flow(name="overhead-probe")
def probe() -> dict:
    return {"doubled": double(21), "flow_run_id": flow_run.id}

with flow_settings():
    seen = probe()
print(json.dumps({**seen, "api_url": os.environ["PREFECT_API_URL"], "server_url": server.api_url,
                  "server_pid": launched_pid,
                  "server_package_imported": "prefect.server.api.server" in sys.modules}))
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return {**env, "PREFECT_HOME": str(home), **extra}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_the_server_launched_first_is_the_one_the_flow_records_its_runs_in(tmp_path):
    home = tmp_path / "prefect-home"
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600,
                          env=_env(home))
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["doubled"] == 42
    assert seen["api_url"] == seen["server_url"]  # the flow talked to the server launched at the start
    assert not seen["server_package_imported"]  # the client never loaded Prefect's server package
    deadline = time.monotonic() + 60  # stopped by the process's exit hook (a loaded machine may lag in reaping)
    while _alive(seen["server_pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(seen["server_pid"]), "the temporary server outlived the process"
    # what Prefect recorded, read from the server's own database after it stopped: the flow run, completed, and
    # its task run (recorded from the events the client sent before the server was stopped)
    with sqlite3.connect(home / "prefect.db") as db:
        flow_runs = db.execute("select replace(id, '-', ''), state_type from flow_run").fetchall()
        task_runs = db.execute("select replace(flow_run_id, '-', ''), task_key, state_type from task_run") \
            .fetchall()
    flow_run_id = seen["flow_run_id"].replace("-", "")
    assert (flow_run_id, "COMPLETED") in flow_runs
    assert [(t[2]) for t in task_runs if t[0] == flow_run_id and "double" in t[1]] == ["COMPLETED"]


def test_with_a_prefect_api_url_nothing_is_started(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    monkeypatch.setattr(runtime, "_started", {})
    assert runtime.start_temporary_server() is None
    runtime.use_temporary_server()  # no server of ours: a no-op
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert runtime._started == {}


def test_a_server_that_cannot_start_is_one_error_line(tmp_path):
    from steward.integrations.sources import ExportFilesAdapter
    from steward.integrations.warehouse import Warehouse

    (tmp_path / "exports").mkdir()
    # every export present (a missing one is refused before the server is needed: test_bad_input.py), never read
    for path in ExportFilesAdapter("crm", "salesforce", tmp_path / "exports",
                                   Warehouse(tmp_path / "probe.duckdb")).missing_files():
        path.write_text("", encoding="utf-8")
    config = tmp_path / "steward.yaml"
    config.write_text(yaml.safe_dump({"integrations": [{"name": "crm", "platform": "salesforce",
                                                        "path": "exports"}]}), encoding="utf-8")
    # a database the server cannot open (its folder does not exist): its start-up fails, as a full disk would
    missing = tmp_path / "no-such-folder" / "prefect.db"
    env = _env(tmp_path / "prefect-home",
               PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{missing}")
    proc = subprocess.run([sys.executable, "-m", "steward.flows.cli", "run", "-c", str(config)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("error: Prefect's temporary server did not start (exit code "), errors
    assert errors[0].endswith("set PREFECT_API_URL to use a running Prefect server"), errors
    assert "Traceback" not in proc.stderr


def test_a_failed_start_names_no_database_password():
    server = runtime.TemporaryServer()
    import tempfile

    server._log = tempfile.TemporaryFile()
    server._log.write(b"starting\nOSError: cannot reach postgresql+asyncpg://prefect:s3cret@db:5432/prefect\n")
    assert server._last_line() == "OSError: cannot reach postgresql+asyncpg://***@db:5432/prefect"
    server.stop()


# ``steward run`` as the console script starts it: which CLI modules were loaded when Prefect's temporary server was
# launched (printed at exit, after the command's own output).
LAUNCH_PROBE = """
import atexit, json, sys
from steward.flows import runtime
launched = []
_launch = runtime.TemporaryServer.launch
def launch(self):
    launched.append(sorted(m for m in sys.modules if m == "typer" or m.startswith("steward.flows.cli.run")))
    _launch(self)
runtime.TemporaryServer.launch = launch
atexit.register(lambda: print(json.dumps(launched)))
sys.argv = ["steward", *ARGS]
from steward.flows.cli import main
main()
"""


def test_a_run_launches_the_server_before_the_cli_is_built_and_help_launches_none(tmp_path):
    """The server's start-up is what a run waits for before its flow starts: it is launched before typer and the
    run's command are even imported. ``--help`` starts nothing; a bad config is still one line and exit 2."""
    def probe(*args: str):
        proc = subprocess.run([sys.executable, "-c", f"ARGS = {list(args)!r}\n{LAUNCH_PROBE}"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600, env=_env(tmp_path / "prefect-home"))
        return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr

    code, launched, err = probe("run", "-c", "missing.yaml")
    assert code == 2 and launched == [[]], err
    assert [line for line in err.splitlines() if line.startswith("error: ")] == \
        [line for line in err.splitlines() if line.strip()][:1]
    assert "missing.yaml: config file not found" in err
    code, launched, _ = probe("run", "--help")
    assert code == 0 and launched == []


# A command that finished: its exit hooks, its threads and its buffered output must all be honoured when the
# interpreter's final teardown is skipped (runtime.exit_now, used by `steward run` and `steward demo`).
EXITING = """
import atexit, sys, threading, time
from pathlib import Path
from steward.flows.runtime import exit_now
out = Path(sys.argv[1])
atexit.register(lambda: (out / "hook").write_text("ran"))
def late():
    time.sleep(0.5)
    (out / "thread").write_text("finished")
threading.Thread(target=late).start()  # not a daemon: the interpreter waits for it, and so must exit_now
sys.stdout.write("buffered, no newline")
exit_now(int(sys.argv[2]) if sys.argv[2].isdigit() else sys.argv[2])
"""


def test_exit_now_keeps_the_exit_code_hooks_threads_and_output(tmp_path):
    proc = subprocess.run([sys.executable, "-c", EXITING, str(tmp_path), "3"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "buffered, no newline"
    assert (tmp_path / "hook").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "finished"
    said = subprocess.run([sys.executable, "-c", EXITING, str(tmp_path), "went wrong"], capture_output=True,
                          text=True, timeout=120)
    assert (said.returncode, said.stderr) == (1, "went wrong\n")


# ------------------------------------------------------------------------------ the run's findings, set-based
def _finding(run_id: str, subject: str, observed: float):
    from steward.contracts.finding import Finding

    return Finding(run_id=run_id, check_id="consent.send_after_opt_out", family="privacy_consent", severity="critical",
                   subject_type="integration", subject=subject, metric="people", observed=observed, threshold=0.0,
                   evidence={"people": observed, "sample_ids": ["c_***91"]}, explanation=f"{subject}: {observed}",
                   sample_query=None, owner="privacy-office", action="alert")


def _stored(wh, run_id: str) -> dict:
    rows = wh.query_df(f"select subject, observed, first_seen_at, last_seen_at, evidence from ledger.findings "
                       f"where run_id = '{run_id}'")
    return {r.subject: (r.observed, r.first_seen_at, r.last_seen_at, json.loads(r.evidence))
            for r in rows.itertuples()}


def _record_twice(wh, monkeypatch) -> None:
    from steward.integrations.warehouse import ledger

    monkeypatch.setattr(ledger, "_CHUNK", 2)  # several statements, as a run with thousands of findings makes
    first = ledger.record_findings(wh, [_finding("r1", s, 1.0) for s in ("hubspot", "cdp", "esp")])
    time.sleep(0.01)
    # r2: hubspot again (twice: the last one wins, as when each finding was its own statement), and a new subject
    second = ledger.record_findings(wh, [_finding("r2", "hubspot", 2.0), _finding("r2", "crm", 5.0),
                                         _finding("r2", "hubspot", 3.0)])
    r1, r2 = _stored(wh, "r1"), _stored(wh, "r2")
    assert sorted(r1) == ["cdp", "esp", "hubspot"] and sorted(r2) == ["crm", "hubspot"]
    assert r2["hubspot"][0] == 3.0 and r2["hubspot"][3] == {"people": 3.0, "sample_ids": ["c_***91"]}
    assert r2["hubspot"][1] == r1["hubspot"][1] < r2["hubspot"][2]  # first seen carried over from r1
    assert r2["crm"][1] == r2["crm"][2]  # never seen before: first seen now
    assert [f.first_seen_at for f in first] == [r1[s][1] for s in ("hubspot", "cdp", "esp")]
    assert [f.observed for f in second] == [2.0, 5.0, 3.0]  # every finding comes back, in order, dated
    assert second[0].first_seen_at == second[2].first_seen_at == r1["hubspot"][1]


def test_findings_are_recorded_in_bulk_with_first_sightings_carried_over(tmp_path, monkeypatch):
    from steward.integrations.warehouse import Warehouse

    _record_twice(Warehouse(tmp_path / "w.duckdb"), monkeypatch)


def test_findings_are_recorded_in_bulk_on_postgres_too(pg_server, monkeypatch):
    from steward.integrations.warehouse import Warehouse

    _record_twice(Warehouse(pg_server.fresh_database("findings")), monkeypatch)


# ------------------------------------------------------------------- judging only the rows past a level
def _judged_by_pandera_alone(check_id, rule, mart, policy):
    """The judgement as it was: every judgeable row through pandera (the reference the shortcut must equal)."""
    import pandera.pandas as pa

    from steward.contracts import governance

    rows = governance._judgeable(check_id, rule, mart, policy)
    checks = [pa.Check(governance._passes(rule.direction, limit), name=level)
              for level in ("critical", "warn") if (limit := getattr(rule, level)) is not None]
    schema = pa.DataFrameSchema({rule.metric: pa.Column(float, nullable=True, coerce=True, checks=checks)})
    try:
        schema.validate(rows, lazy=True)
        return []
    except pa.errors.SchemaErrors as err:
        return governance.findings_from_failures(check_id, rule, rows, err.failure_cases, "r", policy)


_METRIC = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32),
                    st.integers(-5, 5), st.sampled_from([0.05, 0.2, 1e-12, -1e-12]))


@settings(max_examples=30, deadline=None)
@given(values=st.lists(_METRIC, max_size=12), direction=st.sampled_from(["min", "max"]),
       limits=st.sampled_from([(0.05, 0.2), (0.05, None), (None, 0.2), (0.2, 0.2)]), as_text=st.booleans())
def test_judging_only_breaching_rows_finds_exactly_what_pandera_found_on_all(values, direction, limits, as_text):
    from steward.contracts.governance import judge
    from steward.contracts.policy import CheckRule, load_policy

    warn, critical = limits if direction == "max" else (limits[1], limits[0]) if None not in limits else limits
    if direction == "min" and warn is not None and critical is not None:
        warn, critical = max(warn, critical), min(warn, critical)
    rule = CheckRule(family="reconciliation", mart="gov_x", subject_type="campaign", subject="{campaign_id}",
                     key=["campaign_id"], metric="gap", direction=direction, warn=warn, critical=critical,
                     metric_can_be_negative=True, evidence=["n"], explanation="{campaign_id}: {observed}",
                     action={"critical": "pause"})
    gaps = pd.Series(values, dtype=object)
    mart = pd.DataFrame({"campaign_id": [f"c{i}" for i in range(len(values))],
                         "gap": gaps.astype(str) if as_text else gaps, "n": range(len(values))})
    policy = load_policy()
    assert judge("reconciliation.gap", rule, mart, "r", policy) == \
        _judged_by_pandera_alone("reconciliation.gap", rule, mart, policy)


def test_a_server_named_by_prefects_settings_stops_the_launched_one_unused(monkeypatch):
    """PREFECT_API_URL from a profile or prefect.toml is only known once Prefect's settings load, after the launch."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(runtime, "_started", {})
    server = runtime.start_temporary_server()
    process = server.process
    assert process is not None and process.poll() is None
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        runtime.use_temporary_server()
    assert process.poll() is not None and server.process is None  # stopped, unused
    assert "PREFECT_API_URL" not in os.environ and runtime._started == {}


def test_a_runs_pin_is_closed_while_dbt_opens_the_file_and_opened_again_after(tmp_path):
    """A run pins its warehouse from start to end (one open of the file before dbt and one after, not one per
    step); dbt opens the file itself with its own settings, so ``released`` closes the pin for dbt's stretch and
    opens it again, with the warehouse's settings, for the holders to go on; unpinned, it does nothing."""
    import duckdb

    from steward.integrations.warehouse import Warehouse
    from steward.integrations.warehouse.connection import _PINNED, released, wait_released

    wh = Warehouse(tmp_path / "w.duckdb", settings={"threads": "1"})
    with released(wh.path):  # nothing pinned: nothing to close or open
        assert wh.path not in _PINNED
    with wh.pinned(), wh.pinned():  # the CLI's pin and the flow's, nested
        with wh.connect() as con:
            con.execute("create table t as select 1 as x")
        before = _PINNED[wh.path][0]
        with released(str(wh.path)):
            assert wh.path not in _PINNED  # closing: dbt's own open waits for it, and is then the only one
            wait_released(wh.path)
            other = duckdb.connect(str(wh.path), config={"threads": "2"})  # as dbt-duckdb opens it
            other.execute("insert into t values (2)")
            other.close()
        assert _PINNED[wh.path][1] == 2 and _PINNED[wh.path][0] is not before  # both holders, a fresh open
        with wh.connect() as con:  # a cursor of the reopened pin: it sees what dbt wrote, with the run's settings
            assert con.execute("select sum(x) from t").fetchone()[0] == 3
            assert con.execute("select current_setting('threads')").fetchone()[0] == 1
    assert wh.path not in _PINNED  # the last holder out closed it
    with duckdb.connect(str(wh.path)) as con:  # and nothing of this process holds the file any more
        assert con.execute("select count(*) from t").fetchone()[0] == 2


def test_the_ingests_writes_are_checkpointed_by_the_pins_close_while_dbt_starts(tmp_path, monkeypatch):
    """After ``defer_checkpoint`` a commit that outgrows DuckDB's checkpoint threshold leaves its writes in the WAL
    (the PII scan's commit used to checkpoint a day's ingest on the run's one busy thread); ``released`` closes the
    pin, checkpoint first, on a thread of its own, and dbt-duckdb's open of the file waits for that close
    (``_open_after_release``) instead of meeting the pin, opened with other settings, still there."""
    import threading

    import duckdb
    from dbt.adapters.duckdb.credentials import DuckDBCredentials
    from dbt.adapters.duckdb.environments import Environment

    from steward.integrations.transform import dbt_build
    from steward.integrations.warehouse import Warehouse
    from steward.integrations.warehouse import connection
    from steward.integrations.warehouse.connection import _PINNED, released

    path = tmp_path / "w.duckdb"
    wal = path.with_name(path.name + ".wal")
    wh = Warehouse(path, settings={"threads": "1"})
    with wh.pinned():
        with wh.connect() as con:
            con.execute("create table t as select range as x from range(10)")
            con.execute("checkpoint")
            con.execute("set checkpoint_threshold = '16KB'")  # a small threshold stands in for a day's 16 MB
        wh.defer_checkpoint()
        with wh.connect() as con:
            con.execute("insert into t select range + 10 from range(100000)")  # under a row group: into the WAL
        assert wal.exists() and wal.stat().st_size > 16 * 1024  # left in the WAL, not checkpointed
        held = threading.Event()
        original = connection._PinClose.run
        monkeypatch.setattr(connection._PinClose, "run", lambda self: (held.wait(), original(self)))
        dbt_build._open_after_release()
        creds = DuckDBCredentials(path=str(path), config_options={"threads": "2"})  # as dbt's profile opens it
        opened: dict = {}
        with released(wh.path):
            assert wh.path not in _PINNED
            try:
                dbt_open = threading.Thread(target=lambda: opened.update(con=Environment.initialize_db(creds)))
                dbt_open.start()
                dbt_open.join(0.5)
                assert dbt_open.is_alive()  # dbt's open waits: the pin, with its other settings, is still closing
            finally:
                held.set()  # (a failed assertion must not leave the close, and so the test, waiting for ever)
            dbt_open.join()
            assert not wal.exists() or wal.stat().st_size == 0  # the close checkpointed the deferred writes
            dbt_con = opened["con"]
            assert dbt_con.execute("select count(*), current_setting('threads') from t").fetchone() == (100010, 2)
            dbt_con.close()
        with wh.connect() as con:  # the reopened pin: a new database, with DuckDB's own threshold again
            assert con.execute("select count(*) from t").fetchone()[0] == 100010
            assert con.execute("select current_setting('checkpoint_threshold')").fetchone()[0] != "931.3 GiB"
    with duckdb.connect(str(path)) as con:
        assert con.execute("select count(*) from t").fetchone()[0] == 100010


def test_a_pin_released_by_its_last_holder_during_dbt_is_not_opened_again(tmp_path):
    from steward.integrations.warehouse import Warehouse
    from steward.integrations.warehouse.connection import _PINNED, released

    wh = Warehouse(tmp_path / "w.duckdb")
    pin = wh.pinned()
    pin.__enter__()
    with released(wh.path):
        pin.__exit__(None, None, None)  # the holder left while dbt had the file
    assert wh.path not in _PINNED


def test_the_adapters_flags_no_longer_pile_up_in_dbts_default_list():
    """dbt-adapters appends an adapter's own flags to its module-level default list at every adapter start
    (PostgreSQL: one flag per build), so a process running many builds judged a longer list at each; repeats are
    dropped before every build, the first of each name (the one dbt reads) kept."""
    from dbt.adapters.base import impl

    from steward.integrations.transform import dbt_build

    saved = list(impl.DEFAULT_BASE_BEHAVIOR_FLAGS)
    try:
        extra = {"name": "an_adapters_flag", "default": False, "docs_url": "https://example.org"}
        impl.DEFAULT_BASE_BEHAVIOR_FLAGS.extend([extra, dict(extra, default=True), saved[0].copy(), extra])
        dbt_build._lighter_adapter_start()
        names = [f["name"] for f in impl.DEFAULT_BASE_BEHAVIOR_FLAGS]
        assert names == [f["name"] for f in saved] + ["an_adapters_flag"]
        assert impl.DEFAULT_BASE_BEHAVIOR_FLAGS[-1] is extra and impl.DEFAULT_BASE_BEHAVIOR_FLAGS[0] is saved[0]
    finally:
        impl.DEFAULT_BASE_BEHAVIOR_FLAGS[:] = saved


def test_a_flag_is_named_after_the_module_that_started_it_without_walking_the_stack(monkeypatch):
    """dbt-common names each behaviour flag's source with ``inspect.stack()`` at every adapter start (reading every
    calling frame's source file: 20-60 ms a flag in a test worker); Steward's replacement gives the same name from
    the frames' module names, and reads no source file."""
    import inspect

    from dbt.adapters.base import impl
    from dbt_common.behavior_flags import Behavior, BehaviorFlagRendered

    from steward.integrations.transform import dbt_build

    dbt_build._lighter_adapter_start()
    dbt_build._lighter_adapter_start()  # idempotent: dbt's own is kept, not the replacement
    assert BehaviorFlagRendered._default_source is dbt_build._flag_source
    assert dbt_build._DBT_FLAG_SOURCE is not None and dbt_build._DBT_FLAG_SOURCE is not dbt_build._flag_source
    flag = {"name": "a_flag", "default": False, "docs_url": "https://example.org"}

    class Adapter:  # what an adapter start runs: BaseAdapter's ``behavior`` setter, in dbt.adapters.base.impl
        _behavior_flags: list = []
        config = None

    def sources() -> tuple[str, str]:
        adapter = Adapter()
        impl.BaseAdapter.behavior.fset(adapter, [dict(flag)])
        return (Behavior([dict(flag)], {}).a_flag._behavior_change_event.flag_source,
                adapter._behavior.a_flag._behavior_change_event.flag_source)

    with monkeypatch.context() as m:
        m.setattr(BehaviorFlagRendered, "_default_source", staticmethod(dbt_build._DBT_FLAG_SOURCE))
        dbts = sources()
    with monkeypatch.context() as m:
        m.setattr(inspect, "stack", lambda *a, **k: pytest.fail("the stack was walked"))
        ours = sources()
    assert ours == dbts == (__name__, "dbt.adapters.base.impl")


# ------------------------------------------------------------------- the collector while a run loads (runtime.loading)
GC_PROBE = """
import atexit, gc, json, sys
seen = {}
import steward.integrations.transform.dbt_build as dbt_build
_preload = dbt_build.preload
def preload(warehouse):  # the last thing a run loads before its flow: the collector is still off
    _preload(warehouse)
    seen["loading"] = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
dbt_build.preload = preload
import steward.flows.governance as governance
def governance_run(params):  # the flow itself is not what is asked: what the run starts it with
    seen["flow"] = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
    raise SystemExit(0)
governance.governance_run = governance_run
atexit.register(lambda: print(json.dumps(seen)))
sys.argv = ["steward", "run", "-c", "steward.yaml"]
from steward.flows.cli import main
main()
"""


def test_a_run_loads_with_the_collector_off_and_starts_its_flow_with_the_loaded_objects_frozen(tmp_path):
    """``steward run`` loads Prefect, dbt and pandas with Python's cyclic collector off, then freezes what it loaded
    and turns the collector on before the flow starts (runtime.loading): what the run makes is collected as usual,
    the ~400k objects it loaded are not walked again at every full collection."""
    (tmp_path / "steward.yaml").write_text(
        "integrations:\n  - {name: crm, platform: hubspot, kind: api, base_url: 'http://127.0.0.1:9'}\n")
    env = {**_env(tmp_path / "prefect-home"), "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # nothing is started
    proc = subprocess.run([sys.executable, "-c", GC_PROBE], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["loading"] == {"enabled": False, "frozen": 0}
    assert seen["flow"]["enabled"] is True
    assert seen["flow"]["frozen"] > 100_000  # Prefect's, dbt's and pandas' objects, out of the collector's walks


LOADING = """
import gc, json
from steward.flows.runtime import loading, loaded
out = {}
with loading():
    out["inside"] = gc.isenabled()
out["after"] = gc.isenabled()
try:
    with loading():
        raise ValueError("a refused config")
except ValueError:
    out["after_error"] = gc.isenabled()
gc.disable()
with loading():
    pass
out["left_off"] = gc.isenabled()  # a caller that had it off keeps it off
with loading():
    loaded()
    out["loaded"] = [gc.isenabled(), gc.get_freeze_count() > 0, list(gc.get_threshold())]
print(json.dumps(out))
"""


def test_loading_gives_the_collector_back_as_it_found_it():
    proc = subprocess.run([sys.executable, "-c", LOADING], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"inside": False, "after": True, "after_error": True, "left_off": False,
                                       "loaded": [True, True, [10_000, 20, 20]]}
