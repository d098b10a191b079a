"""The drift gate: a refused batch leaves out exactly the dbt models and policy checks built on its raw table."""

from __future__ import annotations

from steward.contracts.policy import load_policy
from steward.integrations.transform.drift_gate import drift_gate
from steward.integrations.warehouse.ledger import not_evaluated
from steward.integrations.transform.lineage import mart_sources
from steward.integrations.warehouse.refusals import Refusal
from steward.integrations.warehouse import Warehouse


def _refusal(integration: str, platform: str, entity: str) -> Refusal:
    return Refusal(f"r-{entity}", integration, platform, entity, "primary_key_missing", "why", None)


def test_checks_downstream_of_a_refused_source_are_not_evaluated_and_its_models_excluded(tmp_path):
    wh, policy = Warehouse(tmp_path / "w.duckdb"), load_policy()
    gate = drift_gate(wh, policy, [_refusal("hubspot", "hubspot", "email_events")], "run-1")
    fed = {c for c, rule in policy.checks.items() if ("hubspot", "email_events") in mart_sources(rule.mart)}
    assert {"consent.send_after_opt_out", "privacy.retention_exceeded", "anomaly.send_volume_spike"} <= fed
    assert "bias.selection_rate_disparity" not in fed and "data_quality.schema_drift" not in fed
    assert gate.exclude == ["source:hubspot.email_events+"]
    assert set(gate.policy.checks) == set(policy.checks) - fed
    assert "data_quality.breaking_schema_drift" in gate.policy.checks  # reads Steward's own ledger: always judged
    recorded = not_evaluated(wh, "run-1")
    assert {r["check_id"] for r in recorded} == fed
    assert {(r["integrations"], r["states"], r["reason"]) for r in recorded} == {
        ("hubspot", "hubspot/email_events: batch refused, primary key missing",
         "not evaluated (breaking schema drift in hubspot/email_events)")}


def test_no_refusal_changes_nothing_and_a_source_dbt_does_not_read_excludes_nothing(tmp_path):
    wh, policy = Warehouse(tmp_path / "w.duckdb"), load_policy()
    assert drift_gate(wh, policy, [], "run-1").policy is policy
    # every contracted entity feeds a model now; an entity no model reads (Marketo programs) must exclude nothing
    gate = drift_gate(wh, policy, [_refusal("mkto", "marketo", "programs")], "run-2")
    assert (gate.exclude, gate.skipped, set(gate.policy.checks)) == ([], [], set(policy.checks))
    gate = drift_gate(wh, policy, [_refusal("mkto", "marketo", "leads")], "run-3")
    assert gate.exclude == ["source:marketo.leads+"]
    assert {"identity.match_rate", "consent.send_after_opt_out"} <= {s["check_id"] for s in gate.skipped}
