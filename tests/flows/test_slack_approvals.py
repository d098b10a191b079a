"""Approvals from Slack, end to end: a real paused Prefect flow run, the Slack emulator, `steward serve` over HTTP.

Each case pauses a real flow run (the session's temporary Prefect server) on one ``request_approval``, through the
governance run's own ``collect_approvals`` with the Slack announcer, which posts the Approve / Reject buttons to the
Slack emulator with the real ``WebClient``. The emulator then clicks as Slack does: it builds the ``block_actions``
payload from the posted message and signs it with the app's signing secret; the request goes over real HTTP to
``steward serve``'s app (uvicorn on a free 127.0.0.1 port). The run's decision then goes through the governance run's
own ``act`` step, with a file integration's adapter, into a real warehouse and audit log.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator
from uuid import UUID

import pytest
import yaml
from prefect import flow

from steward.contracts.actions import PlannedAction
from steward.contracts.finding import Finding
from steward.contracts.policy import load_policy
from steward.flows import steps
from steward.flows.approval import collect_approvals, slack_announcer
from steward.flows.config import IntegrationConfig, StewardConfig, load_config, write_config
from steward.flows.serve import INTERACTIONS_PATH, create_app
from steward.flows.alerts import slack_sender
from steward.integrations.emulator.slack import SlackEmulator, SlackMessage
from steward.integrations.notify.interactions import APPROVE, REJECT
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow
CHECK = "metric_balance.kpi_up_guardrail_down"
TARGET = "hubspot:700003"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the Slack app's signing secret (a test value)
AUDIT_KEY = "audit-key-of-the-slack-approval-test"
ALICE, BOB, STRANGER = "UALICE001", "UBOB00001", "USTRANGE1"  # Slack member ids


def _plan() -> PlannedAction:
    finding = Finding(run_id="r-1", check_id=CHECK, family="metric_balance", severity="critical",
                      subject_type="campaign", subject="700003", metric="ctr_lift", observed=0.4, threshold=0.2,
                      explanation="clicks up, complaints up")
    return PlannedAction(finding, "request_approval", "hubspot", "700003", "kpi up, guardrail down", True)


@flow(name="slack-approval-under-test")
def _paused_act(config: str) -> list[dict]:
    """The governance run's approval and act steps (``flows/governance.py``) for one planned pause."""
    cfg = load_config(config)
    policy = load_policy(cfg.policy)
    wh = Warehouse(cfg.warehouse)
    plans = [_plan()]
    decisions = collect_approvals(plans, policy, slack_announcer(cfg, wh, policy))
    return steps.act(wh, plans, decisions, steps.adapters_for(cfg, wh), "r-slack")


@pytest.fixture
def slack(monkeypatch) -> Iterator[SlackEmulator]:
    with SlackEmulator(channels={"#marketing-ops-alerts": "C0ALERTS"}) as emulator:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_API_URL", emulator.base_url)
        yield emulator


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """A workspace whose policy lets alice approve the check; bob is a Slack user mapped to a non-approver."""
    monkeypatch.setenv("STEWARD_APPROVAL_DIR", str(tmp_path / "tokens"))
    monkeypatch.setenv("STEWARD_AUDIT_KEY", AUDIT_KEY)
    policy = yaml.safe_load((Path(__file__).parents[2] / "contracts" / "policy.yaml").read_text())
    policy["approvals"] = {"approvers": ["@run_user"], "checks": {CHECK: ["alice"]},
                           "slack_users": {ALICE: "alice", BOB: "bob"}}
    policy["actions"].update(approval_timeout_seconds=300, on_approval_timeout="reject")
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    (tmp_path / "hubspot").mkdir()
    cfg = StewardConfig(policy=Path("policy.yaml"), warehouse=Path("w.duckdb"), integrations=[
        IntegrationConfig(name="hubspot", platform="hubspot", path=tmp_path / "hubspot")])
    return write_config(cfg, tmp_path / "steward.yaml")


