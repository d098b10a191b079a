"""Prefect and dbt settings Steward runs with, applied before either library is imported.

A newcomer's first run must not phone home, must not wait on a heartbeat thread, and must keep the terminal for
Steward's own progress; users who want Prefect's logs set PREFECT_LOGGING_LEVEL themselves.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

__all__ = ["apply_defaults", "flow_settings", "stop_temporary_server", "waiting_for"]

_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "PREFECT_LOGGING_LEVEL": "CRITICAL",  # a failed run is reported by the CLI in one line, not a traceback
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    # Prefect gives its temporary server 20 s to start; a busy laptop (or CI runner) can take longer, and a run must
    # not fail because the machine is loaded
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


# Prefect's background queue services log under their bare class names, outside the ``prefect`` logger tree, so
# PREFECT_LOGGING_LEVEL does not reach them. At exit they warn about events still queued for a temporary server
# that is already gone; that line would land after the CLI's own one-line error and bury it.
_SERVICE_LOGGERS = ("EventsWorker", "APILogWorker")


def apply_defaults() -> None:
    user_chose_logging = "PREFECT_LOGGING_LEVEL" in os.environ
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
    if not user_chose_logging:
        for name in _SERVICE_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def flow_settings() -> Iterator[None]:
    """No flow-run heartbeat: our runs are short and its thread costs a second at every exit."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def stop_temporary_server(wait: float = 5.0) -> None:
    """Stop the temporary Prefect server this process started, now rather than at exit.

    With no PREFECT_API_URL, Prefect 3 starts its API as a uvicorn subprocess on a random local port
    (``prefect.server.api.server.SubprocessASGIServer``, one per process) and stops it from an ``atexit`` hook. A
    process ended by a signal never reaches that hook, so the server would outlive it; the CLI calls this on its way
    out of an interrupted run. A no-op when no temporary server was started (Prefect's server module not imported).
    """
    module = sys.modules.get("prefect.server.api.server")
    if module is None:
        return
    for server in list(module.SubprocessASGIServer._instances.values()):
        process = server.server_process
        if process is None:
            continue
        process.terminate()  # uvicorn shuts down on SIGTERM; killed when it takes longer than ``wait``
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.stop()  # now only Prefect's own bookkeeping: the process is gone


def waiting_for(timeout: float, say: Callable[[str, str], None]) -> Callable[[Any], None]:
    """What a run or health check says, once, when another run holds the warehouse and it has to wait."""
    def told(holder: Any) -> None:
        who = holder.describe() if holder is not None else "another Steward process"
        say("wait", f"{who} is writing to the warehouse; waiting up to {timeout:g} s (lock_timeout_seconds)")

    return told
