"""One writer at a time per warehouse (issue #16, case 15).

Before: a second run, or the health monitor during the daily run, failed with DuckDB's raw `Could not set lock on
file`, and a loser that had started stayed `running` forever. Now a run holds the warehouse's writer lock from start
to end: a second run waits its turn, or after `lock_timeout_seconds` stops with exit 2 and one line naming the run
that holds it; `steward health` waits its turn and breaks nothing.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from steward.flows.demo import prepare_demo
from steward.integrations.emulator.stack import EmulatorStack
from steward.contracts.errors import WarehouseError
from steward.integrations.warehouse import Warehouse
from steward.contracts.errors import WarehouseBusy
from steward.integrations.warehouse.writer_lock import LockHolder, hold, writer_lock

from run_process import StewardProcess, runs, write_workspace

RUN_ID = r"run-\d{8}T\d{6}-[0-9a-f]{6}"


def test_a_second_holder_waits_then_is_told_who_holds_the_warehouse(tmp_path):
    """The lock itself, across two holders that cannot share it (two open locks, as two processes have)."""
    path = tmp_path / "w.duckdb"
    first, second = writer_lock(path), writer_lock(path)
    first.acquire(LockHolder("run-first"), timeout=0)
    told: list = []
    started = time.monotonic()
    with pytest.raises(WarehouseBusy, match=r"w\.duckdb: run run-first \(pid \d+ on .+, since .+\) is writing to "
                                            r"the warehouse; waited 0.5 s"):
        second.acquire(LockHolder("run-second"), timeout=0.5, on_wait=told.append)
    assert time.monotonic() - started >= 0.5
    assert [h.run_id for h in told] == ["run-first"]  # told once, with the holder, when it had to wait
    first.release()
    second.acquire(LockHolder("run-second"), timeout=0)  # free again: taken at once
    assert writer_lock(path).holder().run_id == "run-second"
    second.release()
    assert writer_lock(path).holder() is None


def test_the_lock_is_the_process_s_and_connections_inside_a_run_share_it(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb", lock_timeout=0)
    with hold(wh.path, "run-outer", timeout=0):
        with wh.connect() as con:  # the run's own connection: no wait on its own lock
            assert con.execute("select 1").fetchone() == (1,)
        with hold(wh.path, "run-inner", timeout=0):  # re-entrant; names the run
            assert writer_lock(wh.path).holder().run_id == "run-inner"
        done = threading.Event()
        threading.Thread(target=lambda: (wh.query_df("select 1"), done.set())).start()
        assert done.wait(30)  # another thread of the same process shares the lock too


def test_duckdb_s_own_lock_message_never_reaches_the_user(tmp_path):
    """A program outside Steward holding the file is named plainly, not with DuckDB's raw message."""
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    Warehouse(path)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(120)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseError) as caught:
            Warehouse(path)
    finally:
        holder.kill()
        holder.wait()
    assert str(caught.value) == f"{path}: another program (pid {holder.pid}) has the warehouse open; close it and run again"


@pytest.fixture(scope="module")
def contention(tmp_path_factory, prefect_api):
    """A run (A) holds the warehouse while three more come: a run with a 1 s lock timeout (short), a run with the
    default wait (patient), and `steward health` (health). Every process's exit code and stderr, and the ledger."""
    root = tmp_path_factory.mktemp("lock")
    prepare_demo(root / "demo", scale=0.2)
    with EmulatorStack(root / "demo", platforms=("hubspot",)) as stack:
        [hubspot] = stack.integrations()
        warehouse = root / "shared" / "steward.duckdb"
        configs = {name: write_workspace(root / name, [hubspot], warehouse=str(warehouse), **extra)
                   for name, extra in [("a", {}), ("short", {"lock_timeout_seconds": 1}), ("patient", {}),
                                       ("health", {})]}
        procs = {"a": StewardProcess("run", "-c", str(configs["a"]), cwd=root / "a", env=prefect_api)}
        try:
            started = procs["a"].wait_for(rf"start\s+run {RUN_ID}")
            procs["short"] = StewardProcess("run", "-c", str(configs["short"]), cwd=root / "short", env=prefect_api)
            procs["patient"] = StewardProcess("run", "-c", str(configs["patient"]), "--json", cwd=root / "patient",
                                              env=prefect_api)
            procs["health"] = StewardProcess("health", "-c", str(configs["health"]), "--json", cwd=root / "health",
                                             env=prefect_api)
            waits = {name: procs[name].wait_for(r"writing to the warehouse") for name in ("patient", "health")}
            codes = {name: p.finish(timeout=1800) for name, p in procs.items()}
        finally:
            for p in procs.values():
                p.kill()
    return {"a_run_id": started.split("run ")[1].split()[0], "codes": codes, "waits": waits,
            "lines": {name: p.lines for name, p in procs.items()}, "stdout": {n: p.stdout for n, p in procs.items()},
            "runs": runs(warehouse)}


@pytest.mark.slow
def test_a_second_run_with_a_short_wait_exits_2_naming_the_run_that_holds_the_warehouse(contention):
    assert contention["codes"]["short"] == 2
    [waited, line] = contention["lines"]["short"]  # said it waits, then why it stopped
    assert "writing to the warehouse; waiting up to 1 s" in waited
    assert line.startswith("error: ") and f"run {contention['a_run_id']} (pid " in line, line
    assert "is writing to the warehouse; waited 1 s for it (lock_timeout_seconds in steward.yaml)" in line
    assert "Could not set lock" not in line
    # it never started: no run of its own left 'running' (or at all) in the ledger
    assert {r["status"] for r in contention["runs"]} == {"completed"}


@pytest.mark.slow
def test_a_second_run_with_a_long_wait_waits_and_then_completes(contention):
    assert contention["codes"]["a"] == 0, "\n".join(contention["lines"]["a"])
    assert contention["codes"]["patient"] == 0, "\n".join(contention["lines"]["patient"])
    assert f"run {contention['a_run_id']} (pid " in contention["waits"]["patient"]
    patient = json.loads(contention["stdout"]["patient"])
    statuses = {r["run_id"]: r["status"] for r in contention["runs"]}
    assert statuses == {contention["a_run_id"]: "completed", patient["run_id"]: "completed"}


@pytest.mark.slow
def test_a_health_check_during_a_run_waits_its_turn_and_breaks_nothing(contention):
    assert f"run {contention['a_run_id']} (pid " in contention["waits"]["health"]
    assert contention["codes"]["health"] in (0, 1), "\n".join(contention["lines"]["health"])  # states, not errors
    assert not any("error" in line or "Could not set lock" in line for line in contention["lines"]["health"])
    [state] = json.loads(contention["stdout"]["health"])["integrations"]
    assert state["integration"] == "hubspot"
    assert contention["codes"]["a"] == 0  # and the run it waited for was not broken