@contextmanager
def serving(config: Path) -> Iterator[str]:
    """`steward serve`'s app on a free 127.0.0.1 port (uvicorn in a thread); yields the request URL."""
    import uvicorn

    cfg = load_config(config)
    policy = load_policy(cfg.policy)
    app = create_app(cfg, policy, SECRET, slack_sender(cfg, policy.alerts.channel))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}{INTERACTIONS_PATH}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _when_asked(slack: SlackEmulator, clicks: Callable[[SlackMessage, str], None]) -> threading.Thread:
    """In another thread: once the run is paused and its buttons are in Slack, ``clicks(message, flow_run_id)``."""
    from prefect.client.orchestration import get_client

    def approver() -> None:
        for _ in range(2400):  # a loaded machine may take a while to reach the pause
            asked = [m for m in slack.messages if any(b.get("type") == "actions" for b in m.blocks or [])]
            if asked:
                run = json.loads(asked[0].blocks[1]["elements"][0]["value"])["run"]
                with get_client(sync_client=True) as client:
                    state = client.read_flow_run(UUID(run)).state
                if state is not None and state.is_paused():
                    clicks(asked[0], run)
                    return
            time.sleep(0.25)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(approver,), daemon=True)
    thread.start()
    return thread


def _click(slack: SlackEmulator, url: str, message: SlackMessage, action: str, user: str,
           **tamper) -> tuple[int, bytes]:
    body, headers = slack.interaction(message, action, user, user.lower(), tamper.pop("secret", SECRET),
                                      tamper.pop("timestamp", None))
    for name, value in tamper.items():
        headers = {k: v for k, v in headers.items() if k != name} if value is None else {**headers, name: value}
    return slack.deliver(url, body, headers)


def _still_paused(run: str) -> bool:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(run)).state
    return state is not None and state.is_paused()


def _audit(config: Path) -> list[tuple]:
    wh = Warehouse(load_config(config).warehouse)
    with wh.connect() as con:
        return con.execute("select run_id, decided_by, reason, outcome from ledger.audit_log "
                           "where action = 'request_approval' order by seq").fetchall()


def _campaign_state(config: Path) -> str | None:
    wh = Warehouse(load_config(config).warehouse)
    with wh.connect() as con:
        row = con.execute("select state from ledger.campaign_controls where campaign_id = '700003'").fetchone()
    return row[0] if row else None


def test_approve_in_slack_resumes_the_run_pauses_the_campaign_and_updates_the_message(prefect_harness, slack,
                                                                                       config):
    answers = []
    with serving(config) as url:
        clicker = _when_asked(slack, lambda message, run: answers.append(_click(slack, url, message, APPROVE, ALICE)))
        [done] = _paused_act(str(config))
        clicker.join(timeout=30)
    assert [status for status, _ in answers] == [200]
    assert done["outcome"] == "paused" and done["decided_by"] == f"approver:alice (entered by slack:{ALICE})"
    assert _campaign_state(config) == "paused"
    [row] = _audit(config)
    assert row[1] == f"approver:alice (entered by slack:{ALICE})" and row[3] == "paused"
    assert "approved: answered in Slack by @" in row[2]

    [message] = slack.messages
    assert message.channel == "C0ALERTS" and message.edits == 1
    assert not [b for b in message.blocks if b["type"] == "actions"]  # nobody can click twice
    assert f"Approved by <@{ALICE}> at " in message.blocks[-1]["text"]["text"]
    assert "Steward asks to pause" in message.blocks[0]["text"]["text"]
    assert SECRET not in str(message.blocks) and AUDIT_KEY not in str(message.blocks)


def test_the_request_names_the_campaign_and_goes_into_the_open_incident_thread(prefect_harness, slack, config):
    """An earlier run opened the finding's incident (a Slack thread); the campaign directory knows its name."""
    from datetime import datetime, timezone

    from steward.contracts.incidents import Decision
    from steward.contracts.routing import Route
    from steward.flows.alerts import deliver_queued
    from steward.integrations.notify import incidents

    cfg = load_config(config)
    wh = Warehouse(cfg.warehouse)
    with wh.connect() as con:  # what dbt's int_campaigns__directory holds after a build (names only, no people)
        con.execute("create schema if not exists staging")
        con.execute("create table staging.int_campaigns__directory as select 'hubspot' as platform, "
                    "'700003' as campaign_id, 'Spring sale' as campaign_name")
    finding = _plan().finding
    ids = incidents.record(wh, "r-0", [Decision("open", finding.fingerprint, finding, None,
                                                Route("#marketing-ops-alerts"))], datetime.now(timezone.utc))
    assert deliver_queued(wh, cfg, ids, "#marketing-ops-alerts").delivered == 1
    with serving(config) as url:
        clicker = _when_asked(slack, lambda message, run: _click(slack, url, message, REJECT, ALICE))
        _paused_act(str(config))
        clicker.join(timeout=30)
    parent, asked = slack.messages
    assert asked.thread_ts == parent.ts and asked.channel == parent.channel
    assert "Steward asks to pause Spring sale (hubspot 700003)" in asked.blocks[0]["text"]["text"]
    assert f"--target {TARGET}" in asked.blocks[-2]["elements"][0]["text"]


