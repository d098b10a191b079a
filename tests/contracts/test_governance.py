"""Judging marts against policy: exact thresholds, severity levels, judgeable rows, and clear config errors."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.contracts.governance import judge
from steward.contracts.policy import CheckRule, load_policy
from steward.contracts.errors import ConfigError
from steward.integrations.warehouse.sample_queries import governance_sample_query

POLICY = load_policy()
RULE = CheckRule(family="reconciliation", mart="gov_x", subject_type="campaign", subject="{campaign_id}",
                 key=["campaign_id"], metric="gap", direction="max", warn=0.05, critical=0.2,
                 evidence=["n"], explanation="{campaign_id} is {observed:.0%} off (limit {threshold:.0%})",
                 action={"critical": "pause"})


def _mart(gaps):
    return pd.DataFrame({"campaign_id": [f"c{i}" for i in range(len(gaps))], "gap": gaps, "n": range(len(gaps)),
                         "control_platform": "google_ads", "control_campaign_id": [f"9{i}" for i in range(len(gaps))]})


def test_each_row_gets_its_worst_level_and_the_matching_threshold():
    found = {f.subject: f for f in judge("reconciliation.gap", RULE, _mart([0.01, 0.05, 0.06, 0.2, 0.5, None]),
                                         "r", POLICY, governance_sample_query)}
    assert set(found) == {"c2", "c3", "c4"}
    assert found["c2"].severity.value == "warn" and found["c2"].threshold == 0.05 and found["c2"].action == "alert"
    assert found["c4"].severity.value == "critical" and found["c4"].threshold == 0.2
    assert found["c4"].action == "pause" and found["c4"].target == {"platform": "google_ads", "campaign_id": "94"}
    assert found["c4"].explanation == "c4 is 50% off (limit 20%)"
    # the campaign an action would pause, in the one id form (contracts/campaigns.py), next to the rule's evidence
    assert found["c4"].evidence == {"n": 4, "pause_campaign": "google_ads:94"}
    assert found["c4"].sample_query == "select * from governance.gov_x where campaign_id = 'c4'"


def test_where_limits_judgement_to_judgeable_rows():
    rule = RULE.model_copy(update={"where": "n >= 3"})
    assert [f.subject for f in judge("reconciliation.gap", rule, _mart([0.9, 0.9, 0.9, 0.9]), "r", POLICY)] == ["c3"]


def test_min_direction_flags_values_below():
    rule = RULE.model_copy(update={"direction": "min", "warn": 0.8, "critical": 0.5})
    sev = {f.subject: f.severity.value for f in judge("bias.x", rule, _mart([1.0, 0.8, 0.79, 0.49]), "r", POLICY)}
    assert sev == {"c2": "warn", "c3": "critical"}


def test_unknown_column_in_a_rule_names_the_policy_check_and_column():
    rule = RULE.model_copy(update={"evidence": ["n", "nope"]})
    with pytest.raises(ConfigError, match=r"checks\.reconciliation\.gap: unknown column 'nope' in mart gov_x"):
        judge("reconciliation.gap", rule, _mart([0.5]), "r", POLICY)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), min_size=1, max_size=30), st.randoms())
def test_row_order_does_not_change_the_findings(gaps, rnd):
    mart = _mart(gaps)
    shuffled = mart.sample(frac=1, random_state=rnd.randint(0, 10**6))
    a = {(f.subject, f.severity, f.observed) for f in judge("reconciliation.gap", RULE, mart, "r", POLICY)}
    b = {(f.subject, f.severity, f.observed) for f in judge("reconciliation.gap", RULE, shuffled, "r", POLICY)}
    assert a == b
    assert {s for s, _, _ in a} == {f"c{i}" for i, g in enumerate(gaps) if g > 0.05}


def test_a_series_column_reads_as_words_in_the_explanation():
    """A mart column holding a list (weekly spend, a baseline) never prints as a Python list."""
    rule = RULE.model_copy(update={"explanation": "{campaign_id} weekly spend, oldest first: {weekly:,.0f}.",
                                   "campaign": "salesforce:{campaign_id}"})
    mart = _mart([0.5]).assign(weekly=[[0.0, 0.0, 0.0, 0.0, 0.0, 1281.0]])
    [f] = judge("reconciliation.gap", rule, mart, "r", POLICY)
    assert f.explanation == "c0 weekly spend, oldest first: 0 (5 times), then 1,281."
    assert f.evidence["campaign"] == "salesforce:c0"


def test_json_lists_and_objects_read_as_words_in_the_explanation_only():
    """Marts keep drift as JSON text; an explanation names the columns instead of printing the JSON."""
    rule = RULE.model_copy(update={"explanation": "missing {missing}, new {added}, renamed {renamed}, "
                                                  "retyped {retyped}.", "evidence": ["missing"]})
    mart = _mart([0.5]).assign(missing='["LeadSource", "Region"]', added="[]", renamed='{"Email": "EmailAddress"}',
                               retyped='{"Amount": {"from": "number", "to": "text"}}')
    [f] = judge("reconciliation.gap", rule, mart, "r", POLICY)
    assert f.explanation == ("missing LeadSource and Region, new none, renamed Email → EmailAddress, "
                             "retyped Amount (number → text).")
    assert f.evidence["missing"] == '["LeadSource", "Region"]'  # the evidence keeps the data as it is


def _schema_cases(rule: CheckRule, rows: pd.DataFrame) -> set[tuple]:
    """The failure cases of the one-column pandera schema the judge validated with before (the oracle)."""
    import pandera.pandas as pa

    from steward.contracts.governance import _LEVELS, _passes

    checks = [pa.Check(_passes(rule.direction, limit), name=level.value)
              for level in _LEVELS if (limit := getattr(rule, level.value)) is not None]
    schema = pa.DataFrameSchema({rule.metric: pa.Column(float, nullable=True, coerce=True, checks=checks)})
    try:
        schema.validate(rows, lazy=True)
        return set()
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        return {(i, c) for i, c in zip(cases["index"], cases["check"]) if c in ("warn", "critical")}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(-2, 2, allow_nan=False), st.integers(-2, 2)), min_size=1, max_size=20),
       st.sampled_from(["max", "min"]), st.floats(-1, 1, allow_nan=False), st.one_of(st.none(), st.floats(0, 1)))
def test_each_levels_check_fails_the_rows_the_one_column_schema_failed(gaps, direction, warn, spread):
    """The judge runs each level's pandera check on the metric directly; its failure cases are the lazy schema's."""
    from steward.contracts.governance import _LEVELS, _failure_cases, _passes
    import pandera.pandas as pa

    critical = None if spread is None else (warn + spread if direction == "max" else warn - spread)
    rule = RULE.model_copy(update={"direction": direction, "warn": warn, "critical": critical})
    rows = _mart(gaps).iloc[::-1]  # an index that is not 0..n-1 in order, as a filtered mart's
    checks = [pa.Check(_passes(direction, limit), name=level.value)
              for level in _LEVELS if (limit := getattr(rule, level.value)) is not None]
    cases = _failure_cases(rule, rows, checks)
    assert {(i, c) for i, c in zip(cases["index"], cases["check"])} == _schema_cases(rule, rows)


def test_a_metric_that_is_not_a_number_is_judged_by_the_schema_as_before():
    """A metric column holding text that is not a number does not convert to float: it goes through the one-column
    schema as before, and gets exactly its failure cases."""
    import pandera.pandas as pa

    from steward.contracts.governance import _failure_cases, _passes

    text = _mart([0.5, 0.01, 0.3]).assign(gap=["0.5", "not a number", "0.3"])
    checks = [pa.Check(_passes("max", 0.05), name="warn"), pa.Check(_passes("max", 0.2), name="critical")]
    cases = _failure_cases(RULE, text, checks)
    assert {(i, c) for i, c in zip(cases["index"], cases["check"]) if c in ("warn", "critical")} == \
        _schema_cases(RULE, text) != set()
