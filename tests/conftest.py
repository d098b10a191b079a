"""Shared fixtures: one Prefect test server per session, and governed demo workspaces built once and reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from steward.flows.runtime import apply_defaults

apply_defaults()


@pytest.fixture(scope="session")
def prefect_harness():
    """A real, temporary Prefect server for the whole session (starting one takes several seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    from steward.flows.runtime import flow_settings

    with prefect_test_harness(server_startup_timeout=60), flow_settings():
        yield


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
