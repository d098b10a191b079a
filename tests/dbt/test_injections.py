"""Each injected defect is caught by exactly the checks named for it, and nothing else fires.

Every case generates a demo workspace with some switches on, lands it, runs the real dbt build and judges the marts
with the packaged policy (no Prefect). A switch that trips an extra check, or a clean workspace that alerts at all, is
a false positive of the governance loop; a missing check is a miss.

A build costs about the same with one switch on as with ten, so the switches are not built one at a time but in
BUILDS: each switch is in three of seven builds, no two switches in the same three (``_plan``). Each build must raise
exactly the union of its switches' checks. That still holds every switch to exactly its own checks: a switch that
trips another switch's check is in some build without any owner of that check, so the check is an extra there; a
switch that misses one of its checks is in some build where no other switch owns it, so the check is missing there
(``_untold`` is the condition, ``test_the_builds_tell_every_switch_apart`` proves it for the plan and tries every
single extra and missing check). It assumes what ``test_all_injections_together_are_caught_by_the_union_of_their_checks``
assumes too: a switch's findings do not disappear when another switch is on.

The switch builds build and judge the models only (``_alerting_for``): the findings are read from the marts, and
dbt's data tests decide nothing there unless one fails (a failed data test would skip the marts built on it). The
session's template build has every switch on and runs every data test and unit test; it must pass them all
(``test_dbt_data_and_unit_tests_pass_in_the_template_build``), as must the clean workspace's build, which runs the
data tests too.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from itertools import combinations
from math import comb

import pytest

import pandas as pd

from steward.contracts.finding import Finding
from steward.contracts.governance import evaluate
from steward.contracts.policy import load_policy
from steward.integrations.demo.generator import generate_workspace
from steward.integrations.demo.injections import EXPECTED_CHECKS, Injections
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import Warehouse, pii_scan
from steward.integrations.warehouse.sample_queries import governance_sample_query
from governed import alerting, governed_template, land_exports

pytestmark = pytest.mark.slow

SWITCHES = [f.name for f in fields(Injections)]


def _alerting_for(tmp_path_factory, name: str, injections: Injections, seed: int, scale: float,
                  data_tests: bool = True) -> set[str]:
    """Generate, land, scan, build and judge as ``governed.govern`` does, without dbt's unit tests (the session
    template runs them) and, with ``data_tests=False``, without its data tests (module docstring). With them, every
    data test must pass."""
    root = tmp_path_factory.mktemp(name)
    # as_of defaults to this hour, matching the "now" the build is handed, so freshness is judged as in production
    ws = generate_workspace(root / "ws", seed=seed, scale=scale, injections=injections)
    policy, wh = load_policy(), Warehouse(root / "work" / "w.duckdb")
    with wh.pinned():  # one open of the file for the landing's many short connections, closed before dbt's
        land_exports(wh, ws.exports)
        pii_scan.scan_pii(wh, policy.scope.pii_scan_schemas, policy.scope.pii_sample_rows)
    outcome = dbt_build.build(wh.path, root / "work" / "dbt",
                              {**policy.dbt_vars(), "as_of": pd.Timestamp.now(tz="UTC").isoformat()},
                              exclude=["test_type:unit", *([] if data_tests else ["test_type:data"])])
    assert not outcome.test_failures and not outcome.skipped, (outcome.test_failures, outcome.skipped)
    assert outcome.tests_passed if data_tests else not outcome.tests_passed, outcome.tests_passed
    with wh.pinned():  # the judge reads every mart: one open, not one per mart
        findings = evaluate(policy, lambda m: wh.query_df(f"select * from governance.{m}"), "t",
                            governance_sample_query)
    return alerting(findings)


def test_every_switch_is_covered():
    assert set(SWITCHES) == set(EXPECTED_CHECKS)


def test_dbt_data_and_unit_tests_pass_in_the_template_build(tmp_path_factory):
    """The cases below leave dbt's unit tests out of their builds (they do not depend on the workspace), and the
    switch builds its data tests too; the session's template build, every switch on, runs every one of them: the
    template fails if a unit test fails, and here no data test may fail or be skipped."""
    root = governed_template(tmp_path_factory, seed=11, scale=0.5, injections=Injections())
    results = json.loads((root / "work" / "dbt" / "target" / "run_results.json").read_text())["results"]
    data = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("test.")}
    unit = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert data and set(data.values()) == {"pass"}, {k: v for k, v in data.items() if v != "pass"}
    assert unit and set(unit.values()) == {"pass"}, {k: v for k, v in unit.items() if v != "pass"}


def test_clean_workspace_raises_no_alert(tmp_path_factory):
    assert _alerting_for(tmp_path_factory, "clean", Injections.none(), seed=11, scale=0.5) == set()


def _plan(expected: dict[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Builds that hold every switch to exactly its checks (``_untold`` finds none): each switch is in k // 2 of k
    builds, no two switches in the same ones, for the smallest k with enough such sets (22 switches: 3 of 7, since
    3 of 6 gives only 20). Sets of one size never hold one another, so for any two switches each has a build without
    the other; where a check has several owners, the search keeps, for each other switch, one of its builds free of
    them all. Switches whose checks have several owners are placed first, each on the free set whose builds hold the
    fewest switches so far; a dead end goes back one switch (the search takes well under a second). Seven builds of
    seven to fourteen switches, where two builds per switch took nine and one switch per build twenty-two."""
    switches = sorted(expected, key=lambda s: -max(_owners(expected, c) for c in expected[s]))  # stable
    k = next(k for k in range(2, len(switches) + 2) if comb(k, k // 2) >= len(switches))
    while True:
        placed: dict[str, tuple[int, ...]] = {}

        def builds() -> list[tuple[str, ...]]:
            return [tuple(s for s in expected if b in placed.get(s, ())) for b in range(k)]

        def place(i: int) -> bool:
            if i == len(switches):
                return True
            free = [sets for sets in combinations(range(k), k // 2) if sets not in placed.values()]
            for sets in sorted(free, key=lambda sets: (max(sum(b in p for p in placed.values()) for b in sets), sets)):
                placed[switches[i]] = sets
                if not _untold(builds(), {s: expected[s] for s in placed}) and place(i + 1):
                    return True
                del placed[switches[i]]
            return False

        if place(0):
            return builds()
        k += 1  # no such sets of this size: one more build


def _owners(expected: dict[str, tuple[str, ...]], check: str) -> int:
    return sum(check in owned for owned in expected.values())


def _untold(builds: list[tuple[str, ...]], expected: dict[str, tuple[str, ...]]) -> list[str]:
    """The switches whose own alerts the builds cannot be read back to: for a check the switch must raise, no build
    holds it without another owner of the check; for a check it must not raise (any switch's), no build holds it
    without any owner of the check."""
    checks = {check for owned in expected.values() for check in owned}
    owners = {check: {s for s, owned in expected.items() if check in owned} for check in checks}
    untold = []
    for switch in expected:
        told = all(any(not (owners[c] - {switch}) & set(b) for b in builds if switch in b) for c in expected[switch])
        told = told and all(any(not owners[c] & set(b) for b in builds if switch in b)
                            for c in checks - set(expected[switch]))
        if not told:
            untold.append(switch)
    return untold


BUILDS = _plan(EXPECTED_CHECKS)


def test_the_builds_tell_every_switch_apart():
    """The plan can hold each switch to exactly its checks, and fails a build the way a single switch would: every
    single extra check (any switch tripping any check it does not own) and every single missing check changes what
    one of the switch's builds must raise."""
    assert {s for b in BUILDS for s in b} == set(SWITCHES)
    assert _untold(BUILDS, EXPECTED_CHECKS) == []
    checks = {check for owned in EXPECTED_CHECKS.values() for check in owned}
    for switch, owned in EXPECTED_CHECKS.items():
        mine = [b for b in BUILDS if switch in b]
        for check in checks:
            # the switch raises the check too (an extra), or fails to raise it (a miss)
            wrong = {**EXPECTED_CHECKS, switch: tuple(c for c in owned if c != check) if check in owned
                     else (*owned, check)}
            assert any(_raised(b, wrong) != _raised(b, EXPECTED_CHECKS) for b in mine), (switch, check)
    wrong = {**EXPECTED_CHECKS, "schema_drift": ("data_quality.schema_drift", "bias.selection_rate_disparity")}
    assert any(_raised(b, wrong) != _raised(b, EXPECTED_CHECKS) for b in BUILDS if "schema_drift" in b)
    missed = {**EXPECTED_CHECKS, "pii_in_decision_log": ("privacy.pii_outside_allowed_tables",)}
    assert any(_raised(b, missed) != _raised(b, EXPECTED_CHECKS) for b in BUILDS if "pii_in_decision_log" in b)
    assert len(BUILDS) < len(SWITCHES)


def _raised(build: tuple[str, ...], expected: dict[str, tuple[str, ...]]) -> set[str]:
    return {check for switch in build for check in expected[switch]}


@pytest.mark.parametrize("build", BUILDS, ids=["+".join(b) for b in BUILDS])
def test_injections_are_caught_by_exactly_their_checks(tmp_path_factory, build):
    """The build raises exactly the union of its switches' checks (module docstring: why that is each switch's
    exact set); a difference names the switches that could have caused it."""
    on = replace(Injections.none(), **{name: True for name in build})
    assert on.enabled() == [s for s in SWITCHES if s in build]
    got = _alerting_for(tmp_path_factory, "+".join(build)[:60], on, seed=11, scale=0.5, data_tests=False)
    want = _raised(build, EXPECTED_CHECKS)
    owners = {c: [s for s in build if c in EXPECTED_CHECKS[s]] for c in want}
    assert got == want, {"extra (any switch of the build)": sorted(got - want),
                         "missing (owned by)": {c: owners[c] for c in sorted(want - got)}}


def test_all_injections_together_are_caught_by_the_union_of_their_checks(tmp_path_factory):
    """Every switch on: the session's template (seed 11, scale 0.5), generated, landed, built and judged once for
    the session by govern() (tests/governed.py). The README's demo (seed 7, scale 1, every switch on) is held to the
    same union through a whole run in tests/flows/test_cli_end_to_end.py, so it is not built a second time here."""
    expected = {check for checks in EXPECTED_CHECKS.values() for check in checks}
    root = governed_template(tmp_path_factory, seed=11, scale=0.5, injections=Injections())
    findings = [Finding.model_validate(f) for f in json.loads((root / "findings.json").read_text())]
    assert alerting(findings) == expected
