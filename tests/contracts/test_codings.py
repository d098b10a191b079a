"""Issue #14 item 3: codings are data, not code. The groups an auditor compares, bands for numeric ages, decision
types and channels come from the policy (``codings:``), the demo's values by default; the contracts no longer
hard-code them, so a team's own codes land instead of being quarantined row by row (and are reported by
data_quality.unknown_codes, tests/dbt/test_codings_marts.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from steward.contracts.codings import Codings, band_labels
from steward.contracts.errors import ConfigError
from steward.contracts.policy import load_policy
from steward.contracts.registry import contract_for
from steward.contracts.scope_vars import default_vars
from steward.contracts.yaml_input import parse_yaml_mapping
from importlib import resources

DEMO_BANDS = ["under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def _policy(tmp_path, codings: str):
    path = tmp_path / "policy.yaml"
    path.write_text(f"checks: {{}}\ncodings:\n{codings}\n", encoding="utf-8")
    return load_policy(path)


def test_the_packaged_policy_lists_the_demos_codes_and_they_are_the_defaults():
    packaged = parse_yaml_mapping(resources.files("steward.contracts").joinpath("policy.yaml").read_bytes(),
                                  "default policy", "policy file", "'checks'")["codings"]
    assert Codings.model_validate(packaged) == Codings() == load_policy().codings
    codings = load_policy().codings
    assert codings.attributes["gender"] == ["female", "male", "nonbinary", "unknown"]
    assert codings.sensitive == ["age_band", "gender"]
    assert codings.decision_types["lead_score"].favourable == ["priority"]
    assert "direct_mail" in codings.channels


def test_band_labels_follow_the_edges():
    assert band_labels([18, 25, 35, 45, 55, 65]) == DEMO_BANDS
    assert band_labels([21, 40]) == ["under 21", "21-39", "40+"]
    assert band_labels([0.5, 2.5]) == ["under 0.5", "0.5-<2.5", "2.5+"]  # no "one less" of a fraction


def test_dbt_gets_the_codings_as_one_var_with_the_band_labels():
    passed = load_policy().dbt_vars()["codings"]
    assert passed["bands"] == {"age": {"edges": [18, 25, 35, 45, 55, 65], "labels": DEMO_BANDS}}
    assert passed["attributes"]["age_band"] == DEMO_BANDS[1:] + ["under 18"]  # a band's labels are never unknown
    assert passed["decision_types"]["send_time"] == {"favourable": []}
    assert default_vars()["codings"] == passed  # dbt_project.yml's copy is generated from the same defaults


def test_a_team_declares_its_own_codes_in_short_forms(tmp_path):
    policy = _policy(tmp_path, "  bands: {age: [21, 40]}\n  attributes: {age_band: [21-39, 40+], gender: [M, F, U],"
                               " country: [US, GB]}\n  sensitive: [gender]\n"
                               "  decision_types: {churn_risk: [retain], upsell: null}\n  channels: [email, whatsapp]")
    assert policy.codings.attributes == {"age_band": ["21-39", "40+"], "gender": ["M", "F", "U"],
                                         "country": ["US", "GB"]}
    assert policy.codings.decision_types["churn_risk"].favourable == ["retain"]
    assert policy.codings.decision_types["upsell"].favourable == []
    assert policy.dbt_vars()["codings"]["bands"]["age"]["labels"] == ["under 21", "21-39", "40+"]


@pytest.mark.parametrize(("codings", "message"), [
    ("  bands: {age: [18, 35, 25]}", "codings.bands: Value error, age: edges must be strictly increasing numbers "
                                     "(25 after 35)"),
    ("  bands: {age: [18, 18]}", "strictly increasing numbers (18 after 18)"),
    ("  bands: {age: [18, .nan]}", "codings.bands.age.1: Input should be a finite number"),
    ("  bands: {age: [teen]}", "codings.bands.age.0: Input should be a valid number"),
    ("  bands: {age: []}", "codings.bands.age: List should have at least 1 item"),
    ("  bands: {income: [20000, 50000]}", "unknown numeric column 'income' (known: age)"),
    ("  attributes: {shoe_size: [S, M]}", "unknown attribute 'shoe_size' (known: age_band, gender, region, country)"),
    ("  attributes: {Gender: [M]}", "codings.attributes.Gender.[key]: String should match pattern"),
    ("  attributes: {gender: [\"it's\"]}", "codings.attributes.gender.0: String should match pattern"),
    ("  attributes: {gender: [1]}", "codings.attributes.gender.0: Input should be a valid string"),
    ("  attributes: {gender: []}", "codings.attributes.gender: List should have at least 1 item"),
    ("  sensitive: [religion]", "sensitive: 'religion' is not one of the attributes (age_band, gender, region)"),
    ("  bands: {age: [18, 30, 50]}", "attributes.age_band lacks '18-29', a label bands.age produces"),
    ("  decision_types: {lead_score: {favorable: [priority]}}", "codings.decision_types.lead_score.favorable: "
                                                                "Extra inputs are not permitted"),
    ("  channels: []", "codings.channels: List should have at least 1 item"),
    ("  colours: [red]", "codings.colours: Extra inputs are not permitted"),
])
def test_a_bad_coding_is_refused_in_one_line_naming_the_file_and_field(tmp_path, codings, message):
    with pytest.raises(ConfigError) as err:
        _policy(tmp_path, codings)
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'policy.yaml'}: codings") and "\n" not in text
    assert message in text


def _profiles(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"profile_id": [f"p{i}" for i in range(n)], "user_id": [None] * n,
            "email": [f"a{i}@example.com" for i in range(n)], "age_band": [None] * n, "gender": [None] * n,
            "region": [None] * n, "consent_email": [True] * n, "consent_ads": [None] * n, "audiences": [None] * n,
            "first_seen_at": [None] * n, "updated_at": [pd.Timestamp("2026-11-01", tz="UTC")] * n}
    return pd.DataFrame({**base, **columns})


def test_the_contracts_no_longer_quarantine_a_teams_own_codes():
    """Before: age 'M' or a band '18-29' broke ProfileFrame's isin and the row was quarantined."""
    contract = contract_for("cdp.profiles")
    frame = _profiles(gender=["M", "F", "U", None], age_band=["18-29", None, "65+", None],
                      region=["DE", "EMEA", None, None], age=[19.0, 44.0, None, 71.5])
    valid = contract.schema().validate(frame, lazy=True)
    assert len(valid) == 4 and valid["gender"].tolist()[:3] == ["M", "F", "U"]
    assert "age" in contract.optional_columns()  # an export without ages lands with no drift
    decisions = pd.DataFrame({"decision_id": ["d1"], "decided_at": [pd.Timestamp("2026-11-01", tz="UTC")],
                              "model_name": ["churn"], "model_version": [None], "decision_type": ["churn_risk"],
                              "subject_id": ["s1"], "account_id": [None], "campaign_id": [None], "score": [None],
                              "decision": ["retain"], "confidence": [None], "reason_codes": [None],
                              "human_reviewed": [False], "reviewed_at": [None], "executed": [True],
                              "input_snapshot_id": [None]})
    assert len(contract_for("decisions.ai_decisions").schema().validate(decisions, lazy=True)) == 1
    for stream in ("salesforce.contacts", "salesforce.leads"):
        checks = {name: [c.name for c in col.checks] for name, col in contract_for(stream).schema().columns.items()}
        assert checks["Age_Band__c"] == checks["Gender__c"] == checks["Region__c"] == []


def test_the_changed_contracts_carry_new_versions():
    assert {s: contract_for(s).version for s in ("salesforce.contacts", "salesforce.leads", "cdp.profiles",
                                                 "decisions.ai_decisions")} == {
        "salesforce.contacts": "1.2.0", "salesforce.leads": "1.1.0", "cdp.profiles": "1.2.0",
        "decisions.ai_decisions": "1.3.0"}