@flow(name="slack-approval-first-sighting")
def _alert_then_act(config: str) -> list[dict]:
    """The governance run's respond step (``flows/governance.py``): this run's alerts, then its actions."""
    from steward.flows.governance import respond

    cfg = load_config(config)
    policy = load_policy(cfg.policy)
    wh = Warehouse(cfg.warehouse)
    plan = _plan()
    _alerts, actions = respond(wh, cfg, policy, [plan.finding], [plan], steps.adapters_for(cfg, wh), "r-first",
                               cfg.report_dir / "r-first.html")
    return actions


def test_a_first_sighting_asks_in_the_incident_thread_the_same_run_opened(prefect_harness, slack, config):
    """No earlier run saw the finding: the run's alert opens its incident thread first, and the approval request
    goes into that thread, never as a second top-level message."""
    cfg = load_config(config)
    with serving(config) as url:
        clicker = _when_asked(slack, lambda message, run: _click(slack, url, message, REJECT, ALICE))
        [done] = _alert_then_act(str(config))
        clicker.join(timeout=30)
    parent, asked = slack.messages
    assert parent.thread_ts is None and "Incident `" in json.dumps(parent.blocks)
    assert asked.thread_ts == parent.ts and asked.channel == parent.channel
    assert done["outcome"] != "paused" and _campaign_state(config) is None
    wh = Warehouse(cfg.warehouse)
    with wh.connect() as con:
        order = [r[0] for r in con.execute("select action from ledger.audit_log where run_id = 'r-first' "
                                           "order by seq").fetchall()]
    assert order.index("alert") < order.index("request_approval")


def test_reject_in_slack_leaves_the_campaign_running(prefect_harness, slack, config):
    answers = []
    with serving(config) as url:
        clicker = _when_asked(slack, lambda message, run: answers.append(_click(slack, url, message, REJECT, ALICE)))
        [done] = _paused_act(str(config))
        clicker.join(timeout=30)
    assert [status for status, _ in answers] == [200]
    assert done["outcome"] == "not executed: rejected" and done["decided_by"].startswith("approver:alice")
    assert _campaign_state(config) is None
    assert f"Rejected by <@{ALICE}>" in slack.messages[0].blocks[-1]["text"]["text"]


TAMPERED = {"forged_signature": {"secret": "not-the-signing-secret-of-the-app"},
            "older_than_5_minutes": {"timestamp": int(time.time()) - 301},
            "unsigned": {"X-Slack-Signature": None, "X-Slack-Request-Timestamp": None}}


def test_a_forged_stale_or_unsigned_click_changes_nothing(prefect_harness, slack, config, caplog):
    """Each is refused with 401 and one log line; the run stays paused and the message keeps its buttons."""
    seen: dict = {}

    def clicks(message: SlackMessage, run: str) -> None:
        for kind, tamper in TAMPERED.items():
            seen[kind] = _click(slack, url, message, APPROVE, ALICE, **tamper)
        time.sleep(1)  # whatever a refused request could have set off has had its time
        seen["paused"] = _still_paused(run)
        seen["edits"] = slack.messages[0].edits
        seen["closing"] = _click(slack, url, message, REJECT, ALICE)  # a real answer ends the run

    with serving(config) as url:
        clicker = _when_asked(slack, clicks)
        [done] = _paused_act(str(config))
        clicker.join(timeout=30)
    assert {kind: seen[kind][0] for kind in TAMPERED} == {kind: 401 for kind in TAMPERED}
    assert seen["paused"] and seen["edits"] == 0 and seen["closing"][0] == 200
    assert done["outcome"] == "not executed: rejected" and _campaign_state(config) is None
    assert [r[1] for r in _audit(config)] == [f"approver:alice (entered by slack:{ALICE})"]
    refusals = [r.getMessage() for r in caplog.records if r.name == "steward.serve" and "refused" in r.getMessage()]
    assert len(refusals) == len(TAMPERED) and not [line for line in refusals if SECRET in line]
    assert "signature does not match" in refusals[0] and "more than 300 s" in refusals[1]
    assert "unsigned request" in refusals[2]


