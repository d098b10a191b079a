"""Each injected defect is caught by exactly the checks named for it, and nothing else fires.

Every case generates a demo workspace with some switches on, lands it, runs the real dbt build and judges the marts
with the packaged policy (``tests.governed.govern``, no Prefect). A switch that trips an extra check, or a clean
workspace that alerts at all, is a false positive of the governance loop; a missing check is a miss.

A build costs the same with one switch on as with four, so the switches are not built one at a time but in BUILDS:
two partitions of the switches into groups whose checks are disjoint, such that no two switches share both of their
groups (``_plan``). Each build must raise exactly the union of its switches' checks. That still holds every switch to
exactly its own checks: a switch that trips another switch's check is in some build without any owner of that check,
so the check is an extra there; a switch that misses one of its checks is in a build where no other switch owns it,
so the check is missing there (``test_the_builds_tell_every_switch_apart`` proves both for the plan). It assumes what
``test_all_injections_together_are_caught_by_the_union_of_their_checks`` assumes too: a switch's findings do not
disappear when another switch is on.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace

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


GROUP = 4  # switches per build: the 22 switches in 12 builds instead of 22


def _groups(switches: list[str], expected: dict[str, tuple[str, ...]], size: int,
            apart: set[frozenset[str]]) -> list[tuple[str, ...]]:
    """Switches into groups of at most ``size``, in order, first fit: no two in a group share a check or a pair in
    ``apart``."""
    groups: list[list[str]] = []
    for switch in switches:
        fits = (g for g in groups if len(g) < size and all(
            not set(expected[switch]) & set(expected[other]) and frozenset((switch, other)) not in apart
            for other in g))
        group = next(fits, None)
        if group is None:
            groups.append(group := [])
        group.append(switch)
    return [tuple(g) for g in groups]


def _plan(expected: dict[str, tuple[str, ...]], size: int = GROUP) -> list[tuple[str, ...]]:
    """Two partitions of the switches into groups, and a build of its own for any switch the two cannot tell apart
    (``_untold``). The second keeps a switch away from every switch that owns a check its first group-mates own
    (so each switch has a build free of each of those checks), which keeps apart every pair the first put together."""
    switches = list(expected)
    first = _groups(switches, expected, size, set())
    mates = {s: set().union(*(expected[m] for m in g if m != s)) for g in first for s in g}
    apart = {frozenset((a, b)) for a in switches for b in switches
             if a != b and (set(expected[b]) & mates[a] or set(expected[a]) & mates[b])}
    # the second partition takes the switches column by column of the first, so groups mix across the first's
    order = [g[i] for i in range(size) for g in first if i < len(g)]
    builds = first + _groups(order, expected, size, apart)
    return builds + [(switch,) for switch in _untold(builds, expected)]


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
