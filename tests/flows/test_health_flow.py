"""The ``integration-health`` flow end to end: real Prefect flow runs, the Salesforce and HubSpot emulators on real
sockets, the Slack emulator through slack-sdk, and a DuckDB file; plus ``steward health``, the governance gate and
the report's health section."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import pytest
import yaml
from jinja2 import Environment, FileSystemLoader
from typer.testing import CliRunner

from steward.contracts.policy import load_policy
from steward.flows.cli import app
from steward.flows.config import load_config
from steward.flows.health import HealthParams, integration_health
from steward.integrations.emulator._platform import Fault
from steward.integrations.emulator.hubspot import HubspotEmulator
from steward.integrations.emulator.salesforce import SalesforceEmulator
from steward.integrations.emulator.slack import SlackEmulator
from steward.integrations.emulator.stack import DEMO_ENV, EmulatorStack
from steward.integrations.health import health_gate, health_section
from steward.integrations.warehouse import Warehouse

TOKEN = "xoxb-health-0000000000-secret"
CHANNEL = "#marketing-ops-alerts"


@pytest.fixture
def slack(monkeypatch):
    with SlackEmulator(token=TOKEN, channels={CHANNEL: "C0ALERTS"}) as emulator:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", emulator.base_url)
        yield emulator


class Stack:
    """Salesforce and HubSpot emulators with no data (a probe needs none), as the config entries name them."""

    def __init__(self) -> None:
        self.emulators = {
            "salesforce": SalesforceEmulator(client_id=DEMO_ENV["STEWARD_DEMO_SF_CLIENT_ID"],
                                             client_secret=DEMO_ENV["STEWARD_DEMO_SF_CLIENT_SECRET"]).start(),
            "hubspot": HubspotEmulator(tokens=[DEMO_ENV["STEWARD_DEMO_HUBSPOT_TOKEN"]]).start()}

    def integrations(self) -> list[dict]:
        return EmulatorStack.integrations_for({p: e.base_url for p, e in self.emulators.items()})


@pytest.fixture
def stack(monkeypatch):
    for key, value in DEMO_ENV.items():
        monkeypatch.setenv(key, value)
    s = Stack()
    yield s
    for emu in s.emulators.values():
        emu.stop()


def write_workspace(tmp_path: Path, stack: Stack, **health) -> Path:
    data = yaml.safe_load(resources.files("steward.contracts").joinpath("policy.yaml").read_text())
    # a generous probe timeout: a loaded machine must still answer a healthy probe in time (no fault here hangs)
    data["health"].update({"probe_timeout_seconds": 10, "confirm_interval_seconds": 0, **health})
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(data))
    config = {"warehouse": "w.duckdb", "policy": "policy.yaml", "integrations": stack.integrations()}
    path = tmp_path / "steward.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path) -> dict[str, str]:
    result = integration_health(HealthParams(config=str(config)))
    return {s.integration: s.state for s in result.integrations}


def test_outage_and_recovery_send_one_slack_message_per_transition(prefect_harness, tmp_path, stack, slack):
    config = write_workspace(tmp_path, stack)
    sf = stack.emulators["salesforce"]
    assert run(config) == {"salesforce": "healthy", "hubspot": "healthy"}
    assert slack.messages == []
    sf.faults.add(Fault("status", count=1000, status=503))
    assert run(config) == {"salesforce": "down", "hubspot": "healthy"}
    assert run(config)["salesforce"] == "down"  # still down: no second message
    assert [m.text.split(":")[0] for m in slack.messages] == ["salesforce is DOWN"]
    sf.faults.clear()
    run(config)
    assert run(config)["salesforce"] == "healthy"
    down, recovered = slack.messages
    assert recovered.thread_ts == down.ts and "RECOVERED" in recovered.text
    text = json.dumps([m.blocks for m in slack.messages])
    assert TOKEN not in text and DEMO_ENV["STEWARD_DEMO_SF_CLIENT_SECRET"] not in text and "@" not in text


def test_maintenance_window_silences_slack_but_records_the_state(prefect_harness, tmp_path, stack, slack):
    config = write_workspace(tmp_path, stack, defaults={"maintenance": [{"start": "00:00", "end": "23:59"}]})
    run(config)
    stack.emulators["hubspot"].stop()
    assert run(config)["hubspot"] == "down"
    assert slack.messages == []
    rows = Warehouse(load_config(config).warehouse).query_df(
        "select state, in_maintenance from ledger.integration_health where integration = 'hubspot' order by seq")
    assert rows["state"].tolist()[-1] == "down" and rows["in_maintenance"].all()


def test_steward_health_cli_json_and_table(prefect_harness, tmp_path, stack, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    config = write_workspace(tmp_path, stack)
    result = CliRunner().invoke(app, ["health", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    assert {r["integration"]: r["state"] for r in doc["integrations"]} == {"salesforce": "healthy",
                                                                          "hubspot": "healthy"}
    stack.emulators["salesforce"].stop()
    result = CliRunner().invoke(app, ["health", "-c", str(config)])
    assert result.exit_code == 1 and "down" in result.stdout and "probe.unreachable" in result.stdout
    latest = CliRunner().invoke(app, ["health", "-c", str(config), "--latest", "--json"])
    states = {r["integration"]: r["state"] for r in json.loads(latest.stdout.strip().splitlines()[-1])["integrations"]}
    assert states == {"salesforce": "down", "hubspot": "healthy"}


def test_governance_gate_and_report_section(prefect_harness, tmp_path, stack, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    config = write_workspace(tmp_path, stack)
    cfg = load_config(config)
    wh = Warehouse(cfg.warehouse)
    policy = load_policy(cfg.policy)
    run(config)
    healthy = health_gate(wh, policy, cfg.integrations, "run-ok")
    assert healthy.skipped == [] and healthy.policy.checks.keys() == policy.checks.keys()
    stack.emulators["hubspot"].stop()
    run(config)
    gate = health_gate(wh, policy, cfg.integrations, "run-gated")
    skipped = {s["check_id"] for s in gate.skipped}
    assert "consent.send_after_opt_out" in skipped and "reconciliation.ad_spend_vs_crm_cost" not in skipped
    assert skipped.isdisjoint(gate.policy.checks) and "transparency.decisions_without_reason" in gate.policy.checks
    assert gate.down == {"hubspot": "hubspot"}
    assert [i.name for i in gate.ingest_config(cfg).integrations] == ["salesforce"]
    stale = health_gate(wh, policy, cfg.integrations, "run-later",
                        now=datetime.now(timezone.utc) + pd_minutes(policy.health.max_state_age_minutes + 1))
    assert stale.skipped == []  # an old state is not trusted either way

    section = health_section(wh, "run-gated")
    assert {h["integration"]: h["state"] for h in section["integrations"]} == {"salesforce": "healthy",
                                                                               "hubspot": "down"}
    assert {s["check_id"] for s in section["not_evaluated"]} == skipped
    env = Environment(loader=FileSystemLoader(Path(__import__("steward.flows", fromlist=["x"]).__file__).parent
                                              / "templates"), autoescape=True)
    html = env.get_template("_health.html.j2").render(health=section)
    assert "not evaluated (source down)" in html and html.count("<svg") == 2 and "&lt;svg" not in html


def pd_minutes(minutes: float):
    from datetime import timedelta

    return timedelta(minutes=minutes)
