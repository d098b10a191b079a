"""A policy is data, never code: its filters are a closed grammar, its scope values are checked before they reach
SQL, and its thresholds must make sense for their metric (issue #16, cases 1, 3 and 11)."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.contracts.filters import FilterError, parse_filter
from steward.contracts.governance import judge
from steward.contracts.policy import CheckRule, Scope, load_policy
from steward.contracts.errors import ConfigError

POLICY = load_policy()
ATTACK = "channel == 'email' and @pd.io.common.os.system('env > f') == 0"
CHECK = {"family": "privacy_consent", "mart": "gov_x", "subject_type": "channel", "subject": "{channel}",
         "key": ["channel"], "metric": "n", "direction": "max", "critical": 0, "explanation": "{channel}"}


def _policy_file(tmp_path, **changes) -> str:
    """A policy file with one check ``x.y``; ``scope`` changes go to the scope, the rest to the check."""
    scope = changes.pop("scope", None)
    data = {"checks": {"x.y": {**CHECK, **changes}}, **({"scope": scope} if scope is not None else {})}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def _refused(path: str, pattern: str) -> str:
    with pytest.raises(ConfigError, match=pattern) as info:
        load_policy(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


# -- case 1: filters ------------------------------------------------------------------------------------------------

def test_the_reported_attack_is_refused_at_load_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refused(_policy_file(tmp_path, where=ATTACK), r"checks\.x\.y\.where: .*not a filter expression")
    assert not (tmp_path / "f").exists()


def test_the_attack_is_refused_at_evaluation_too(tmp_path, monkeypatch):
    """A rule built in code skips the policy's validation (model_copy); judging it must still run nothing."""
    monkeypatch.chdir(tmp_path)
    rule = CheckRule(**CHECK).model_copy(update={"where": ATTACK})
    mart = pd.DataFrame({"channel": ["email", "ads"], "n": [1.0, 2.0]})
    with pytest.raises(ConfigError, match=r"^default policy: checks\.x\.y\.where: in mart gov_x: not a filter "):
        judge("x.y", rule, mart, "r", POLICY)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("text, refusal", [
    ("__import__('os').system('true') == 0", "a function call"),
    ("channel.upper() == 'EMAIL'", "a function call"),
    ("channel.real == 1", "attribute access"),
    ("channel[0] == 'e'", "a subscript"),
    ("(lambda: 1)() == 1", "a function call"),
    ("(lambda x: x) == 1", "a lambda"),
    ("f'{channel}' == 'email'", "an f-string"),
    ("n + 1 > 2", "arithmetic"),
    ("n if n else 1", "an if-else"),
    ("(n := 1) == 1", "an assignment"),
    ("[c for c in channel] == []", "a comprehension"),
    ("@pd.io.common.os.system('true') == 0", "not a filter expression"),
    ("channel in channels", "need a list of literals"),
    ("channel in [other]", "'other' in a list is not a literal"),
    ("n > null", "null can only be compared"),
    ("'email'", "alone is not a condition"),
    ("__class__ == 1", "is not a column name"),
    ("n == b'x'", "bytes literals"),
    ("n == 1; import os", "not a filter expression"),
    ("n == 1 " + "and n == 1 " * 300, "at most 2000 characters"),
    ("not " * 495 + "n", "at most 50 levels deep"),
    ("(" * 300 + "n" + ")" * 300, "too many nested parentheses"),
    ("n == '\x00'", "not a filter expression"),
])
def test_constructs_outside_the_grammar_are_refused(tmp_path, text, refusal):
    with pytest.raises(FilterError, match=refusal):
        parse_filter(text)
    _refused(_policy_file(tmp_path, where=text), r"checks\.x\.y\.where: Value error, ")


def test_every_packaged_filter_parses_and_names_its_columns():
    checks = {**POLICY.checks, **POLICY.launch.checks}
    filters = {check_id: parse_filter(rule.where) for check_id, rule in checks.items() if rule.where}
    assert len(filters) == 20
    assert filters["bias.selection_rate_disparity"].columns == ("n", "z_vs_reference")
    assert filters["bias.adverse_rate_disparity"].columns == ("favourable", "n", "z_vs_reference")
    assert filters["metric_balance.contact_cap_breach"].columns == (
        "click_ratio", "share_over_cap_recent", "share_over_cap_prior", "contact_weeks_recent")


