"""The judgement moved into ``contracts`` runs on plain data: no warehouse, no dbt project, no network.

Each decision here used to need its I/O to be exercised (a DuckDB file and the dbt manifest for the drift gate,
emulators for the health state machine, launch marts built by dbt for the verdict).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from steward.contracts.drift import REASON_PREFIX, decide as drift_decide
from steward.contracts.finding import Finding, Severity
from steward.contracts.health_gate import REASON, decide as health_decide
from steward.contracts.health_rules import verdict
from steward.contracts.health_signals import LedgerSignals, ProbeSignals, Signals
from steward.contracts.health_state import Track, advance, announce
from steward.contracts.launch import decide as launch_decide
from steward.contracts.policy import HealthRules, load_policy

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Refused:
    integration: str
    platform: str
    entity: str
    kind: str

    @property
    def subject(self) -> str:
        return f"{self.integration}/{self.entity}"


def test_drift_gate_decides_from_lineage_given_as_data():
    policy = load_policy()
    fed = sorted(policy.checks)[:2]
    lineage = {rule.mart: frozenset() for rule in policy.checks.values()}
    lineage.update({policy.checks[c].mart: frozenset({("hubspot", "email_events")}) for c in fed})
    gate = drift_decide(policy, [Refused("hs", "hubspot", "email_events", "primary_key_missing")], lineage,
                        frozenset({("hubspot", "email_events")}))
    marts = {policy.checks[c].mart for c in fed}
    left_out = {c for c, rule in policy.checks.items() if rule.mart in marts}
    assert {s["check_id"] for s in gate.skipped} == left_out and set(gate.policy.checks) == set(policy.checks) - left_out
    assert gate.exclude == ["source:hubspot.email_events+"]
    assert gate.skipped[0]["reason"] == f"{REASON_PREFIX}hs/email_events)"
    assert gate.skipped[0]["states"] == {"hs/email_events": "batch refused, primary key missing"}
    assert drift_decide(policy, [], lineage, frozenset()).policy is policy


def test_health_gate_takes_out_only_the_checks_a_down_platform_feeds():
    policy = load_policy()
    checks = sorted(policy.checks)
    feeds = {c: frozenset({"hubspot"}) if i % 3 == 0 else frozenset({"salesforce"}) for i, c in enumerate(checks)}
    gate = health_decide(policy, {"hs-prod": "hubspot"}, feeds, {"hs-prod": "down since 2026-03-02 08:00 UTC (probe.down)"})
    fed_by_hubspot = {c for c in checks if "hubspot" in feeds[c]}
    assert {s["check_id"] for s in gate.skipped} == fed_by_hubspot
    assert set(gate.policy.checks) == set(checks) - fed_by_hubspot and gate.down == {"hs-prod": "hubspot"}
    assert gate.skipped[0] == {"check_id": sorted(fed_by_hubspot)[0], "integrations": ["hs-prod"], "reason": REASON,
                               "states": {"hs-prod": "down since 2026-03-02 08:00 UTC (probe.down)"}}
    nothing_down = health_decide(policy, {}, feeds, {})
    assert nothing_down.policy is policy and nothing_down.skipped == []


def _signals(failure: str | None) -> Signals:
    return Signals("sf", "salesforce", NOW, ProbeSignals(probe_state="down" if failure else "healthy",
                                                         failure=failure, latency_ms=40.0),
                   LedgerSignals(hours_since_sync=1.0))


def test_health_state_moves_only_after_the_streak_the_rules_ask_for():
    rules = HealthRules(down_after=2, recover_after=2)
    track = advance(Track(), verdict(_signals(None), rules), rules)
    assert (track.state, announce(track, silenced=False)) == ("healthy", None)  # a first healthy probe is not news
    track = advance(track, verdict(_signals("unreachable"), rules), rules)
    assert track.state == "healthy" and track.down_streak == 1
    track = advance(track, verdict(_signals("unreachable"), rules), rules)
    assert (track.state, track.rule, announce(track, silenced=False)) == ("down", "probe.unreachable", "down")


def _finding(check_id: str, severity: Severity) -> Finding:
    return Finding(run_id="a-1", check_id=check_id, family="privacy_consent", severity=severity,
                   subject_type="launch", subject="spring", metric="m", observed=1.0, threshold=0.0,
                   explanation="why")


def test_launch_verdict_is_no_go_on_critical_and_conditional_on_warn():
    policy = load_policy()
    warn, crit = _finding("launch.consent", Severity.warn), _finding("launch.frequency", Severity.critical)
    assert launch_decide([], {}, policy).verdict == "GO"
    conditional = launch_decide([warn], {warn.fingerprint: "suppress them"}, policy)
    assert (conditional.verdict, conditional.conditions[0].condition) == ("GO WITH CONDITIONS", "suppress them")
    blocked = launch_decide([warn, crit], {}, policy)
    assert blocked.verdict == "NO-GO" and [r.check_id for r in blocked.blocking] == ["launch.frequency"]
