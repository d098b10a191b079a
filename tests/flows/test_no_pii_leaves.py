"""Nothing Steward says outside the warehouse carries customer PII or a secret.

Runs the demo as a user would, verbosely (Prefect's and dbt's own logs on), with Slack configured against the local
emulator, then scans every Slack message, every line printed, the HTML report and dbt's log files for every email
address, phone number and full name in the generated workspace, and for the bot token.
"""

from __future__ import annotations

import json
from pathlib import Path

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
def outputs(tmp_path_factory, prefect_api):
    cwd = tmp_path_factory.mktemp("pii")
    with SlackEmulator(token=TOKEN, channels=CHANNELS) as slack:
        proc = steward("demo", "--scale", "0.3", "--json", "--verbose", cwd=cwd,
                       env={**prefect_api, "SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.base_url})
        messages = [json.dumps({"text": m.text, "blocks": m.blocks}) for m in slack.messages]
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
