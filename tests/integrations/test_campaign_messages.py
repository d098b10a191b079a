"""Slack messages name campaigns: an incident about a campaign says which campaign by name and in the one id form,
and what a pause would stop; sent with the real slack-sdk client to the local Slack emulator."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator

from steward.contracts.actions import plan_actions
from steward.contracts.campaigns import CampaignRef, name_findings
from steward.contracts.finding import Finding, Severity
from steward.contracts.policy import load_policy
from steward.integrations.emulator.slack import SlackEmulator
from steward.integrations.notify.message import build_parent, render_text
from steward.integrations.notify.slack import SlackNotifier, build_client

TOKEN, CHANNEL = "xoxb-test-1234567890-secret", "#marketing-ops-alerts"
REFS = {r.key: r for r in (CampaignRef("salesforce", "701000000000000003", "Spring sale"),
                           CampaignRef("hubspot", "700003", "Spring sale - email 3 <!channel> ann@example.com"))}


def _finding() -> Finding:
    return Finding(run_id="r-1", check_id="metric_balance.kpi_up_guardrail_down", family="metric_balance",
                   severity=Severity.critical, subject_type="campaign", subject="701000000000000003",
                   metric="guardrail_ratio", observed=3.4, threshold=3.0, action="pause",
                   evidence={"ctr_recent": 0.05, "campaign": "salesforce:701000000000000003",
                             "pause_campaign": "hubspot:700003"},
                   explanation="'Spring sale' lifted its click rate.",
                   target={"platform": "hubspot", "campaign_id": "700003"})


def test_names_come_from_the_directory():
    [named] = name_findings([_finding()], REFS)
    assert named.evidence["campaign_name"] == "Spring sale"
    assert named.evidence["pause_campaign_name"].startswith("Spring sale - email 3")
    assert named.fingerprint == _finding().fingerprint  # names never change a finding's identity


def test_the_pause_reason_relates_the_judged_campaign_and_the_paused_one():
    [named] = name_findings([_finding()], REFS)
    [plan] = plan_actions([named], load_policy())
    assert plan.target == "hubspot:700003"
    assert "on campaign 'Spring sale' (salesforce:701000000000000003)" in plan.reason
    assert "pause of 'Spring sale - email 3" in plan.reason and "(hubspot:700003)" in plan.reason


def test_an_incident_message_names_its_campaign_and_what_it_pauses():
    with SlackEmulator(token=TOKEN, channels={CHANNEL: "C0ALERTS"}) as slack:
        [named] = name_findings([_finding()], REFS)
        payload = build_parent(named, "r-1", opened_at=datetime(2026, 11, 20, 9, tzinfo=timezone.utc))
        client = build_client(TOKEN, slack.base_url, interval=FixedValueRetryIntervalCalculator(0.01))
        assert SlackNotifier(client, CHANNEL).send(payload).ok
        [message] = slack.messages
        blocks = json.dumps(message.blocks)
    assert "'Spring sale' (salesforce:701000000000000003)" in message.text  # the fallback text
    assert "Spring sale" in blocks and "salesforce:701000000000000003" in blocks
    assert "Pauses" in blocks and "hubspot:700003" in blocks and "Spring sale - email 3" in blocks
    assert "ann@example.com" not in blocks and "<!channel>" not in blocks  # a name is free text: escaped, redacted
    assert "'Spring sale' (salesforce:701000000000000003)" in render_text([named])


@pytest.mark.parametrize("evidence", [{}, {"campaign": "not-a-key"}, {"campaign": 42}])
def test_a_finding_without_a_usable_campaign_key_keeps_its_subject(evidence):
    f = _finding().model_copy(update={"evidence": evidence, "target": None})
    assert "on 701000000000000003" in build_parent(f, "r-1", opened_at=datetime(2026, 11, 20, tzinfo=timezone.utc))["text"]
