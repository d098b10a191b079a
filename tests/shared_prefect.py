"""Test helper: one Prefect server for the whole test session, shared by every pytest-xdist worker.

Each worker used to start a temporary server of its own (``prefect_test_harness``): ~8 CPU seconds of imports and
migrations per worker, its background services ticking all session (~1 CPU second a minute), and ~12 s during which
the worker's first test that needs Prefect waited for it. Now the controller, which runs no test, launches one
server (``steward.flows.runtime.TemporaryServer``, the process Prefect's own harness and ``steward run`` start) the
moment pytest is configured, in the background: it comes up while the workers start and collect. Each worker's
``prefect_harness`` (tests/conftest.py) waits for it to answer, then points Prefect's settings at it for the session,
as a team's runs share their ``prefect server start``. Without workers (``-n0``, ``-p no:xdist``) there is no
controller, and ``prefect_harness`` starts Prefect's own harness as before.

Sharing has one consequence a test must respect: another worker's flow runs are on the same server. Every flow run
a worker starts in its own process carries the worker's tag (``RUN_TAG``), and a test that looks for "the" paused or
recent flow run filters on it (``own_runs``); a run's id, a deployment's name or an artifact's content already
name one run. ``steward`` subprocesses given ``prefect_api`` share the server too, untagged, and are found by the
run id they print or record.
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RUN_TAG", "launch", "stop", "connected", "own_runs"]

_API = "STEWARD_TEST_PREFECT_API"  # set by the controller for the workers it then starts
RUN_TAG = f"pytest-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
_server = None


def launch(config) -> None:
    """In the xdist controller, before it starts the workers: launch the session's server and hand its URL to them
    through the environment they inherit. Nothing when this process is a worker, runs the tests itself, or only
    collects, or when a server was given (a developer's own ``STEWARD_TEST_PREFECT_API``)."""
    global _server
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get(_API):
        return
    if not getattr(config.option, "tx", None) or config.getoption("collectonly", False):
        return
    from steward.flows.runtime import TemporaryServer

    _server = TemporaryServer()
    _server.launch()  # returns at once; the workers wait for it (connected)
    atexit.register(stop)  # pytest_unconfigure stops it; this, if the controller ends another way
    os.environ[_API] = _server.api_url


def stop() -> None:
    """In the controller, once every worker is done."""
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def _wait_until_healthy(url: str, timeout: float = 300.0) -> None:
    """A loaded machine can take long to start a server: wait for its health check as long as a run would
    (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS in conftest.py), then fail saying so."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"the session's Prefect server at {url} did not answer within {timeout:g} s")


@contextmanager
def connected() -> Iterator[bool]:
    """For the session: this process's flow runs carry ``RUN_TAG`` and, when the controller launched a server, its
    Prefect settings point at it; yields False when there is none, and the caller starts a server of its own."""
    import prefect

    url = os.environ.get(_API)
    if not url:
        with prefect.tags(RUN_TAG):
            yield False
        return
    _wait_until_healthy(url)
    import prefect.context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}), \
            prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()), \
            prefect.tags(RUN_TAG):
        yield True
        _drain()


def _drain() -> None:
    """As Prefect's harness does before it stops its server: this process's logs and events are sent first."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    try:
        APILogWorker.instance().drain()
    except RuntimeError:  # never started
        pass
    EventsWorker.drain_all()


def own_runs(state_types: list | None = None):
    """A ``FlowRunFilter`` for this worker's own flow runs (``RUN_TAG``), in the given states."""
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType,
                                                FlowRunFilterTags)

    state = FlowRunFilterState(type=FlowRunFilterStateType(any_=state_types)) if state_types else None
    return FlowRunFilter(tags=FlowRunFilterTags(all_=[RUN_TAG]), state=state)
