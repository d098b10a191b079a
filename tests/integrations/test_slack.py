"""Slack alerts end to end: the real slack-sdk WebClient against the local emulator, with the outbox in DuckDB."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator

from steward.contracts.finding import Finding, Severity
from steward.integrations.emulator.slack import SlackEmulator, block_errors
from steward.contracts.errors import ChannelError, ConfigError, NotifyError
from steward.integrations.warehouse import outbox
from steward.integrations.warehouse.outbox import OutboxMessage
from steward.integrations.notify.message import MAX_BLOCKS, build_message, render_text
from steward.integrations.notify.slack import SendResult, SlackNotifier, build_client
from steward.integrations.warehouse import Warehouse

TOKEN = "xoxb-test-1234567890-secret"
CHANNEL = "#marketing-ops-alerts"


@pytest.fixture
def slack():
    with SlackEmulator(token=TOKEN, channels={CHANNEL: "C0ALERTS", "#other": "C0OTHER"}) as emulator:
        yield emulator


@pytest.fixture
def wh(tmp_path):
    return Warehouse(tmp_path / "w.duckdb")


def notifier(slack: SlackEmulator, token: str = TOKEN, channel: str = CHANNEL, **kw) -> SlackNotifier:
    """The production client setup, with short backoffs so fault tests stay fast."""
    kw.setdefault("interval", FixedValueRetryIntervalCalculator(0.01))
    return SlackNotifier(build_client(token, slack.base_url, **kw), channel)


def finding(i: int = 0, severity: Severity = Severity.critical, **kw) -> Finding:
    base = dict(run_id="r-1", check_id="consent.sends_after_opt_out", family="privacy_consent", severity=severity,
                subject_type="campaign", subject=f"campaign 70100000000{i:04d}", metric="sends_after_opt_out",
                observed=12.0, threshold=0.0, evidence={"people_opted_out": 40, "example_recipients": ["h:0a1b2c3d4e"]},
                explanation="12 people who unsubscribed still received emails.")
    return Finding(**{**base, **kw})


def enqueue(wh: Warehouse, run_id: str, payload: dict, fingerprint: str | None = "fp-1", channel: str = CHANNEL,
            kind: str = "post", parent_id: str | None = None) -> str:
    [alert_id] = outbox.enqueue(wh, run_id, OutboxMessage(kind, channel, payload, fingerprint, parent_id))
    return alert_id


def raw_post(slack: SlackEmulator, method: str, fields: dict, headers: dict | None = None, as_json: bool = False):
    """A hand-made request, for what slack-sdk never sends (no token, form bodies)."""
    body = json.dumps(fields).encode() if as_json else urlencode(fields).encode()
    ctype = "application/json" if as_json else "application/x-www-form-urlencoded"
    req = urllib.request.Request(slack.base_url + method, data=body, method="POST",
                                 headers={"Content-Type": ctype, **(headers or {})})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


# -- the emulator behaves like Slack -----------------------------------------------------------------------------------
def test_emulator_auth_rules(slack):
    assert raw_post(slack, "auth.test", {}) == (200, {"ok": False, "error": "not_authed"})
    slack.fail_next(1, status=429, retry_after=1)
    with pytest.raises(urllib.error.HTTPError) as info:
        raw_post(slack, "auth.test", {}, {"Authorization": f"Bearer {TOKEN}"})
    assert (info.value.code, info.value.headers["Retry-After"]) == (429, "1")
    assert json.loads(info.value.read()) == {"ok": False, "error": "ratelimited"}
    status, body = raw_post(slack, "auth.test", {}, {"Authorization": "Bearer xoxb-wrong"})
    assert (status, body["error"]) == (200, "invalid_auth")
    _, body = raw_post(slack, "chat.postMessage", {"token": TOKEN, "channel": "C0ALERTS", "text": "form body"})
    assert body["ok"] and body["channel"] == "C0ALERTS"
    _, body = raw_post(slack, "chat.postMessage", {"token": TOKEN, "channel": "C0ALERTS", "text": "x"}, as_json=True)
    assert body["error"] == "not_authed"  # like Slack, a token inside a JSON body does not count
    assert [r.has_auth_header for r in slack.requests] == [False, True, True, False, False]
    assert all(TOKEN not in repr(r) for r in slack.requests)


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_emulator_argument_rules(slack):
    client = WebClient(token=TOKEN, base_url=slack.base_url, retry_handlers=[])
    cases = [({"channel": "#nowhere", "text": "x"}, "channel_not_found"),
             ({"channel": CHANNEL}, "no_text"),
             ({"channel": CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
             ({"channel": CHANNEL, "text": "x", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
             ({"channel": CHANNEL, "text": "x", "thread_ts": "1.000001"}, "thread_not_found")]
    for kwargs, error in cases:
        with pytest.raises(SlackApiError) as info:
            client.chat_postMessage(**kwargs)
        assert info.value.response["error"] == error
    assert slack.messages == []


def test_emulator_block_kit_limits():
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    header = {"type": "header", "text": {"type": "mrkdwn", "text": "short"}}
    fields = {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}
    assert "3001" in block_errors([section])[0]
    assert "plain_text" in block_errors([header])[0]
    assert "at most 10" in block_errors([fields])[0]
    assert "1 to 10" in block_errors([context])[0]
    assert block_errors([{"type": "header", "text": {"type": "plain_text", "text": "y" * 151}}])
    assert block_errors([{"type": "section", "text": {"type": "mrkdwn", "text": "ok"}}]) == []


def test_emulator_threads_updates_and_listing(slack):
    client = WebClient(token=TOKEN, base_url=slack.base_url)
    assert client.auth_test()["bot_id"] == "B0STEWARD"
    assert {c["id"] for c in client.conversations_list()["channels"]} == {"C0ALERTS", "C0OTHER"}
    first = client.chat_postMessage(channel=CHANNEL, text="parent")
    reply = client.chat_postMessage(channel="C0ALERTS", text="reply", thread_ts=first["ts"])
    assert float(reply["ts"]) > float(first["ts"]) and reply["message"]["thread_ts"] == first["ts"]
    updated = client.chat_update(channel="C0ALERTS", ts=first["ts"], text="parent, edited")
    assert updated["ts"] == first["ts"] and slack.messages[0].text == "parent, edited"
    with pytest.raises(SlackApiError) as info:
        client.chat_update(channel="C0ALERTS", ts="1.000002", text="x")
    assert info.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as info:  # like Slack: chat.update takes the channel id, not the name
        client.chat_update(channel=CHANNEL, ts=first["ts"], text="x")
    assert info.value.response["error"] == "channel_not_found"


# -- the notifier ------------------------------------------------------------------------------------------------------
def test_bad_token_raises_notify_error_without_the_token(slack, caplog):
    caplog.set_level(logging.DEBUG)
    bad = "xoxb-not-the-right-one-987654"
    with pytest.raises(NotifyError) as info:
        notifier(slack, token=bad).send(build_message([finding()], "r-1"))
    message = str(info.value)
    assert "invalid_auth" in message and CHANNEL in message and "\n" not in message
    assert bad not in message and bad not in caplog.text and info.value.__cause__ is None


def test_unknown_channel_raises_channel_error_naming_it(slack):
    with pytest.raises(ChannelError, match="#nowhere: channel_not_found") as info:
        notifier(slack, channel="#nowhere").send({"text": "hello"})
    assert info.value.channel == "#nowhere"


def test_send_names_the_channel_and_update_edits_by_id(slack):
    sender = notifier(slack)
    posted = sender.send({"text": "parent"}, channel="#other")
    assert posted.ok and posted.channel == "C0OTHER"
    reply = sender.send({"text": "reply"}, thread_ts=posted.ts, channel="#other")
    assert reply.ok and slack.messages[1].thread_ts == posted.ts
    assert sender.update(posted.ts, {"text": "parent, edited"}, channel=posted.channel).ok
    assert slack.messages[0].text == "parent, edited" and slack.messages[0].edits == 1


def test_from_env(slack):
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        SlackNotifier.from_env(CHANNEL, env={})
    sender = SlackNotifier.from_env(CHANNEL, env={"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.base_url})
    result = sender.send({"text": "hello"})
    assert result.ok and result.ts == slack.messages[0].ts


def test_unreachable_slack_is_transient(slack):
    sender = notifier(slack)
    slack.stop()
    result = sender.send({"text": "hello"})
    assert not result.ok and result.retryable and result.error.startswith("cannot reach Slack")
    assert TOKEN not in result.error


# -- the outbox --------------------------------------------------------------------------------------------------------
def test_rate_limit_storm_is_retried_and_ends_sent(slack, wh):
    alert_id = enqueue(wh, "r-1", build_message([finding()], "r-1"))
    slack.fail_next(1, status=429, retry_after=1)
    slack.fail_next(2, status=429, retry_after=0)
    started = time.monotonic()
    report = outbox.deliver(wh, notifier(slack))
    assert time.monotonic() - started >= 1  # slack-sdk waited as Retry-After asked
    assert report == outbox.DeliveryReport(sent=1, failed=0, pending=0)
    assert [r.status for r in slack.requests] == [429, 429, 429, 200]
    assert len(slack.messages) == 1
    [row] = outbox.alerts(wh)
    assert (row.alert_id, row.status, row.sent_at is not None) == (alert_id, "sent", True)


def test_rate_limit_beyond_retries_stays_queued(slack, wh):
    enqueue(wh, "r-1", {"text": "hello"})
    slack.fail_next(2, status=429, retry_after=0)
    report = outbox.deliver(wh, notifier(slack, rate_limit_retries=1))
    assert report == outbox.DeliveryReport(sent=0, failed=1, pending=1)
    [row] = outbox.alerts(wh)
    assert row.status == "queued" and row.attempts == 1 and "ratelimited" in row.last_error


def test_outage_keeps_alert_queued_then_sends_once_across_restart(slack, wh, tmp_path):
    first = enqueue(wh, "r-1", build_message([finding(1)], "r-1"))
    second = enqueue(wh, "r-2", build_message([finding(2)], "r-2"))
    slack.fail_next(100, status=500)
    report = outbox.deliver(wh, notifier(slack))
    assert report == outbox.DeliveryReport(sent=0, failed=1, pending=2)  # stops at the outage, loses nothing
    row = outbox.alerts(wh)[0]
    assert (row.alert_id, row.status, row.attempts) == (first, "queued", 1) and "HTTP 500" in row.last_error
    assert slack.messages == []

    slack.clear_faults()  # the outage is over
    restarted = Warehouse(tmp_path / "w.duckdb")
    assert outbox.deliver(restarted, notifier(slack)) == outbox.DeliveryReport(sent=2, failed=0, pending=0)
    assert outbox.deliver(Warehouse(tmp_path / "w.duckdb"), notifier(slack)).sent == 0
    assert len(slack.messages) == 2
    assert [a.alert_id for a in outbox.alerts(restarted, status="sent")] == [first, second]


def test_enqueue_is_idempotent_and_printed_alerts_are_not_sent(slack, wh):
    payload = {"text": "hello"}
    a = enqueue(wh, "r-1", payload)
    assert enqueue(wh, "r-1", payload) == a  # same run, incident and kind: one row
    outbox.mark_printed(wh, a)
    assert outbox.deliver(wh, notifier(slack)) == outbox.DeliveryReport(0, 0, 0)
    assert [r.status for r in outbox.alerts(wh)] == ["local"] and slack.messages == []
    # a later reply whose parent was only printed goes out on its own rather than into a thread that does not exist
    assert enqueue(wh, "r-2", payload, kind="reply", parent_id=a) != a
    assert outbox.deliver(wh, notifier(slack)) == outbox.DeliveryReport(1, 0, 0)
    assert slack.messages[0].thread_ts is None


def test_refused_payload_is_set_aside_and_the_rest_still_go(slack, wh):
    enqueue(wh, "r-1", {"text": "x", "blocks": [{"type": "divider"}] * 51})
    enqueue(wh, "r-2", {"text": "fine"})
    assert outbox.deliver(wh, notifier(slack)) == outbox.DeliveryReport(sent=1, failed=1, pending=0)
    assert [(r.status, r.last_error) for r in outbox.alerts(wh)] == [
        ("rejected", "Slack refused the message: invalid_blocks"), ("sent", None)]


def test_bad_token_is_recorded_on_the_alert_without_the_token(slack, wh):
    enqueue(wh, "r-1", {"text": "hello"})
    with pytest.raises(NotifyError):
        outbox.deliver(wh, notifier(slack, token="xoxb-wrong-token-42"))
    [row] = outbox.alerts(wh)
    assert row.status == "queued" and row.attempts == 1 and "invalid_auth" in row.last_error
    assert "xoxb-wrong-token-42" not in row.last_error


def test_reply_and_update_wait_for_their_parent_then_thread_and_edit_it(slack, wh, tmp_path):
    parent = enqueue(wh, "r-1", {"text": "parent"})
    slack.fail_next(100, status=503)
    assert outbox.deliver(wh, notifier(slack)).pending == 1
    enqueue(wh, "r-2", {"text": "still open"}, kind="reply", parent_id=parent)
    enqueue(wh, "r-2", {"text": "parent, edited"}, kind="update", parent_id=parent)
    slack.clear_faults()
    report = outbox.deliver(Warehouse(tmp_path / "w.duckdb"), notifier(slack))  # a new process
    assert report == outbox.DeliveryReport(sent=3, failed=0, pending=0)
    top, reply = slack.messages
    assert (top.text, top.edits, top.thread_ts) == ("parent, edited", 1, None)
    assert (reply.text, reply.thread_ts) == ("still open", top.ts)
    sent = outbox.alerts(wh, status="sent")
    assert [a.kind for a in sent] == ["post", "reply", "update"] and sent[0].channel_id == "C0ALERTS"


def test_a_channel_that_refuses_the_bot_holds_only_its_own_alerts(slack, wh):
    enqueue(wh, "r-1", {"text": "lost channel"}, fingerprint="fp-1", channel="#nowhere")
    enqueue(wh, "r-1", {"text": "fine"}, fingerprint="fp-2")
    report = outbox.deliver(wh, notifier(slack))
    assert report == outbox.DeliveryReport(sent=1, failed=0, pending=1, blocked=("#nowhere",))
    [held] = outbox.alerts(wh, status="queued")
    assert held.channel == "#nowhere" and "channel_not_found" in held.last_error
    assert [m.text for m in slack.messages] == ["fine"]


def test_an_update_whose_parent_never_reached_slack_is_set_aside(slack, wh):
    parent = enqueue(wh, "r-1", {"text": "printed"})
    outbox.mark_printed(wh, parent)
    enqueue(wh, "r-2", {"text": "edit"}, kind="update", parent_id=parent)
    assert outbox.deliver(wh, notifier(slack)) == outbox.DeliveryReport(sent=0, failed=1, pending=0)
    assert outbox.alerts(wh)[-1].status == "rejected" and slack.messages == []


# -- the message -------------------------------------------------------------------------------------------------------
def test_oversized_input_is_summarised_within_limits_and_accepted(slack):
    findings = [finding(i, severity=[Severity.critical, Severity.warn, Severity.info][i % 3],
                        explanation="A very long explanation. " * 400, subject="campaign " + "9" * 500)
                for i in range(300)]
    payload = build_message(findings, "r-big", report="https://example.test/report.html",
                            flow_run_url="https://prefect.test/runs/1")
    blocks = payload["blocks"]
    assert len(blocks) <= MAX_BLOCKS and block_errors(blocks) == []
    assert blocks[0]["text"]["text"] == "Steward: 100 critical, 100 warn, 100 info"
    assert "more findings" in blocks[-2]["text"]["text"] and "…" in blocks[1]["text"]["text"]
    assert ":red_circle:" in blocks[1]["text"]["text"]  # worst first
    result = notifier(slack).send(payload)
    assert result == SendResult(True, ts=slack.messages[0].ts, channel="C0ALERTS")


def test_message_never_carries_an_email():
    leaky = finding(evidence={"people": 3, "contact": "jane.doe@example.com", "example_recipients":
                              ["h:0a1b2c3d4e", "jane.doe@example.com", "Jane Doe"], "ratio": 0.25},
                    explanation="Sent to jane.doe@example.com after she opted out (also JOHN%40corp.example).",
                    subject="campaign 701000000001234 <!channel>", metric="sends")
    payload = build_message([leaky], "r-1", report="/tmp/report.html")
    text = json.dumps(payload)
    assert "@" not in text and "%40" not in text.lower() and "Jane Doe" not in text
    assert "h:0a1b2c3d4e" in text and "people 3" in text and "ratio 0.25" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "@" not in render_text([leaky])


def test_render_text_one_line_per_finding():
    lines = render_text([finding(1, severity=Severity.warn), finding(2)]).splitlines()
    assert len(lines) == 2 and lines[0].startswith("CRITICAL consent.sends_after_opt_out")
    assert render_text([]) == "No findings."