def test_an_unknown_column_is_refused_when_the_mart_is_judged():
    rule = CheckRule(**{**CHECK, "where": "chanel == 'email'"})
    mart = pd.DataFrame({"channel": ["email"], "n": [1.0]})
    with pytest.raises(ConfigError, match=r"checks\.x\.y\.where: in mart gov_x: unknown column 'chanel' "
                                          r"\(columns: channel, n\)"):
        judge("x.y", rule, mart, "r", POLICY)


def test_null_literals_and_bare_boolean_columns():
    mart = pd.DataFrame({"owner": ["a", None, "b"], "ok": [True, False, True], "n": [1.0, np.nan, 3.0]})
    assert list(parse_filter("owner == null").mask(mart)) == [False, True, False]
    assert list(parse_filter("owner != None and not ok").mask(mart)) == [False, False, False]
    assert list(parse_filter("ok and n in (1, 3)").mask(mart)) == [True, False, True]
    assert list(parse_filter("1 < n <= 3").mask(mart)) == [False, False, True]
    with pytest.raises(FilterError, match="column 'owner' is not true or false"):
        parse_filter("owner").mask(mart)
    with pytest.raises(FilterError, match="cannot evaluate"):
        parse_filter("owner > 1").mask(mart)


# Same results as DataFrame.query, the previous evaluator, on the filters it was given: the reference lives in the
# test only. Marts as DuckDB hands them over: float columns with NaN for NULL, text as object.
_NUMBERS = st.sampled_from([0, 1, 4, 20, 50, -2.58, 1.0, 0.5, 3])
_WORDS = st.sampled_from(["email", "ads", "send_volume", "it's", ""])
_NUMERIC_COLUMNS = ("n", "z", "ratio")


def _column_first(parts: tuple[str, str, str, bool]) -> str:
    """A column against a column or a number, either way round (two literals are not a per-row condition)."""
    column, op, other, swap = parts
    return f"{other} {op} {column}" if swap else f"{column} {op} {other}"


_COMPARISONS = st.one_of(
    st.tuples(st.sampled_from(_NUMERIC_COLUMNS), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
              st.one_of(st.sampled_from(_NUMERIC_COLUMNS), _NUMBERS.map(repr)), st.booleans()).map(_column_first),
    st.tuples(st.just("channel"), st.sampled_from(["==", "!="]), _WORDS.map(repr)).map(" ".join),
    st.tuples(st.sampled_from(["channel", "n"]), st.sampled_from(["in", "not in"]),
              st.lists(st.one_of(_WORDS, _NUMBERS), max_size=3).map(repr)).map(" ".join),
)
_FILTERS = st.recursive(_COMPARISONS, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    inner.map(lambda e: f"not ({e})")), max_leaves=6)
_MARTS = st.integers(0, 25).flatmap(lambda rows: st.fixed_dictionaries({
    **{c: st.lists(st.one_of(st.none(), _NUMBERS), min_size=rows, max_size=rows) for c in _NUMERIC_COLUMNS},
    "channel": st.lists(st.one_of(st.none(), _WORDS), min_size=rows, max_size=rows)}))


@settings(max_examples=300, deadline=None)
@given(_FILTERS, _MARTS)
def test_filters_keep_the_rows_dataframe_query_kept(text, columns):
    mart = pd.DataFrame({**{c: pd.Series(columns[c], dtype=float) for c in _NUMERIC_COLUMNS},
                         "channel": pd.Series(columns["channel"], dtype=object)})
    assert list(parse_filter(text).apply(mart).index) == list(mart.query(text).index)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_packaged_filters_keep_the_rows_dataframe_query_kept(data):
    checks = {**POLICY.checks, **POLICY.launch.checks}
    rule = checks[data.draw(st.sampled_from(sorted(c for c, r in checks.items() if r.where)))]
    parsed = parse_filter(rule.where)
    rows = data.draw(st.integers(0, 20))
    values = st.one_of(st.none(), st.sampled_from([-3.0, -2.58, 0.0, 0.99, 1.0, 1.01, 3.0, 4.0, 20.0, 50.0, 60.0]))
    texts = st.one_of(st.none(), st.sampled_from(["email", "ads", "send_volume", "ad_spend", "conversions",
                                                  "quarantine_rate", "sensitive_segment", "erasure_completed",
                                                  "erasure_pending"]))
    text_columns = {"channel", "metric", "review_rule", "list_name"}
    mart = pd.DataFrame({c: pd.Series(data.draw(st.lists(texts if c in text_columns else values, min_size=rows,
                                                         max_size=rows)), dtype=object if c in text_columns else float)
                         for c in parsed.columns})
    assert list(parsed.apply(mart).index) == list(mart.query(rule.where).index)


