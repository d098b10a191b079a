"""Two runs on one warehouse (issue #13, item 4): the second waits its turn or refuses with one line naming the run
that holds the writer lock, on DuckDB (flock) and on PostgreSQL (an advisory lock); on a server the health monitor
probes while a run holds it."""

from __future__ import annotations

import threading
import time

import pytest

from both_warehouses import any_warehouse  # noqa: F401
from steward.contracts.errors import WarehouseBusy
from steward.integrations.warehouse import Warehouse, ledger
from steward.integrations.warehouse.writer_lock import LockHolder, hold, writer_lock


def test_a_second_run_refuses_with_one_line_naming_the_run_that_holds_the_lock(any_warehouse):
    wh = any_warehouse
    ledger.start_run(wh, "run-first", "governance", None)
    first = writer_lock(wh.path)
    first.acquire(LockHolder("run-first"), timeout=5)
    try:
        second = writer_lock(wh.path)
        started = time.monotonic()
        with pytest.raises(WarehouseBusy) as err:
            second.acquire(LockHolder("run-second"), timeout=0.5)
        assert time.monotonic() - started >= 0.5  # it waited its lock_timeout_seconds first
        message = str(err.value)
        assert "\n" not in message
        assert "run run-first (pid " in message and "is writing to the warehouse; waited 0.5 s" in message
        assert str(wh.path) in message and "lock_timeout_seconds" in message
    finally:
        first.release()


def test_a_second_run_waits_and_goes_when_the_first_lets_go(any_warehouse):
    wh = any_warehouse
    first = writer_lock(wh.path)
    first.acquire(LockHolder("run-first"), timeout=5)
    told: list[LockHolder | None] = []

    def waiting(holder: LockHolder | None) -> None:  # told it waits: now the first run finishes
        told.append(holder)
        threading.Thread(target=first.release).start()

    second = writer_lock(wh.path)
    second.acquire(LockHolder("run-second"), timeout=120, on_wait=waiting)  # no tight timeout: it waits
    try:
        assert len(told) == 1 and told[0] is not None and told[0].run_id == "run-first"
        assert second.holder().run_id == "run-second"
    finally:
        second.release()
    assert writer_lock(wh.path).holder() is None


def test_the_holder_is_completed_from_ledger_runs_on_postgres(pg_server):
    wh = Warehouse(pg_server.fresh_database("lock"))
    ledger.start_run(wh, "run-ledgered", "governance", None)
    with wh.connect() as con:
        con.execute("update ledger.runs set pid = 4242, host = 'etl-box-7' where run_id = ?", ["run-ledgered"])
    first = writer_lock(wh.path)
    first.acquire(LockHolder("run-ledgered"), timeout=5)
    try:
        holder = writer_lock(wh.path).holder()
        assert (holder.run_id, holder.pid, holder.host) == ("run-ledgered", 4242, "etl-box-7")
        with pytest.raises(WarehouseBusy, match=r"run run-ledgered \(pid 4242 on etl-box-7, since 20"):
            writer_lock(wh.path).acquire(LockHolder("run-other"), timeout=0)
    finally:
        first.release()


def test_the_health_monitor_probes_while_a_run_holds_a_postgres_warehouse(pg_server):
    """Another process's run holds the lock (a session of its own); the monitor neither waits nor fails, and its
    writes land, because the server isolates sessions."""
    wh = Warehouse(pg_server.fresh_database("mon"))
    run = writer_lock(wh.path)
    run.acquire(LockHolder("run-long"), timeout=5)
    try:
        started = time.monotonic()
        with hold(wh.path, "health-1", timeout=0, monitor=True):
            ledger.start_run(Warehouse(wh.path), "health-1", "health", None)
        assert time.monotonic() - started < 60
        assert wh.query_df("select run_id from ledger.runs")["run_id"].tolist() == ["health-1"]
        with pytest.raises(WarehouseBusy):  # a governance run (not the monitor) still takes its turn
            with hold(wh.path, "run-2", timeout=0):
                pass
    finally:
        run.release()


def test_on_duckdb_the_monitor_still_waits_for_the_run(tmp_path):
    """A DuckDB file has one writer: there the monitor keeps waiting its turn (unchanged)."""
    wh = Warehouse(tmp_path / "w.duckdb")
    run = writer_lock(wh.path)
    run.acquire(LockHolder("run-long"), timeout=5)
    try:
        with pytest.raises(WarehouseBusy, match="run run-long"):
            with hold(wh.path, "health-1", timeout=0, monitor=True):
                pass
    finally:
        run.release()
