"""Each injected defect is caught by exactly the checks named for it, and nothing else fires.

Every case generates a demo workspace with a single switch on, lands it, runs the real dbt build and judges the marts
with the packaged policy (``tests.governed.govern``, no Prefect). A switch that trips an extra check, or a clean
workspace that alerts at all, is a false positive of the governance loop; a missing check is a miss.
"""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from steward.integrations.demo.generator import generate_workspace
from steward.integrations.demo.injections import EXPECTED_CHECKS, Injections
from governed import alerting, govern, governed_template

pytestmark = pytest.mark.slow

SWITCHES = [f.name for f in fields(Injections)]


def _alerting_for(tmp_path_factory, name: str, injections: Injections, seed: int, scale: float) -> set[str]:
    root = tmp_path_factory.mktemp(name)
    # as_of defaults to this hour, matching the "now" govern() hands dbt, so freshness is judged as in production
    ws = generate_workspace(root / "ws", seed=seed, scale=scale, injections=injections)
    _, findings = govern(ws.exports, root / "work", unit_tests=False)  # the session template runs them
    return alerting(findings)


def test_every_switch_is_covered():
    assert set(SWITCHES) == set(EXPECTED_CHECKS)


def test_dbt_unit_tests_pass_in_the_template_build(tmp_path_factory):
    """The cases below leave dbt's unit tests out of their builds (they do not depend on the workspace); the
    session's template build runs every one of them, and fails if one fails."""
    assert (governed_template(tmp_path_factory, seed=11, scale=0.5, injections=Injections()) / "work").is_dir()


def test_clean_workspace_raises_no_alert(tmp_path_factory):
    assert _alerting_for(tmp_path_factory, "clean", Injections.none(), seed=11, scale=0.5) == set()


@pytest.mark.parametrize("name", SWITCHES)
def test_single_injection_is_caught_by_exactly_its_checks(tmp_path_factory, name):
    only = replace(Injections.none(), **{name: True})
    assert only.enabled() == [name]
    assert _alerting_for(tmp_path_factory, name, only, seed=11, scale=0.5) == set(EXPECTED_CHECKS[name])


def test_all_injections_together_are_caught_by_the_union_of_their_checks(tmp_path_factory):
    expected = {check for checks in EXPECTED_CHECKS.values() for check in checks}
    assert _alerting_for(tmp_path_factory, "all", Injections(), seed=7, scale=1.0) == expected
