"""Routing, incident decisions and incident messages, without Slack: pure rules, and the ledger in a DuckDB file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from steward.contracts.finding import Finding, Severity
from steward.contracts.incidents import Incident, plan, suppress_hours
from steward.contracts.policy import Alerts, Policy, load_policy
from steward.contracts.routing import Route, route
from steward.integrations.emulator._blockkit import block_errors
from steward.contracts.errors import ConfigError
from steward.integrations.notify import incidents
from steward.integrations.warehouse import outbox
from steward.integrations.notify.message import (MAX_BLOCKS, build_digest, build_parent, build_reply,
                                                 build_resolved_reply)
from steward.integrations.warehouse import Warehouse

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
EVALUATED = ("consent.send_after_opt_out", "bias.selection_rate_disparity", "reconciliation.ad_spend_vs_crm_cost")


def finding(check_id: str = "consent.send_after_opt_out", severity: Severity = Severity.critical, **kw) -> Finding:
    family = {"consent": "privacy_consent", "bias": "bias", "reconciliation": "reconciliation"}[check_id.split(".")[0]]
    owner = {"consent": "privacy-office", "bias": "ml-governance"}.get(check_id.split(".")[0], "paid-media")
    base = dict(run_id="r-1", check_id=check_id, family=family, severity=severity, subject_type="integration",
                subject="hubspot", metric="m", observed=12.0, threshold=0.0, evidence={"n": 40},
                explanation="Twelve people who unsubscribed still received emails.", owner=owner)
    return Finding(**{**base, **kw})


def policy(**alerts) -> Policy:
    base = load_policy()
    return base.model_copy(update={"alerts": Alerts.model_validate({**base.alerts.model_dump(), **alerts})})


@pytest.fixture
def wh(tmp_path):
    return Warehouse(tmp_path / "w.duckdb")


def run(wh: Warehouse, run_id: str, findings: list[Finding], now: datetime, pol: Policy | None = None):
    """One run's incident step with its own clock: plan against the ledger, then record."""
    known = {i.fingerprint: i for i in incidents.incidents(wh)}
    decisions = plan(findings, known, pol or load_policy(), EVALUATED, now)
    incidents.record(wh, run_id, decisions, now, report="/tmp/report.html")
    return [d.kind for d in decisions]


# -- routing -----------------------------------------------------------------------------------------------------------
def test_default_routes_send_privacy_and_critical_ml_findings_to_their_owners():
    p = load_policy()
    assert route(finding(), p) == Route("#privacy-office", "<!subteam^S0PRIVACY>")
    assert route(finding(severity=Severity.warn), p) == Route("#privacy-office", None)  # mention only when critical
    assert route(finding("bias.selection_rate_disparity"), p) == Route("#ml-governance", "<!subteam^S0MLGOV>")
    assert route(finding("bias.selection_rate_disparity", Severity.warn), p) == Route("#marketing-ops-alerts", None)
    assert route(finding("reconciliation.ad_spend_vs_crm_cost"), p) == Route("#marketing-ops-alerts", None)


def test_first_matching_route_wins_and_check_ids_match_exactly_or_by_domain():
    rules = [{"check_id": "consent.", "owner": "nobody", "channel": "#never"},
             {"check_id": "consent.send_after_opt_out", "min_severity": "critical", "channel": "#exact"},
             {"check_id": "consent.", "channel": "#domain"},
             {"check_id": "consent.send", "channel": "#not-a-prefix"}]
    p = policy(routes=rules)
    assert route(finding(), p).channel == "#exact"
    assert route(finding(severity=Severity.warn), p).channel == "#domain"
    assert route(finding("bias.selection_rate_disparity"), p) == Route("#marketing-ops-alerts", "<!subteam^S0MLGOV>")


def test_a_mention_that_is_not_a_slack_mention_is_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("checks: {}\nalerts: {mentions: {privacy-office: 'dpo@example.com'}}")
    with pytest.raises(ConfigError, match=r"alerts\.mentions: .*not a Slack mention"):
        load_policy(path)


# -- incident decisions ------------------------------------------------------------------------------------------------
def test_open_then_suppress_then_repeat_after_the_quiet_period(wh):
    assert run(wh, "r-1", [finding()], T0) == ["open"]
    assert run(wh, "r-2", [finding(observed=13.0)], T0 + timedelta(hours=23)) == ["suppress"]
    [row] = incidents.incidents(wh)
    assert (row.last_seen_at, row.last_notified_at, row.observed) == (T0 + timedelta(hours=23), T0, 12.0)
    assert run(wh, "r-3", [finding(observed=14.0)], T0 + timedelta(hours=24)) == ["repeat"]
    [row] = incidents.incidents(wh)
    assert (row.last_notified_at, row.observed, row.last_run_id) == (T0 + timedelta(hours=24), 14.0, "r-3")
    kinds = [(a.kind, a.run_id) for a in outbox.alerts(wh)]
    assert kinds == [("post", "r-1"), ("reply", "r-3"), ("update", "r-3")]
    parent = outbox.alerts(wh)[0]
    assert all(a.parent_id == parent.alert_id for a in outbox.alerts(wh)[1:])


def test_a_check_can_have_its_own_quiet_period(wh):
    base = load_policy()
    rule = base.checks["consent.send_after_opt_out"].model_copy(update={"suppress_hours": 1})
    pol = base.model_copy(update={"checks": {**base.checks, "consent.send_after_opt_out": rule}})
    assert suppress_hours("consent.send_after_opt_out", pol) == 1
    assert suppress_hours("bias.selection_rate_disparity", pol) == 24
    run(wh, "r-1", [finding()], T0, pol)
    assert run(wh, "r-2", [finding()], T0 + timedelta(minutes=61), pol) == ["repeat"]


