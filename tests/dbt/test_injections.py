"""Each injected defect is caught by exactly the checks named for it, and nothing else fires.

Every case generates a demo workspace with some switches on, lands it, runs the real dbt build and judges the marts
with the packaged policy (``tests.governed.govern``, no Prefect). A switch that trips an extra check, or a clean
workspace that alerts at all, is a false positive of the governance loop; a missing check is a miss.

A build costs the same with one switch on as with six, so the switches are not built one at a time but in BUILDS:
each switch is in two builds, no two switches share both of theirs, no build holds two owners of a check (``_plan``).
Each build must raise exactly the union of its switches' checks. That still holds every switch to exactly its own
checks: a switch that trips another switch's check is in some build without any owner of that check, so the check is
an extra there; a switch that misses one of its checks is in a build where no other switch owns it, so the check is
missing there (``test_the_builds_tell_every_switch_apart`` proves both for the plan). It assumes what
``test_all_injections_together_are_caught_by_the_union_of_their_checks`` assumes too: a switch's findings do not
disappear when another switch is on.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from itertools import combinations
from math import comb

import pytest

from steward.contracts.finding import Finding
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


def _plan(expected: dict[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Builds that hold every switch to exactly its checks: each switch is in two builds, no two switches in the same
    two (so for any other switch, one of its builds lacks it), no check has two owners in a build, and for each check
    a switch does not own, one of its builds holds no owner of it (``_untold`` is the proof). Switches whose checks
    have several owners are placed first; a build is added when no two builds are left for a switch. The 22 switches
    take 9 builds (five or six switches each), where two partitions into groups of four took 12."""
    switches = sorted(expected, key=lambda s: -max(_owners(expected, c) for c in expected[s]))  # stable
    checks = {check for owned in expected.values() for check in owned}
    builds: list[list[str]] = [[] for _ in range(next(k for k in range(2, len(switches) + 2)
                                                      if comb(k, 2) >= len(switches)))]
    placed: dict[str, tuple[int, int]] = {}

    def covered(check: str, extra: tuple = ()) -> set[int]:
        return {b for s, pair in [*placed.items(), *extra] if check in expected[s] for b in pair}

    def fits(switch: str, pair: tuple[int, int]) -> bool:
        if pair in placed.values() or any(set(expected[switch]) & set(expected[other])
                                          for b in pair for other in builds[b]):
            return False
        if any(set(pair) <= covered(c) for c in checks - set(expected[switch])):
            return False  # both of its builds would hold an owner of a check it does not own
        return not any(set(theirs) <= covered(c, ((switch, pair),)) for other, theirs in placed.items()
                       for c in expected[switch] if c not in expected[other])  # nor may it do that to another

    for switch in switches:
        while not (pairs := [p for p in combinations(range(len(builds)), 2) if fits(switch, p)]):
            builds.append([])
        pair = min(pairs, key=lambda p: (len(builds[p[0]]) + len(builds[p[1]]), max(len(builds[b]) for b in p), p))
        placed[switch] = pair
        for b in pair:
            builds[b].append(switch)
    told = [tuple(s for s in expected if s in b) for b in builds]
    return told + [(switch,) for switch in _untold(told, expected)]  # none, by construction; a build each if so


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
    """The plan can hold each switch to exactly its checks, and fails a build the way a single switch would."""
    assert {s for b in BUILDS for s in b} == set(SWITCHES)
    assert _untold(BUILDS, EXPECTED_CHECKS) == []
    for build in BUILDS:
        owned = [set(EXPECTED_CHECKS[s]) for s in build]
        assert sum(map(len, owned)) == len(set().union(*owned)), build  # no check owned twice in a build
    # the reading works: a switch that trips another's check, or misses its own, is seen in one of its builds
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
    got, want = _alerting_for(tmp_path_factory, "+".join(build)[:60], on, seed=11, scale=0.5), _raised(build,
                                                                                                   EXPECTED_CHECKS)
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
