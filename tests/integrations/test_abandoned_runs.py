"""Runs left `running` by a process that is gone become `abandoned` at the next start (issue #16, case 14)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import datetime, timezone

from steward.integrations.warehouse import ledger
from steward.integrations.warehouse import Warehouse


def _running(wh: Warehouse, run_id: str, pid: int | None, host: str | None) -> None:
    with wh.connect() as con:
        con.execute("insert into ledger.runs (run_id, kind, started_at, status, pid, host) "
                    "values (?, 'scheduled', ?, 'running', ?, ?)", [run_id, datetime.now(timezone.utc), pid, host])


def test_only_runs_whose_process_is_gone_are_abandoned(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    here = socket.gethostname()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _running(wh, "run-dead", int(gone.stdout), here)
        _running(wh, "run-live", live.pid, here)  # its process still runs: not ours to judge
        _running(wh, "run-elsewhere", int(gone.stdout), "another-host")  # cannot be checked from here
        _running(wh, "run-before-pids", None, None)  # written before pids were recorded
        started = ledger.start_run(wh, "run-now", "on_demand", None)
        assert sorted(ledger.mark_abandoned(wh)) == ["run-before-pids", "run-dead"]
    finally:
        live.kill()
        live.wait()
    rows = {r["run_id"]: r for r in wh.query_df("select run_id, status, pid, host, summary from ledger.runs")
            .to_dict("records")}
    assert {k: v["status"] for k, v in rows.items()} == {
        "run-dead": "abandoned", "run-live": "running", "run-elsewhere": "running", "run-before-pids": "abandoned",
        "run-now": "running"}
    assert json.loads(rows["run-dead"]["summary"]) == {"error": f"abandoned: process {gone.stdout.strip()} on {here} is gone"}
    assert (rows["run-now"]["pid"], rows["run-now"]["host"]) == (os.getpid(), here)
    assert started.tzinfo is not None
