"""A governance run after the health monitor saw an integration go down: the checks that integration feeds are
"not evaluated (source down)" instead of judging a broken sync, the down source is not pulled, and the report says
which checks were left out and why. The run is the next one of a copy of the session's governed demo
(tests/governed.py): what it judges is what the down source changes, not whether the warehouse was built before."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from steward.contracts.policy import load_policy
from steward.flows.demo import write_emulated_config
from steward.flows.governance import RunParams, governance_run
from steward.flows.health import HealthParams, integration_health
from steward.flows.report import report_context
from steward.integrations.emulator.stack import EmulatorStack
from steward.contracts.health_gate import REASON
from steward.integrations.health.gate import check_inputs
from steward.integrations.warehouse import Warehouse

from governed import demo_run_copy

pytestmark = pytest.mark.slow


def _states(config) -> dict[str, str]:
    return {s.integration: s.state for s in integration_health(HealthParams(config=str(config))).integrations}


def _no_wait_to_confirm(config: Path) -> Path:
    """The health checks' policy with no pause before a bad probe is re-checked (``confirm_interval_seconds``: 5 s
    by default, twice here): an emulator that is down stays down, and the re-check is still made."""
    policy = yaml.safe_load(resources.files("steward.contracts").joinpath("policy.yaml").read_text())
    policy["health"]["confirm_interval_seconds"] = 0
    (config.parent / "policy.health.yaml").write_text(yaml.safe_dump(policy))
    data = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**data, "policy": "policy.health.yaml"}))
    return config


def test_checks_fed_by_a_down_source_are_not_evaluated(prefect_harness, tmp_path_factory):
    demo = demo_run_copy(tmp_path_factory, "source-down", scale=0.2)
    files_config, ws = demo.config, demo.ws
    with EmulatorStack(ws.root) as stack:
        api_config = _no_wait_to_confirm(write_emulated_config(files_config, stack.integrations()))
        before = _states(api_config)
        stack.emulators["hubspot"].stop()  # HubSpot is unreachable from here on
        states = _states(api_config)
    # what the governed demo's earlier run saw may leave an integration degraded (Salesforce is); HubSpot's outage
    # is what changed, and nothing else did
    assert before["hubspot"] != "down" and states["hubspot"] == "down"
    assert {k: v for k, v in states.items() if k != "hubspot"} == {k: v for k, v in before.items() if k != "hubspot"}
    assert states["salesforce"] != "down"

    result = governance_run(RunParams(config=str(files_config), kind="demo"))

    fed_by_hubspot = {c for c, platforms in check_inputs(load_policy(None)).items() if "hubspot" in platforms}
    assert fed_by_hubspot  # consent, email metrics... the demo's checks do read HubSpot
    assert not {f.check_id for f in result.findings} & fed_by_hubspot
    assert not [row for row in result.ingested if row["integration"] == "hubspot"]  # not pulled while down
    assert [row for row in result.ingested if row["integration"] == "salesforce"]

    wh = Warehouse(result.warehouse)
    gated = wh.query_df("select check_id, reason from ledger.health_gate where run_id = ?", [result.run_id])
    assert set(gated["check_id"]) == fed_by_hubspot and set(gated["reason"]) == {REASON}
    context = report_context(wh, result.run_id)
    assert {row["check_id"] for row in context["health"]["not_evaluated"]} == fed_by_hubspot
    assert REASON in open(result.report, encoding="utf-8").read()
