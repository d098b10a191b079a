"""A Prefect server for the scale benchmark's scheduled runs (``bench_scale.py``: ``full`` and ``daily``).

A team that runs Steward every day deploys it (``steward deploy``, docs/deployments.md): a Prefect server is up
and a worker starts each run, which then records its flow run there instead of launching a temporary server of its
own (the ~5 s the temporary server adds before a run can start, flows/runtime.py). The benchmark times the daily
run, and the full refresh it is compared with, that way: ``prefect server start`` on a free port on 127.0.0.1, with
a ``PREFECT_HOME`` of its own under the benchmark's folder, started before the runs and stopped after them. Its
start is not timed (a deployment's server is already running when the schedule fires).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["prefect_server"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def prefect_server(home: Path, timeout: float = 180.0) -> Iterator[str]:
    """Start a Prefect server, wait until it answers (at most ``timeout`` seconds: a loaded machine is slow to
    migrate a new database), yield its API URL, stop it and its children."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if proc.poll() is not None:
                raise SystemExit(f"the Prefect server did not start (exit {proc.returncode}): see {home}/server.log")
            if time.monotonic() > deadline:
                raise SystemExit(f"the Prefect server did not answer within {timeout:g} s: see {home}/server.log")
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
