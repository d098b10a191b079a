"""Ctrl-C, SIGTERM and kill -9 during `steward run` (issue #16, case 14).

Before: a Ctrl-C kept ingesting, hung about 78 s, exited 1 with hundreds of traceback lines, left the run `running`
in ledger.runs forever and Prefect's temporary server alive. Now the pull stops at its next batch boundary, the run
is marked `interrupted`, the server is stopped, and the process exits 130 with one line, within seconds; a run left
`running` by a killed process is marked `abandoned` by the next one.
"""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from steward.flows.demo import prepare_demo
from steward.contracts.errors import RunInterrupted
from steward.flows import stopping
from steward.integrations.emulator.stack import EmulatorStack
from steward.integrations.warehouse.landing import read_watermark
from steward.flows.pull import pull_entity
from steward.integrations.sources import build_adapter
from steward.integrations.warehouse import Warehouse

from run_process import SLOW_BATCH_ROWS, StewardProcess, alive, children, raw_vs_batches, runs, write_workspace

pytestmark = pytest.mark.slow
HARD_LIMIT = 30.0  # seconds: the promise is 10; this bound only keeps a loaded machine from failing the test


@pytest.fixture(scope="module")
def hubspot(tmp_path_factory):
    """HubSpot's API on the local emulator, seeded with a small demo workspace; the config entry that pulls it."""
    root = tmp_path_factory.mktemp("exports")
    prepare_demo(root / "demo", scale=0.2)
    with EmulatorStack(root / "demo", platforms=("hubspot",)) as stack:
        [entry] = stack.integrations()
        yield {**entry, "batch_rows": SLOW_BATCH_ROWS}


def test_a_stop_request_ends_the_pull_between_two_batches(hubspot, tmp_path):
    """The pull loop's part, in-process: asked to stop while a batch lands, it finishes that batch (rows and
    watermark, one transaction) and starts no other."""
    wh = Warehouse(tmp_path / "w.duckdb")
    adapter = build_adapter("hubspot", "hubspot", "api", None, wh, ["email_events"], base_url=hubspot["base_url"],
                            credentials=hubspot["credentials"], batch_rows=SLOW_BATCH_ROWS)
    [stream] = adapter.streams()
    landed = []

    def second_batch_lands(item) -> None:
        landed.append(item)
        if len(landed) == 2:
            stopping.request_stop("SIGINT")  # as the signal handler does, from another thread of control

    try:
        with pytest.raises(RunInterrupted, match=r"hubspot\.email_events: stopped at a batch boundary"):
            pull_entity(adapter, stream, wh, "run-test", on_batch=second_batch_lands)
    finally:
        stopping.reset()
    assert len(landed) == 2
    rows = wh.query_df("select count(*) as n from raw.hubspot__email_events")["n"][0]
    assert 0 < rows == sum(item.result.rows_loaded for item in landed) < 25_000  # two batches, not the entity
    assert read_watermark(wh, "hubspot", "email_events") == landed[-1].watermark


def _interrupt(config, sig: signal.Signals, record_property) -> tuple[StewardProcess, float, dict[int, str]]:
    run = StewardProcess("run", "-c", str(config), cwd=config.parent)
    try:
        run.wait_for(r"ingest\s+hubspot\.\w+: \d")  # a batch has landed: ingest is under way
        server = {pid: cmd for pid, cmd in children(run.proc.pid).items() if "uvicorn" in cmd}
        sent = time.monotonic()
        run.proc.send_signal(sig)
        code = run.finish(timeout=HARD_LIMIT)
        seconds = time.monotonic() - sent
    finally:
        run.kill()
    record_property(f"{sig.name.lower()}_exit_seconds", round(seconds, 2))
    print(f"{sig.name}: exit {code} {seconds:.2f} s after the signal")
    assert code == 130, "\n".join(run.lines)
    return run, seconds, server


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_during_ingest_stops_cleanly(hubspot, tmp_path, sig, record_property):
    config = write_workspace(tmp_path / "ws", [hubspot])
    run, seconds, server = _interrupt(config, sig, record_property)

    assert seconds < HARD_LIMIT
    after = [line for line in run.lines[run.lines.index(next(l for l in run.lines if "ingest" in l)):]
             if "ingest" not in line]  # progress lines of batches that landed before the signal are not errors
    assert len(after) == 1, "\n".join(run.lines)
    assert after[0].startswith(f"interrupted ({sig.name}): run run-") and "marked interrupted" in after[0]
    assert "Traceback" not in "\n".join(run.lines)

    [row] = runs(config.parent / "steward.duckdb")
    assert row["status"] == "interrupted" and row["pid"] == run.proc.pid
    assert row["run_id"] in after[0]
    raw, loaded = raw_vs_batches(config.parent / "steward.duckdb")
    assert raw and raw == loaded  # every batch landed whole, with its ledger row; none half
    assert raw.get("hubspot__email_events", 0) < 25_000  # it stopped: the whole entity was not pulled

    assert server, "Prefect's temporary server was not a child of the run"
    for pid, cmd in server.items():
        assert not alive(pid), f"Prefect's temporary server outlived the run: {cmd}"
        port = int(cmd.split("--port")[1].split()[0])
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


def test_a_run_killed_outright_is_marked_abandoned_by_the_next(hubspot, tmp_path, prefect_api):
    """Both runs talk to the session's Prefect server (``prefect_api``): what is under test is the ledger's record of
    a process that died, not a temporary server (the signal tests above are about that one)."""
    config = write_workspace(tmp_path / "ws", [hubspot])
    killed = StewardProcess("run", "-c", str(config), cwd=config.parent, env=prefect_api)
    try:
        killed.wait_for(r"ingest\s+hubspot\.\w+: \d")
        server = [pid for pid, cmd in children(killed.proc.pid).items() if "uvicorn" in cmd]
    finally:
        killed.kill()  # SIGKILL: nothing of ours runs
    for pid in server:  # a process killed outright runs no clean-up: a Prefect server of its own is ours to stop
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    assert not server  # it ran on the session's server, not one of its own
    [before] = runs(config.parent / "steward.duckdb")
    assert before["status"] == "running" and before["pid"] == killed.proc.pid

    # the next run (stopped at once; only its start matters here) finds the dead process's run and says so
    nxt = StewardProcess("run", "-c", str(config), cwd=config.parent, env=prefect_api)
    try:
        line = nxt.wait_for(r"marked abandoned")
        nxt.proc.send_signal(signal.SIGINT)
        assert nxt.finish(timeout=HARD_LIMIT) == 130
    finally:
        nxt.kill()
    assert before["run_id"] in line
    statuses = {r["run_id"]: (r["status"], r["summary"]) for r in runs(config.parent / "steward.duckdb")}
    status, summary = statuses[before["run_id"]]
    assert status == "abandoned" and f"process {killed.proc.pid}" in summary
