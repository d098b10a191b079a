"""Nothing Steward says outside the warehouse carries customer PII or a secret.

Runs the demo as a user would, verbosely (Prefect's and dbt's own logs on), with Slack configured against the local
emulator, then scans every Slack message, every line printed, the HTML report and dbt's log files for every email
address, phone number and full name in the generated workspace, and for the bot token. The same run is the README's
`steward demo` posting its alerts to Slack when a token is set (one parent message per incident, each in its
owner's channel): one demo run for both, as --verbose changes only what is logged.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from steward.integrations.emulator.slack import SlackEmulator
from test_cli_end_to_end import steward

pytestmark = pytest.mark.slow
TOKEN = "xoxb-pii-scan-0000000000-secret"
CHANNELS = {"#marketing-ops-alerts": "C0ALERTS", "#privacy-office": "C0PRIVACY", "#ml-governance": "C0MLGOV"}


def _pii(exports: Path) -> set[str]:
    people = pd.concat([pd.read_csv(exports / "salesforce" / f, dtype=str, keep_default_na=False)
                        for f in ("contacts.csv", "leads.csv")], ignore_index=True)
    values = set(people["Email"]) | set(people["FirstName"] + " " + people["LastName"])
    values |= set(people.get("Phone", pd.Series(dtype=str)).dropna()) - {""}
    return {v for v in values if v}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, prefect_api):
    """`steward demo --scale 0.3 --json --verbose` with a Slack bot token, against the local Slack emulator: the
    folder it ran in, the finished process and every message Slack received."""
    cwd = tmp_path_factory.mktemp("pii")
    with SlackEmulator(token=TOKEN, channels=CHANNELS) as slack:
        proc = steward("demo", "--scale", "0.3", "--json", "--verbose", cwd=cwd,
                       env={**prefect_api, "SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.base_url})
        received = list(slack.messages)
    return cwd, proc, received


@pytest.fixture(scope="module")
def outputs(demo):
    cwd, proc, received = demo
    messages = [json.dumps({"text": m.text, "blocks": m.blocks}) for m in received]
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    work = cwd / "steward-demo"
    texts = {"stdout": proc.stdout, "stderr": proc.stderr, "report": Path(result["report"]).read_text(),
             "slack": "\n".join(messages)}
    for log in (work / "work").rglob("*.log"):
        texts[f"log:{log.name}"] = log.read_text(errors="replace")
    return texts, _pii(work / "exports"), messages


def test_the_scan_has_something_to_scan(outputs):
    texts, pii, messages = outputs
    assert messages and len(pii) > 1000
    assert "bias.selection_rate_disparity" in texts["slack"] and "bias.selection_rate_disparity" in texts["report"]


def test_no_customer_pii_in_any_output(outputs):
    texts, pii, _ = outputs
    leaks = {name: sorted(v for v in pii if v in text)[:3] for name, text in texts.items()}
    assert not {k: v for k, v in leaks.items() if v}


def test_no_token_in_any_output(outputs):
    texts, _, _ = outputs
    assert not [name for name, text in texts.items() if TOKEN in text]


def test_demo_posts_alerts_to_slack_when_a_token_is_set(demo):
    """(Was test_cli_end_to_end.py's own `steward demo --scale 0.3` run with a token; the same run as the scan's.)"""
    _, proc, messages = demo
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    alerts = result["alerts"]
    assert alerts["outcome"] == "sent" and alerts["channel"] == "#marketing-ops-alerts"
    assert alerts["channels"] == sorted(CHANNELS)
    alerting = {f["fingerprint"]: f for f in result["findings"]
                if f["severity"] in ("warn", "critical") and f["action"] != "none"}
    assert alerts["opened"] == alerts["alerted"] == len(alerting) == len(messages)
    # one parent message per incident, none of them a reply, each naming its incident once
    incident_of = {re.search(r"Incident `([0-9a-f]{16})`", json.dumps(m.blocks)).group(1): m for m in messages}
    assert sorted(incident_of) == sorted(alerting) and all(m.thread_ts is None for m in messages)
    channel_of = {alerting[fp]["check_id"]: m.channel for fp, m in incident_of.items()}
    assert channel_of["consent.send_after_opt_out"] == "C0PRIVACY"
    assert channel_of["oversight.unreviewed_high_risk_decisions"] == "C0MLGOV"
    assert channel_of["metric_balance.kpi_up_guardrail_down"] == "C0ALERTS"
    assert channel_of["reconciliation.consent_crm_vs_esp"] == "C0ALERTS"  # privacy's owner, but not its family
    body = " ".join(json.dumps(m.blocks) + m.text for m in messages)
    assert "@" not in body and TOKEN not in proc.stderr + proc.stdout
    with duckdb.connect(result["warehouse"], read_only=True) as con:
        assert {r[0] for r in con.execute("select status from ledger.alert_outbox").fetchall()} == {"sent"}
        threads = dict(con.execute("select fingerprint, thread_ts from ledger.incidents").fetchall())
    assert threads == {fp: m.ts for fp, m in incident_of.items()}