def test_getting_worse_breaks_the_quiet_period_and_getting_better_does_not(wh):
    bias = "bias.selection_rate_disparity"
    run(wh, "r-1", [finding(bias, Severity.warn)], T0)
    assert run(wh, "r-2", [finding(bias, Severity.critical, observed=20.0)], T0 + timedelta(minutes=5)) == ["worse"]
    assert run(wh, "r-3", [finding(bias, Severity.warn)], T0 + timedelta(minutes=10)) == ["suppress"]
    [row] = incidents.incidents(wh)
    assert row.severity is Severity.critical and row.channel == "#marketing-ops-alerts"  # the thread stays put


def test_absent_findings_resolve_only_for_checks_this_run_evaluated_and_can_reopen(wh):
    other = finding("reconciliation.ad_spend_vs_crm_cost", Severity.warn)
    run(wh, "r-1", [finding(), other], T0)
    p = load_policy()
    known = {i.fingerprint: i for i in incidents.incidents(wh)}
    assert [d.kind for d in plan([], known, p, ["bias.selection_rate_disparity"], T0)] == []
    assert sorted(run(wh, "r-2", [other], T0 + timedelta(hours=1))) == ["resolve", "suppress"]
    resolved = incidents.incidents(wh, status="resolved")
    assert [i.check_id for i in resolved] == ["consent.send_after_opt_out"]
    assert resolved[0].resolved_at == T0 + timedelta(hours=1)
    assert run(wh, "r-3", [finding(), other], T0 + timedelta(hours=2)) == ["open", "suppress"]
    posts = [a for a in outbox.alerts(wh) if a.kind == "post"]
    assert len(posts) == 3  # the reopened incident starts a new thread
    [reopened] = [i for i in incidents.incidents(wh, status="open") if i.check_id.startswith("consent")]
    assert reopened.parent_alert_id == posts[-1].alert_id and reopened.resolved_at is None


def test_recording_the_same_run_twice_enqueues_nothing_twice(wh):
    run(wh, "r-1", [finding()], T0)
    assert run(wh, "r-1", [finding()], T0) == ["suppress"]
    assert len(outbox.alerts(wh)) == 1


# -- incident messages -------------------------------------------------------------------------------------------------
def test_incident_messages_stay_within_block_kit_limits_and_carry_no_pii():
    leaky = finding(subject="campaign " + "9" * 400 + " jane@example.com <!channel>",
                    explanation="Sent to jane.doe@example.com after she opted out. " * 200,
                    evidence={"contact": "jane.doe@example.com", "ids": ["h:0a1b2c3d4e", "Jane Doe"], "n": 3})
    payloads = [build_parent(leaky, "r-1", opened_at=T0, mention="<!subteam^S0PRIVACY>", report="/tmp/r.html"),
                build_parent(leaky, "r-2", opened_at=T0, now=T0 + timedelta(days=1, hours=2)),
                build_parent(leaky, "r-3", opened_at=T0, resolved_at=T0 + timedelta(hours=5)),
                build_reply(leaky, previous_severity=Severity.warn, previous_observed=3.0, opened_at=T0,
                            now=T0 + timedelta(hours=1), mention="<!subteam^S0PRIVACY>"),
                build_reply(leaky, previous_severity=Severity.critical, previous_observed=3.0, opened_at=T0,
                            now=T0 + timedelta(hours=30)),
                build_resolved_reply(leaky, opened_at=T0, resolved_at=T0 + timedelta(minutes=8), run_id="r-4")]
    for payload in payloads:
        assert block_errors(payload["blocks"]) == [] and len(payload["text"]) <= 3000
        text = json.dumps(payload)
        assert "@" not in text and "Jane Doe" not in text and "<!channel>" not in text
    first, update, resolved, worse, still, closed = (json.dumps(p) for p in payloads)
    assert "<!subteam^S0PRIVACY>" in first and "h:0a1b2c3d4e" in first and "Open* since 2026-03-02 09:00 UTC" in first
    assert "Still open* since" in update and "(1d 2h)" in update and "S0PRIVACY" not in update
    assert "RESOLVED" in resolved and "after 5h 0m open" in resolved
    assert "Worse" in worse and "now *CRITICAL* (was warn)" in worse and "<!subteam^S0PRIVACY>" in worse
    assert "Still open* after 1d 6h" in still and "observed now 12, was 3" in still
    assert "open for 8m" in closed


def test_a_huge_digest_is_summarised_within_limits():
    rows = [Incident(f"fp{i}", "consent.send_after_opt_out", f"campaign {i:05d} " + "x" * 120,
                               "#privacy-office", "open", [Severity.warn, Severity.critical][i % 2], float(i),
                               T0 - timedelta(hours=i), T0, T0, None, None, "r-1", None, None) for i in range(500)]
    payload = build_digest(rows, T0 + timedelta(hours=1))
    blocks = payload["blocks"]
    assert block_errors(blocks) == [] and len(blocks) <= MAX_BLOCKS
    assert blocks[0]["text"]["text"] == "Steward: 500 open incidents (250 critical, 250 warn)"
    first_line = blocks[1]["text"]["text"].splitlines()[0]
    assert first_line.startswith(":red_circle: *CRITICAL*") and "open 20d 20h" in first_line  # worst, then oldest
    assert "more open incidents" in blocks[-1]["text"]["text"]
    assert build_digest([], T0)["blocks"][-1]["text"]["text"] == "No open incidents."
