"""An alert links to the run's HTML report and, on a lasting Prefect server, to the flow run's page."""

from __future__ import annotations

import json

from prefect import flow

from steward.contracts.policy import load_policy
from steward.flows.alerts import dispatch_alerts
from steward.flows.config import IntegrationConfig, StewardConfig
from steward.integrations.emulator.slack import SlackEmulator
from steward.integrations.warehouse import Warehouse
from test_alerting import CHANNELS, TOKEN, finding


def test_parent_message_links_report_and_flow_run(prefect_harness, tmp_path, monkeypatch):
    cfg = StewardConfig(warehouse=tmp_path / "w.duckdb", report_dir=tmp_path / "reports",
                        integrations=[IntegrationConfig(name="hubspot", platform="hubspot", path=tmp_path)])

    @flow
    def alerting_run() -> str:
        from prefect.runtime import flow_run

        dispatch_alerts(Warehouse(cfg.warehouse), [finding()], load_policy(), cfg, "r-1", tmp_path / "r-1.html")
        return str(flow_run.id)

    with SlackEmulator(token=TOKEN, channels=CHANNELS) as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.base_url)
        run_id = alerting_run()
        [message] = slack.messages
    blocks = json.dumps(message.blocks)
    assert "r-1.html" in blocks
    assert f"/flow-runs/flow-run/{run_id}|Flow run>" in blocks