# -- case 3: scope values that reach SQL ------------------------------------------------------------------------------

HOSTILE = "priority') or (1=1) or decisions.decision in ('x"
# One hostile value per scope field that reaches SQL through a dbt var, and the field the refusal must name.
SCOPE_CASES = {
    "bias_dimensions": ({"bias_dimensions": ["age_band, 1 as x"]}, r"scope\.bias_dimensions: "),
    "bias_models": ({"bias_models": {"lead_scoring": [HOSTILE]}}, r"scope\.bias_models\.lead_scoring\.decisions\.0: "),
    "bias_models (adverse)": ({"bias_models": {"risk": {"decisions": [HOSTILE], "favourable": False}}},
                              r"scope\.bias_models\.risk\.decisions\.0: "),
    "bias_models (model)": ({"bias_models": {"x' or '1'='1": ["priority"]}}, r"scope\.bias_models\.x' or "),
    "oversight_min_confidence": ({"oversight_min_confidence": "0.6) or (true"}, r"scope\.oversight_min_confidence: "),
    "oversight_high_value_revenue": ({"oversight_high_value_revenue": math.inf},
                                     r"scope\.oversight_high_value_revenue: "),
    "metric_window_days": ({"metric_window_days": "28 days' --"}, r"scope\.metric_window_days: "),
    "freshness_sla_hours": ({"freshness_sla_hours": {"cdp' then 0 when 'x": 1}}, r"scope\.freshness_sla_hours\.cdp' "),
    "freshness_sla_hours (hours)": ({"freshness_sla_hours": {"default": math.nan}}, r"scope\.freshness_sla_hours\."
                                                                                    r"default: "),
    "consent_email_subscriptions": ({"consent_email_subscriptions": ["a') or ('1"]},
                                    r"scope\.consent_email_subscriptions\.0: "),
    "retention_days": ({"retention_days": {"hubspot.email_events where 1=1": 7}}, r"scope\.retention_days\."),
    "pii_scan_schemas": ({"pii_scan_schemas": ["raw; drop schema raw"]}, r"scope\.pii_scan_schemas\.0: "),
    "pii_sample_rows": ({"pii_sample_rows": "10; select 1"}, r"scope\.pii_sample_rows: "),
    "pii_min_match_share": ({"pii_min_match_share": math.nan}, r"scope\.pii_min_match_share: "),
    "pii_allowed_tables": ({"pii_allowed_tables": ["raw.x' or true or '"]}, r"scope\.pii_allowed_tables\.0: "),
    "contact_cap_per_week": ({"contact_cap_per_week": "5 or 1=1"}, r"scope\.contact_cap_per_week: "),
    "oversight_sensitive_segments": ({"oversight_sensitive_segments": {"audience": ["x%' or '1'='1"]}},
                                     r"scope\.oversight_sensitive_segments\.audience\.0: "),
    "oversight_sensitive_segments (attribute)": ({"oversight_sensitive_segments": {"1=1 or region": ["x"]}},
                                                 r"scope\.oversight_sensitive_segments: "),
    "model_registry": ({"model_registry": {"lead_scoring": ["3.2.0') or ('1"]}}, r"scope\.model_registry\."),
    "anomaly_baseline_weeks": ({"anomaly_baseline_weeks": "6) union (select 1"}, r"scope\.anomaly_baseline_weeks: "),
    "anomaly_detection_days": ({"anomaly_detection_days": 1.5}, r"scope\.anomaly_detection_days: "),
    "anomaly_min_scale": ({"anomaly_min_scale": {"send_volume": math.inf}}, r"scope\.anomaly_min_scale\."),
    "anomaly_min_relative_scale": ({"anomaly_min_relative_scale": math.inf}, r"scope\.anomaly_min_relative_scale: "),
    "lifecycle_stage_requires": ({"lifecycle_stage_requires": {"customer', 'x') --": ["customer"]}},
                                 r"scope\.lifecycle_stage_requires\."),
    "lifecycle_stage_requires (state)": ({"lifecycle_stage_requires": {"customer": ["customer') --"]}},
                                         r"scope\.lifecycle_stage_requires\.customer\.0: "),
    "propagation_lag_hours": ({"propagation_lag_hours": {"esp' then 0 when true then '": 1}},
                              r"scope\.propagation_lag_hours\."),
    "spend_flight_grace_days": ({"spend_flight_grace_days": "1 or true"}, r"scope\.spend_flight_grace_days: "),
    "volume_baseline_batches": ({"volume_baseline_batches": "5) --"}, r"scope\.volume_baseline_batches: "),
    "volume_baseline_batches (count)": ({"volume_baseline_batches": 0}, r"scope\.volume_baseline_batches: "),
}


