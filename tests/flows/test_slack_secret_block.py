"""The Slack bot token may live in a Prefect Secret block instead of the environment."""

from __future__ import annotations

import pytest

from steward.contracts.policy import load_policy
from steward.flows.alerts import dispatch_alerts, slack_sender
from steward.flows.config import IntegrationConfig, SlackConfig, StewardConfig
from steward.integrations.emulator.slack import SlackEmulator
from steward.contracts.errors import ConfigError
from steward.integrations.warehouse import Warehouse
from test_alerting import CHANNELS, finding

TOKEN = "xoxb-from-a-secret-block-000"


def _cfg(tmp_path, block: str) -> StewardConfig:
    return StewardConfig(warehouse=tmp_path / "w.duckdb", report_dir=tmp_path / "reports",
                         integrations=[IntegrationConfig(name="hubspot", platform="hubspot", path=tmp_path)],
                         slack=SlackConfig(token_block=block))


def test_token_from_a_secret_block_reaches_slack(prefect_harness, tmp_path, monkeypatch):
    from prefect.blocks.system import Secret

    Secret(value=TOKEN).save("steward-slack-bot", overwrite=True)
    with SlackEmulator(token=TOKEN, channels=CHANNELS) as slack:
        monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
        monkeypatch.setenv("SLACK_API_URL", slack.base_url)
        cfg = _cfg(tmp_path, "steward-slack-bot")
        result = dispatch_alerts(Warehouse(cfg.warehouse), [finding()], load_policy(), cfg, "r-1",
                                 tmp_path / "reports" / "r-1.html")
        assert result["outcome"] == "sent"
        assert [m.channel for m in slack.messages] == ["C0PRIVACY"]
        assert all(r.has_auth_header for r in slack.requests)


def test_an_unknown_secret_block_is_a_one_line_config_error(prefect_harness, tmp_path, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="no Prefect Secret block named 'nope'"):
        slack_sender(_cfg(tmp_path, "nope"), "#marketing-ops-alerts")
