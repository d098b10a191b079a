"""#17 item 1, the data half, on a copy of the session's governed demo (one real governance flow run):
campaigns by name in one id form in findings, pauses and ``steward campaigns list``; explanations as sentences;
the health section, ``steward health`` and the health findings agreeing."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner

from steward.contracts.campaigns import CampaignRef, campaign_key
from steward.flows.cli import app
from steward.integrations.health import health_section
from steward.integrations.health.state import health_states
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.reads import campaign_refs, run_audit, run_findings

from governed import demo_run_copy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(prefect_harness, tmp_path_factory):
    return demo_run_copy(tmp_path_factory, "names", scale=0.2)


@pytest.fixture(scope="module")
def findings(demo):
    frame = run_findings(Warehouse(demo.result.warehouse), demo.result.run_id)
    frame["evidence"] = [json.loads(e) if isinstance(e, str) else e for e in frame["evidence"]]
    return frame


def test_the_directory_names_the_demo_campaigns(demo):
    refs = campaign_refs(Warehouse(demo.result.warehouse))
    assert {"salesforce", "hubspot", "google_ads"} <= {r.platform for r in refs.values()}
    ref = refs["hubspot:700003"]
    assert ref.name and ref.key == campaign_key("hubspot", "700003") and ref.name in ref.label


def test_a_finding_and_its_pause_carry_the_same_campaign_key_and_name(demo, findings):
    wh = Warehouse(demo.result.warehouse)
    refs = campaign_refs(wh)
    campaign_findings = findings[findings["subject_type"] == "campaign"]
    assert len(campaign_findings)
    for f in campaign_findings.itertuples():  # every campaign finding names its campaign in the one id form
        assert f.evidence["campaign"] in refs, (f.check_id, f.evidence)
        assert f.evidence["campaign_name"] == refs[f.evidence["campaign"]].name
    pauses = run_audit(wh, demo.result.run_id)
    pauses = pauses[pauses["action"] == "pause"]
    assert set(pauses["target"]) >= {"hubspot:700003", "google_ads:9000000008"}
    by_pause = {f.evidence.get("pause_campaign"): f for f in findings.itertuples() if f.action == "pause"}
    for p in pauses.itertuples():
        f = by_pause[p.target]  # the pause line's key is the finding's pause_campaign
        subject = refs[f.evidence["campaign"]]
        assert subject.mention in p.reason  # ... and its reason names the judged campaign by name and key
        if p.target != subject.key:  # an email of a CRM campaign: the reason relates the two
            assert refs[p.target].mention in p.reason and f.evidence["pause_campaign_name"] == refs[p.target].name


def test_campaigns_list_names_each_pause_with_its_whole_reason_and_how_to_resume(demo):
    wh = Warehouse(demo.result.warehouse)
    refs = campaign_refs(wh)
    out = CliRunner().invoke(app, ["campaigns", "list", "-c", str(demo.config)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    controls = wh.query_df("select integration, campaign_id, reason from ledger.campaign_controls "
                           "where state = 'paused'")
    assert len(controls) >= 4
    platforms = {"hubspot": "hubspot", "ads": "google_ads"}
    for c in controls.itertuples():
        assert len(c.reason) > 80
        ref = refs.get(campaign_key(platforms.get(c.integration, c.integration), c.campaign_id))
        assert isinstance(ref, CampaignRef) and ref.name
        command = f'steward campaigns resume {c.integration} {c.campaign_id} --reason "..." -c {demo.config}'
        assert f"to resume {ref.mention}: {command}" in out.output  # on one line, never wrapped
        # the whole reason, wrapped in its cell (rich folds it over lines and borders): every word is there
        cells = re.sub(r"[│┃|]", " ", out.output)
        assert all(word in " ".join(cells.split()) for word in c.reason.split()), c.reason
    assert "…" not in text


def test_no_explanation_prints_a_python_repr(findings):
    bad = [(f.check_id, f.explanation) for f in findings.itertuples()
           if re.search(r"\[\s*-?\d|\{'|\[\s*'|\[\s*\"|\{\s*\"|\[\]|\{\}|\bnan\b|\bNone\b", f.explanation)]
    assert not bad, bad
    weekly = [f.explanation for f in findings.itertuples() if "oldest first" in f.explanation]
    assert weekly and all("then" in e for e in weekly)  # series read as words: "12, 40 (3 times), then 1,281"


def test_the_health_section_steward_health_and_the_health_findings_agree(demo, findings):
    """The demo's CDP is stale: a CRITICAL stale_source finding, so the CDP is down in the report's health section
    and in ``steward health`` too, with the same rule; no view says the monitor never ran or the CDP is healthy."""
    wh = Warehouse(demo.result.warehouse)
    stale = findings[findings["check_id"] == "integration_health.stale_source"]
    assert stale[["subject", "severity"]].values.tolist() == [["cdp", "critical"]]

    section = {r["platform"]: r for r in health_section(wh, demo.result.run_id)["integrations"]}
    assert section["cdp"]["state"] == "down" and section["cdp"]["rule"] == "integration_health.stale_source"
    assert section["cdp"]["reason"] == " ".join(stale["explanation"].iloc[0].split())

    out = CliRunner().invoke(app, ["health", "--latest", "--json", "-c", str(demo.config)])
    assert out.exit_code == 1, out.output  # not every integration is healthy
    cli = {r["platform"]: r for r in json.loads(out.output)["integrations"]}
    assert (cli["cdp"]["state"], cli["cdp"]["rule"]) == ("down", "integration_health.stale_source")
    states = {s.platform: s.state for s in health_states(wh, run_id=demo.result.run_id)}
    assert states == {p: r["state"] for p, r in section.items()} == {p: r["state"] for p, r in cli.items()}


def test_the_drift_count_is_the_same_in_health_and_governance(demo, findings):
    """The demo renames one leads column: the monitor counted it three times (missing, added and the pair) and the
    landing mart twice (3 vs 2); both now count missing + added + retyped."""
    from steward.contracts.policy import load_policy
    from steward.integrations.health.signals import ledger_signals

    wh = Warehouse(demo.result.warehouse)
    drift = findings[(findings["check_id"] == "data_quality.schema_drift")]
    leads = drift[drift["subject"] == "salesforce/leads"]
    assert len(leads) == 1
    rules = load_policy().health.rules_for("salesforce", "salesforce")
    signals = ledger_signals(wh, "salesforce", rules, datetime.now(timezone.utc))
    mart = wh.query_df("select entity, drifted_columns from governance.gov_data_quality__landing "
                       "where integration = 'salesforce' and drifted_columns > 0")
    assert float(leads["observed"].iloc[0]) == mart.set_index("entity").loc["leads", "drifted_columns"]
    assert signals.drift_columns == int(mart["drifted_columns"].sum())