def test_every_scope_field_has_a_hostile_value_case():
    """A new scope field reaches SQL as a dbt var: it needs its own case here before it ships."""
    assert {case.split(" ")[0] for case in SCOPE_CASES} == set(Scope.model_fields)


@pytest.mark.parametrize("case", sorted(SCOPE_CASES))
def test_a_hostile_scope_value_is_refused_at_load_naming_its_field(tmp_path, case):
    scope, field = SCOPE_CASES[case]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"checks": {}, "scope": scope}), encoding="utf-8")
    _refused(str(path), field)


def test_the_reported_bias_models_value_is_refused():
    """The issue's example: it made every lead_scoring decision favourable and removed the bias finding."""
    with pytest.raises(ValueError, match="String should match pattern"):
        Scope(bias_models={"lead_scoring": ["priority') or (decisions.decision is not null) or "
                                            "decisions.decision in ('x"]})
    assert Scope(bias_models={"lead_scoring": ["priority", "sales-ready:1"]}).bias_models["lead_scoring"].decisions[1] \
        == "sales-ready:1"


# -- case 11: thresholds that make sense, and float noise -------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"warn": -0.05, "critical": None}, r"checks\.x\.y: Value error, warn -0\.05 is below 0, but n cannot be "
                                        r"negative"),
    ({"critical": -1}, r"critical -1\.0 is below 0"),
    ({"warn": 0.5, "critical": 0.2}, r"warn 0\.5 is above critical 0\.2: with direction max"),
    ({"direction": "min", "warn": 0.5, "critical": 0.8}, r"warn 0\.5 is below critical 0\.8: with direction min"),
    ({"warn": math.nan}, r"checks\.x\.y\.warn: "),
    ({"critical": math.inf}, r"checks\.x\.y\.critical: "),
])
def test_thresholds_out_of_range_for_their_metric_are_refused(tmp_path, changes, message):
    _refused(_policy_file(tmp_path, **changes), message)


def test_a_signed_metric_may_have_negative_thresholds_and_equal_levels_are_allowed(tmp_path):
    policy = load_policy(_policy_file(tmp_path, metric_can_be_negative=True, direction="min", warn=-2, critical=-3))
    assert policy.checks["x.y"].warn == -2
    assert load_policy(_policy_file(tmp_path, warn=0, critical=0)).checks["x.y"].critical == 0


def test_float_noise_is_judged_as_zero():
    """1.85e-16 was observed on an exact spend match: not a finding against a threshold of 0, and reported as 0."""
    rule = CheckRule(**{**CHECK, "metric": "gap", "critical": None, "warn": 0, "key": ["channel"],
                        "where": "gap >= 0"})
    mart = pd.DataFrame({"channel": ["a", "b", "c", "d", "e"], "gap": [1.85e-16, -3e-12, 0.0, 2e-6, np.nan]})
    found = judge("x.y", rule, mart, "r", POLICY)
    assert [(f.subject, f.observed) for f in found] == [("d", 2e-6)]
    signed = rule.model_copy(update={"direction": "min", "where": None})
    assert [f.subject for f in judge("x.y", signed, mart, "r", POLICY)] == []  # -3e-12 is 0, not below 0