def test_a_slack_user_who_may_not_approve_is_refused_and_the_run_stays_paused(prefect_harness, slack, config):
    seen: dict = {}

    def clicks(message: SlackMessage, run: str) -> None:
        seen["stranger"] = _click(slack, url, message, APPROVE, STRANGER)  # mapped to nobody
        seen["bob"] = _click(slack, url, message, APPROVE, BOB)  # mapped, but not an approver of the check
        seen["paused"] = _still_paused(run)
        seen["edits"] = slack.messages[0].edits
        seen["closing"] = _click(slack, url, message, REJECT, ALICE)

    with serving(config) as url:
        clicker = _when_asked(slack, clicks)
        [done] = _paused_act(str(config))
        clicker.join(timeout=30)
    assert seen["stranger"][0] == seen["bob"][0] == 200 and seen["paused"] and seen["edits"] == 0
    assert done["outcome"] == "not executed: rejected" and _campaign_state(config) is None
    told = {e.user: e.text for e in slack.ephemerals}
    assert "not mapped to an approver" in told[STRANGER] and f"'bob' (Slack user {BOB}) is not an approver" in told[BOB]
    deadline = time.monotonic() + 120
    while len(audit := _audit(config)) < 3 and time.monotonic() < deadline:  # refusals land after the response
        time.sleep(0.2)
    refused = sorted(r[1] for r in audit if r[3] == "refused")
    assert refused == [f"slack:{BOB}", f"slack:{STRANGER}"]
    assert all(r[0] == "steward-serve" and "flow run" in r[2] for r in audit if r[3] == "refused")


def test_a_replayed_request_is_refused(prefect_harness, slack, config):
    """The same signed request twice: the second is a replay, however fresh its timestamp (no paused run needed:
    the first is answered, and refused, for a run that does not exist)."""
    blocks = [{"type": "actions", "block_id": "b", "elements": [
        {"type": "button", "action_id": APPROVE, "text": {"type": "plain_text", "text": "Approve"},
         "value": json.dumps({"run": "00000000-0000-0000-0000-000000000000", "request": "r1", "target": TARGET})}]}]
    message = SlackMessage("C0ALERTS", "1700000000.000100", "approve?", blocks)
    body, headers = slack.interaction(message, APPROVE, ALICE, "alice", SECRET)
    with serving(config) as url:
        first, again = slack.deliver(url, body, headers), slack.deliver(url, body, headers)
    assert first[0] == 200 and again[0] == 401


def _cli_env(**extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("SLACK_SIGNING_SECRET", "STEWARD_AUDIT_KEY")}
    return {**env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **extra}


def test_steward_serve_refuses_to_start_without_its_secrets(config, monkeypatch):
    from typer.testing import CliRunner

    from steward.flows.cli import app

    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.setenv("STEWARD_AUDIT_KEY", AUDIT_KEY)
    no_secret = CliRunner().invoke(app, ["serve", "-c", str(config)])
    assert no_secret.exit_code == 2 and no_secret.stderr.splitlines() == [
        "error: no Slack signing secret: set SLACK_SIGNING_SECRET (the Slack app's Basic Information > Signing "
        "Secret) or serve.signing_secret_block in steward.yaml"]
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.delenv("STEWARD_AUDIT_KEY")
    no_key = CliRunner().invoke(app, ["serve", "-c", str(config)])
    assert no_key.exit_code == 2 and no_key.stderr.startswith("error: no audit key")
    assert SECRET not in no_key.output


