"""The alerting step end to end: findings in, Slack threads out, through the real slack-sdk client and the emulator.

No Prefect here: ``dispatch_alerts`` is called directly with hand-made findings, a DuckDB file per test and the
emulator on 127.0.0.1, the way a governance run calls it. ``steward alerts`` is driven with typer's CliRunner.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from steward.contracts.finding import Finding, Severity
from steward.contracts.policy import load_policy
from steward.flows import progress
from steward.flows.alerts import dispatch_alerts
from steward.flows.cli.alerts import alerts_app
from steward.flows.config import IntegrationConfig, StewardConfig, write_config
from steward.integrations.emulator.slack import SlackEmulator, SlackMessage
from steward.integrations.notify import incidents
from steward.integrations.warehouse import outbox
from steward.integrations.warehouse import Warehouse

TOKEN = "xoxb-alerting-0000000000-secret"
CHANNELS = {"#marketing-ops-alerts": "C0ALERTS", "#privacy-office": "C0PRIVACY", "#ml-governance": "C0MLGOV",
            "#ops-digest": "C0DIGEST"}
CONSENT, BIAS = "consent.send_after_opt_out", "bias.selection_rate_disparity"
SPEND = "reconciliation.ad_spend_vs_crm_cost"


def finding(check_id: str = CONSENT, severity: Severity = Severity.critical, run_id: str = "r-1", **kw) -> Finding:
    family, owner, subject = {CONSENT: ("privacy_consent", "privacy-office", "hubspot"),
                              BIAS: ("bias", "ml-governance", "lead_scoring: age_band=55-64"),
                              SPEND: ("reconciliation", "paid-media", "700003")}[check_id]
    base = dict(run_id=run_id, check_id=check_id, family=family, severity=severity, subject_type="subject",
                subject=subject, metric="observed_metric", observed=12.0, threshold=0.0,
                evidence={"people": 40, "example_ids": ["h:0a1b2c3d4e"]}, owner=owner,
                explanation="Twelve people who unsubscribed still received emails.")
    return Finding(**{**base, **kw})


@pytest.fixture
def slack(monkeypatch):
    with SlackEmulator(token=TOKEN, channels=CHANNELS) as emulator:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", emulator.base_url)
        yield emulator


@pytest.fixture
def cfg(tmp_path) -> StewardConfig:
    """The packaged default policy with a digest channel, and a steward.yaml next to the warehouse for the CLI."""
    text = resources.files("steward.contracts").joinpath("policy.yaml").read_text()
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace("digest_channel: null", 'digest_channel: "#ops-digest"'))
    config = StewardConfig(warehouse=tmp_path / "w.duckdb", policy=path, report_dir=tmp_path / "reports",
                           integrations=[IntegrationConfig(name="crm", platform="salesforce", path=tmp_path)])
    write_config(config, tmp_path / "steward.yaml")
    return config


def dispatch(cfg: StewardConfig, run_id: str, *findings: Finding, wh: Warehouse | None = None) -> dict:
    wh = wh or Warehouse(cfg.warehouse)
    policy = load_policy(cfg.policy)
    return dispatch_alerts(wh, [f.model_copy(update={"run_id": run_id}) for f in findings], policy, cfg, run_id,
                           Path(f"/tmp/reports/{run_id}.html"))


def alerts_cli(cfg: StewardConfig, *args: str):
    return CliRunner().invoke(alerts_app, [*args, "--config", str(Path(cfg.warehouse).parent / "steward.yaml")])


def text_of(message: SlackMessage) -> str:
    return json.dumps(message.blocks) + (message.text or "")


def back_date(cfg: StewardConfig, hours: float) -> None:
    """What the clock would do: the last notification happened ``hours`` earlier."""
    with duckdb.connect(str(cfg.warehouse)) as con:
        con.execute(f"update ledger.incidents set last_notified_at = last_notified_at - interval {hours} hour")


def test_each_incident_gets_one_parent_in_its_routed_channel_with_mentions_on_critical(slack, cfg):
    result = dispatch(cfg, "r-1", finding(), finding(BIAS), finding(SPEND, Severity.warn))
    assert (result["outcome"], result["opened"], result["alerted"], result["channel"]) == \
        ("sent", 3, 3, "#marketing-ops-alerts")
    assert result["channels"] == ["#marketing-ops-alerts", "#ml-governance", "#privacy-office"]
    by_channel = {m.channel: m for m in slack.messages}
    assert len(slack.messages) == 3 and all(m.thread_ts is None for m in slack.messages)
    assert "<!subteam^S0PRIVACY>" in text_of(by_channel["C0PRIVACY"]) and CONSENT in text_of(by_channel["C0PRIVACY"])
    assert "<!subteam^S0MLGOV>" in text_of(by_channel["C0MLGOV"])
    assert "<!subteam" not in text_of(by_channel["C0ALERTS"]) and SPEND in text_of(by_channel["C0ALERTS"])
    rows = {i.check_id: i for i in incidents.incidents(Warehouse(cfg.warehouse))}
    assert rows[CONSENT].thread_ts == by_channel["C0PRIVACY"].ts and rows[CONSENT].channel == "#privacy-office"
    with duckdb.connect(str(cfg.warehouse)) as con:
        audit = con.execute("select action, target, outcome from ledger.audit_log").fetchall()
    assert audit == [("alert", "#marketing-ops-alerts, #ml-governance, #privacy-office", "sent")]


def test_a_repeat_inside_the_quiet_period_sends_nothing(slack, cfg):
    dispatch(cfg, "r-1", finding())
    result = dispatch(cfg, "r-2", finding(observed=13.0))
    assert (result["outcome"], result["suppressed"], result["messages"]) == ("none", 1, 0)
    assert len(slack.messages) == 1 and slack.messages[0].edits == 0
    [row] = incidents.incidents(Warehouse(cfg.warehouse))
    assert row.last_run_id == "r-2" and row.last_seen_at > row.last_notified_at


def test_a_repeat_after_the_quiet_period_replies_in_the_thread_and_updates_the_parent(slack, cfg):
    dispatch(cfg, "r-1", finding())
    back_date(cfg, 25)
    result = dispatch(cfg, "r-2", finding(observed=15.0))
    assert (result["outcome"], result["repeated"], result["messages"]) == ("sent", 1, 2)
    parent, reply = slack.messages
    assert reply.thread_ts == parent.ts and reply.channel == "C0PRIVACY"
    assert "Still open" in text_of(reply) and "observed now 15, was 12" in text_of(reply)
    assert parent.edits == 1 and "Still open* since" in text_of(parent) and "r-2" in text_of(parent)


def test_getting_worse_breaks_the_quiet_period_in_the_same_thread(slack, cfg):
    dispatch(cfg, "r-1", finding(BIAS, Severity.warn, observed=0.7))
    assert slack.messages[0].channel == "C0ALERTS"  # warn bias findings are not routed to ML governance
    result = dispatch(cfg, "r-2", finding(BIAS, Severity.critical, observed=0.4))
    assert (result["worsened"], result["outcome"]) == (1, "sent")
    parent, reply = slack.messages
    assert reply.thread_ts == parent.ts and reply.channel == "C0ALERTS"
    assert "Worse" in text_of(reply) and "<!subteam^S0MLGOV>" in text_of(reply)
    assert "observed now 0.4, was 0.7" in text_of(reply) and "CRITICAL" in parent.blocks[0]["text"]["text"]


def test_a_finding_that_clears_resolves_its_incident_in_its_thread(slack, cfg):
    dispatch(cfg, "r-1", finding(), finding(SPEND, Severity.warn))
    result = dispatch(cfg, "r-2", finding(SPEND, Severity.warn))
    assert (result["resolved"], result["suppressed"], result["channels"]) == (1, 1, ["#privacy-office"])
    consent_parent = next(m for m in slack.messages if m.channel == "C0PRIVACY" and m.thread_ts is None)
    [reply] = [m for m in slack.messages if m.thread_ts]
    assert reply.thread_ts == consent_parent.ts and "Resolved" in text_of(reply)
    assert consent_parent.blocks[0]["text"]["text"].startswith(":white_check_mark: RESOLVED")
    assert [i.check_id for i in incidents.incidents(Warehouse(cfg.warehouse), status="resolved")] == [CONSENT]


def test_a_slack_outage_queues_everything_and_retry_delivers_each_message_once(slack, cfg, monkeypatch):
    # every send retries its 500s as in production, only without production's backoff (0.5 s, 1 s and jitter per
    # message): what is under test is what is queued and delivered, not how long the client waits between tries
    from slack_sdk.http_retry import FixedValueRetryIntervalCalculator

    import steward.integrations.notify.slack as slack_client

    build = slack_client.build_client
    monkeypatch.setattr(slack_client, "build_client", lambda token, base_url=None, **kw: build(
        token, base_url, **{"interval": FixedValueRetryIntervalCalculator(0.01), **kw}))
    slack.fail_next(1000, status=500)
    first = dispatch(cfg, "r-1", finding(), finding(SPEND, Severity.warn))
    second = dispatch(cfg, "r-2", finding(SPEND, Severity.warn))  # the consent problem clears while Slack is down
    assert (first["outcome"], second["outcome"], second["resolved"]) == ("queued", "queued", 1)
    assert slack.messages == [] and len(outbox.alerts(Warehouse(cfg.warehouse), status="queued")) == 4
    still_down = alerts_cli(cfg, "retry")
    # each of the three sends (two runs, one retry) was tried three times: retried as in production
    assert [r.status for r in slack.requests] == [500] * 9
    assert still_down.exit_code == 1 and "sent 0, failed 1, pending 4" in still_down.output

    slack.clear_faults()
    done = alerts_cli(cfg, "retry")  # each invocation opens the warehouse afresh, as a new process would
    assert done.exit_code == 0, done.output
    assert "sent 4, failed 0, pending 0" in done.output
    again = alerts_cli(cfg, "retry")
    assert again.exit_code == 0 and "sent 0, failed 0, pending 0" in again.output
    assert len(slack.messages) == 3  # two parents and one threaded reply; the fourth call edited a parent
    consent_parent = next(m for m in slack.messages if m.channel == "C0PRIVACY" and m.thread_ts is None)
    [reply] = [m for m in slack.messages if m.thread_ts]
    assert reply.thread_ts == consent_parent.ts and consent_parent.edits == 1
    assert "RESOLVED" in consent_parent.blocks[0]["text"]["text"]


def test_rate_limits_are_waited_out_as_retry_after_asks(slack, cfg):
    slack.fail_next(1, status=429, retry_after=1)
    started = time.monotonic()
    result = dispatch(cfg, "r-1", finding())
    assert time.monotonic() - started >= 1 and result["outcome"] == "sent"
    assert [r.status for r in slack.requests] == [429, 200] and len(slack.messages) == 1


def test_digest_lists_the_open_incidents_with_age_and_severity(slack, cfg):
    dispatch(cfg, "r-1", finding(), finding(BIAS, Severity.warn), finding(SPEND, Severity.warn))
    dispatch(cfg, "r-2", finding(), finding(BIAS, Severity.warn))  # the spend gap closed
    result = alerts_cli(cfg, "digest")
    assert result.exit_code == 0, result.output
    assert "digest of 2 open incidents: sent (#ops-digest)" in result.output
    [digest] = [m for m in slack.messages if m.channel == "C0DIGEST"]
    body = text_of(digest)
    assert "2 open incidents (1 critical, 1 warn)" in body and CONSENT in body and BIAS in body
    assert SPEND not in body and "open 0m" in body and body.index(CONSENT) < body.index(BIAS)


def test_list_shows_incidents_by_status(slack, cfg):
    dispatch(cfg, "r-1", finding(), finding(SPEND, Severity.warn))
    dispatch(cfg, "r-2", finding(SPEND, Severity.warn))
    shown = alerts_cli(cfg, "list")
    assert shown.exit_code == 0 and SPEND in shown.output and CONSENT not in shown.output
    everything = alerts_cli(cfg, "list", "--status", "all")
    assert CONSENT in everything.output and "resolved" in everything.output


def test_without_a_token_messages_are_printed_and_kept_local(cfg, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    lines: list[str] = []
    progress.set_reporter(lambda stage, detail: lines.append(f"{stage} {detail}"))
    try:
        result = dispatch(cfg, "r-1", finding(), finding(SPEND, Severity.warn))
    finally:
        progress.set_reporter(None)
    assert result["outcome"] == "printed" and "printed to the console" in result["summary"]
    assert any("#privacy-office" in line and CONSENT in line for line in lines) and len(lines) == 2
    assert {a.status for a in outbox.alerts(Warehouse(cfg.warehouse))} == {"local"}
    retry = alerts_cli(cfg, "retry")
    assert retry.exit_code == 2 and "SLACK_BOT_TOKEN is not set" in retry.output


def test_no_email_address_or_token_reaches_slack_or_the_ledger(slack, cfg):
    leak = dict(subject="hubspot jane.doe@example.com", explanation="Mailed jane.doe@example.com after opt-out.",
                evidence={"contact": "jane.doe@example.com", "ids": ["h:0a1b2c3d4e", "JANE%40corp.example"]})
    dispatch(cfg, "r-1", finding(**leak), finding(BIAS, Severity.warn, **leak))
    back_date(cfg, 30)
    dispatch(cfg, "r-2", finding(BIAS, Severity.critical, **leak))  # worse for bias, resolved for consent
    alerts_cli(cfg, "digest")
    assert len(slack.messages) == 5  # two parents, two replies, one digest
    for message in slack.messages:
        body = text_of(message)
        assert "@" not in body and "%40" not in body and "jane" not in body.lower() and TOKEN not in body
    with duckdb.connect(str(cfg.warehouse)) as con:
        stored = json.dumps(con.execute("select * from ledger.alert_outbox").fetchall(), default=str)
    assert "@" not in stored and TOKEN not in stored
    assert all(r.has_auth_header for r in slack.requests)
