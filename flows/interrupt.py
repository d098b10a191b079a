"""Ctrl-C and SIGTERM during a run: stop at a batch boundary, mark the run ``interrupted``, stop Prefect's temporary
server, exit 130 with one line, within seconds.

The first signal asks everything to stop (``flows.stopping``): the pull loop stops between batches, and the
main thread gets a ``KeyboardInterrupt`` so a dbt build or a wait stops too; the run's flow marks the run
``interrupted`` on its way out. Prefect swaps its own SIGTERM handler in while a flow runs; the flow treats the
``TerminationSignal`` it raises the same way (``interrupted_by``). Further signals are not raised again (a second
Ctrl-C must not tear the clean-up itself), but a watchdog makes sure the process is gone ``GRACE_SECONDS`` after the
first one even when a pull is stuck in a network retry: it marks the run, stops the server and leaves; the batch in
flight was not committed, and DuckDB rolls an uncommitted transaction back.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from . import stopping

__all__ = ["EXIT_INTERRUPTED", "GRACE_SECONDS", "BATCH_GRACE_SECONDS", "say_once", "stop_on_signals", "interrupted_by", "active_run", "clear_active_run"]

EXIT_INTERRUPTED = 130  # what a shell reports for a process ended by SIGINT; cron and CI read it as "interrupted"
GRACE_SECONDS = 7.0  # the watchdog's: the process is gone within about 9 s of the signal, whatever is stuck
BATCH_GRACE_SECONDS = 5.0  # how long the run waits for the batch in flight to land, inside the watchdog's grace
_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# The run in flight, so the watchdog can still mark it when the flow itself cannot get to it in time.
_active: dict[str, object] = {}
_said = threading.Lock()  # the one line is said once, by the CLI or by the watchdog, whichever gets there first


def active_run(warehouse: object, run_id: str) -> None:
    _active.update(warehouse=warehouse, run_id=run_id)


def clear_active_run() -> None:
    """The run is out of the flow (and marked): the watchdog has nothing left to mark; its id stays for the line."""
    _active.pop("warehouse", None)


def interrupted_by(exc: BaseException) -> bool:
    """Whether ``exc`` ends the run because someone asked it to stop (and if a signal raised it, say so)."""
    from prefect.exceptions import TerminationSignal

    if isinstance(exc, TerminationSignal):
        stopping.request_stop(signal.Signals(exc.signal).name)
    elif isinstance(exc, KeyboardInterrupt):
        stopping.request_stop("SIGINT")
    return stopping.stop_requested()


@contextmanager
def stop_on_signals(on_stop: Callable[[str], None]) -> Iterator[None]:
    """SIGINT and SIGTERM stop the block cleanly; ``on_stop(line)`` is the last thing the watchdog does before it
    ends the process (the CLI prints its one line there)."""
    stopping.reset()
    _active.clear()
    if _said.locked():
        _said.release()
    watchdog: list[threading.Timer] = []

    def start_watchdog() -> None:
        if not watchdog:
            timer = threading.Timer(GRACE_SECONDS, _hard_exit, args=(on_stop,))
            timer.daemon = True
            watchdog.append(timer)
            timer.start()

    def handler(signum: int, frame: object) -> None:
        already = stopping.stop_requested()
        stopping.request_stop(signal.Signals(signum).name)
        start_watchdog()
        if not already:
            raise KeyboardInterrupt

    stopping.on_stop(start_watchdog)
    previous = {s: signal.signal(s, handler) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        stopping.on_stop(None)
        for timer in watchdog:
            timer.cancel()


def say_once(on_stop: Callable[[str], None]) -> None:
    if _said.acquire(blocking=False):
        on_stop(message())


def message() -> str:
    run = _active.get("run_id")
    what = f"run {run} marked interrupted" if run else "stopped before the run started"
    return (f"interrupted ({stopping.stop_reason() or 'signal'}): {what}; batches landed before the signal are kept, "
            "nothing half-done was committed")


def _hard_exit(on_stop: Callable[[str], None]) -> None:
    """The flow did not get out in time (a pull stuck in a retry): mark the run, stop the server, leave."""
    from ..integrations.warehouse import ledger

    from .runtime import stop_temporary_server

    wh, run_id = _active.get("warehouse"), _active.get("run_id")
    if wh is not None and run_id:
        def mark() -> None:
            ledger.finish_run(wh, str(run_id), "interrupted", {"error": f"interrupted: {stopping.stop_reason()}"})

        marking = threading.Thread(target=mark, daemon=True)  # never wait on a stuck warehouse: the exit must come
        marking.start()
        marking.join(1.0)
    stop_temporary_server(wait=1.0)
    say_once(on_stop)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)