def test_steward_serve_listens_where_configured_and_refuses_unsigned_requests(prefect_api, config):
    """The command itself, as a user starts it: host and port from `serve:` in steward.yaml."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:  # a port free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**data, "serve": {"host": "127.0.0.1", "port": port}}))
    env = _cli_env(SLACK_SIGNING_SECRET=SECRET, STEWARD_AUDIT_KEY=AUDIT_KEY, **prefect_api)
    proc = subprocess.Popen([sys.executable, "-m", "steward.flows.cli", "serve", "-c", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(1200):  # importing Prefect takes a while on a loaded machine
            try:
                if httpx.get(f"{base}/healthz", timeout=5).text == "ok":
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        unsigned = httpx.post(f"{base}{INTERACTIONS_PATH}", content=b"payload=%7B%7D",
                              headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
        assert unsigned.status_code == 401
    finally:
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    assert f"Slack request URL http://127.0.0.1:{port}{INTERACTIONS_PATH}" in output
    assert "refused a Slack interaction" in output and "unsigned request" in output and SECRET not in output


def test_the_run_accepts_a_slack_entry_only_for_the_approver_it_maps_to(config):
    """The flow's own check after the resume: a signed answer typed by ``slack:<id>`` counts for the approver
    ``approvals.slack_users`` maps that id to, and for nobody else."""
    from steward.flows.approval import ApprovalInput, ApprovalRequest, judge_answer, signature

    policy = load_policy(load_config(config).policy)
    request = ApprovalRequest("r1", CHECK, "hubspot", TARGET, "fp", "ops")
    token = b"t" * 64

    def judged(entered_by: str, approver: str = "alice"):
        fields = {"approved": True, "approver": approver, "entered_by": entered_by, "request_id": "r1",
                  "target": TARGET, "comment": ""}
        return judge_answer(ApprovalInput(**fields, signature=signature(token, fields)), request, policy, [token], "ops")

    assert judged(f"slack:{ALICE}").decided_by == f"approver:alice (entered by slack:{ALICE})"
    assert judged(f"slack:{BOB}").how == "refused"  # bob's Slack id cannot answer for alice
    assert judged(f"slack:{STRANGER}").how == "refused"
    assert judged(f"slack:{BOB}", approver="bob").how == "refused"  # bob is not an approver of the check


def test_the_approval_message_fits_slacks_block_kit_rules_and_carries_no_secret():
    from steward.integrations.emulator.slack import block_errors
    from steward.integrations.notify.interactions import approval_payload

    payload = approval_payload(flow_run_id="3f0c", request_id="ab12", target=TARGET, label="x" * 600,
                               check_id=CHECK, reason="why " * 1000, timeout_seconds=600)
    assert block_errors(payload["blocks"]) == []
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    assert {json.dumps(json.loads(e["value"]), sort_keys=True) for e in actions["elements"]} == {
        json.dumps({"request": "ab12", "run": "3f0c", "target": TARGET}, sort_keys=True)}
    too_long = [{**actions, "elements": [{**actions["elements"][0], "value": "v" * 2001}]}]
    assert block_errors(too_long) == ["must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]"]


def test_a_slack_that_cannot_take_the_request_leaves_steward_approve_as_the_way(slack, config):
    """Slack down or the channel gone: the announcer says so in one line and the run waits as before."""
    from steward.flows.approval import ApprovalRequest

    cfg = load_config(config)
    policy = load_policy(cfg.policy)
    announce = slack_announcer(cfg, Warehouse(cfg.warehouse), policy)
    request = ApprovalRequest("ab12", CHECK, "hubspot", TARGET, _plan().finding.fingerprint, "ops")
    slack.fail_next(10, status=503)
    assert announce(request, _plan(), "3f0c", 60).startswith("approval buttons not posted to Slack: Slack answered "
                                                             "HTTP 503")
    slack.clear_faults()
    gone = policy.model_copy(update={"alerts": policy.alerts.model_copy(update={"channel": "#nowhere"})})
    said = slack_announcer(cfg, Warehouse(cfg.warehouse), gone)(request, _plan(), "3f0c", 60)
    assert said.startswith("approval buttons not posted to Slack: Slack channel #nowhere: channel_not_found")
    assert announce(request, _plan(), "3f0c", 60) == "approval buttons posted to #marketing-ops-alerts"
    assert "xoxb-test" not in said and len(slack.messages) == 1
