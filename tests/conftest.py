"""Shared fixtures: one Prefect test server per session, and governed demo workspaces built once and reused."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Each xdist worker (and every `steward` subprocess it starts) gets its own Prefect home: the temporary servers of
# two workers must not migrate and write one SQLite database at the same time. Set before Prefect is imported.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["PREFECT_HOME"] = _home = tempfile.mkdtemp(prefix=f"steward-prefect-{_worker}-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
# A loaded machine can take longer than Prefect's default 20 s to start a temporary server for a `steward` subprocess;
# a test must not fail because the machine is busy.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")

from hypothesis import settings  # noqa: E402

from steward.flows.runtime import apply_defaults  # noqa: E402

apply_defaults()

# CI (CI=true) draws the same examples every run: a red CI then means the change broke something, never that a new
# random draw found an old problem. Runs on a developer's machine keep exploring; `--hypothesis-seed` replays one.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def prefect_harness():
    """A real, temporary Prefect server for the whole session (starting one takes several seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    from steward.flows.runtime import flow_settings

    with prefect_test_harness(server_startup_timeout=300), flow_settings():
        yield


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
