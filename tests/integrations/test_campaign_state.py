"""Every adapter that can pause also reads whether a campaign is paused: what reconciling an interrupted pause needs.

Each API adapter runs against its emulator from the demo workspace; the export-files adapter against its ledger.
"""

from __future__ import annotations

import pytest

from steward.integrations.demo.generator import generate_workspace
from steward.integrations.emulator.stack import EmulatorStack
from steward.contracts.errors import SourceError
from steward.integrations.sources import ExportFilesAdapter, RetryPolicy, build_adapter
from steward.integrations.sources._protocol import CampaignStatus
from steward.integrations.warehouse import Warehouse

CAMPAIGNS = {"salesforce": "701000000000000003", "hubspot": "700003", "marketo": "1001",
             "google_ads": "9000000007"}
POLICY = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.05, timeout=30)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    ws = generate_workspace(tmp_path_factory.mktemp("state_ws"), scale=0.1)
    with EmulatorStack(ws.root, platforms=tuple(CAMPAIGNS)) as running:
        yield running


@pytest.mark.parametrize("platform", list(CAMPAIGNS))
def test_an_api_adapter_reads_the_state_its_pause_and_resume_leave(stack, platform, tmp_path):
    [entry] = [i for i in stack.integrations() if i["platform"] == platform]
    adapter = build_adapter(platform, platform, "api", None, Warehouse(tmp_path / "w.duckdb"), None,
                            base_url=entry["base_url"], credentials=entry["credentials"], options=entry["options"],
                            policy=POLICY)
    assert isinstance(adapter, CampaignStatus)
    campaign = CAMPAIGNS[platform]
    adapter.resume(campaign, "start from a running campaign")
    assert adapter.campaign_state(campaign) == "active"
    assert adapter.pause(campaign, "test").changed
    assert adapter.campaign_state(campaign) == "paused"
    adapter.resume(campaign, "back")
    assert adapter.campaign_state(campaign) == "active"


def test_the_export_files_adapter_reads_its_campaign_ledger(tmp_path):
    adapter = ExportFilesAdapter("hs", "hubspot", tmp_path, Warehouse(tmp_path / "w.duckdb"))
    assert adapter.campaign_state("700003") == "active"
    adapter.pause("700003", "test")
    assert adapter.campaign_state("700003") == "paused"
    adapter.resume("700003", "ok")
    assert adapter.campaign_state("700003") == "active"


def test_an_unknown_campaign_is_a_source_error_naming_the_integration(stack, tmp_path):
    [entry] = [i for i in stack.integrations() if i["platform"] == "google_ads"]
    adapter = build_adapter("ads", "google_ads", "api", None, Warehouse(tmp_path / "w.duckdb"), None,
                            base_url=entry["base_url"], credentials=entry["credentials"], options=entry["options"],
                            policy=POLICY)
    with pytest.raises(SourceError, match="integration 'ads': campaign 9999 not found"):
        adapter.campaign_state("9999")
