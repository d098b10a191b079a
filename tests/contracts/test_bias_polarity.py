"""Decision polarity in the governance bias mart, the launch bias mart, their policy checks and the report's chart.

A favourable decision (priority) harms a group that gets it LESS often; an adverse one (flagged high_risk, a
suppression list) harms a group that gets it MORE often. The same 320 people and the same flags are audited twice:
as lead_scoring (favourable: [priority]) and as risk_flag ({decisions: [high_risk], favourable: false}), grouped by
gender. Worked by hand:

    group      n    flagged  rate   favourable rate
    male      120   12       0.10   0.90             the reference (largest group)
    female    100   30       0.30   0.70
    nonbinary 100    0       0.00   1.00

lead_scoring (favourable, unchanged rule): ratio of favourable rates = rate / 0.10.
    female 3.0 (z > 0, not judged); nonbinary 0.0, pooled 12/220 = 0.054545,
    se = sqrt(0.054545 * 0.945455 * (1/100 + 1/120)) = 0.030748, z = (0 - 0.10) / 0.030748 = -3.2522
    -> bias.selection_rate_disparity critical (0.0 < 0.5).
risk_flag (adverse): the old rule read high_risk as a benefit and gave exactly lead_scoring's answer (nonbinary,
    who are never flagged, "fails four-fifths"; female, flagged three times as often, passes). The new rule:
    female: favourable ratio 0.70 / 0.90 = 0.7778 (< 0.8 warn, >= 0.5), adverse ratio 0.30 / 0.10 = 3.0 (> 2.0
    critical); pooled favourable (70 + 108) / 220 = 0.809091, se = sqrt(0.809091 * 0.190909 * 0.0183333) = 0.053215,
    z = (0.70 - 0.90) / 0.053215 = -3.7584 -> selection_rate_disparity warn AND adverse_rate_disparity critical.
    nonbinary: favourable ratio 1.00 / 0.90 = 1.1111, adverse ratio 0.0, z = +3.2522 -> no finding.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.contracts.errors import ConfigError
from steward.contracts.governance import judge
from steward.contracts.launch import launch_policy
from steward.contracts.policy import BiasModel, Scope, load_policy
from steward.flows.launch_checks import launch_vars
from steward.flows.launch_spec import LaunchSpec
from steward.flows.report_charts import bias_charts
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import Warehouse
from tiny import AS_OF, Compiled, build, mart, tiny_policy, tiny_warehouse

pytestmark = pytest.mark.slow
MODELS = {"lead_scoring": ["priority"], "risk_flag": {"decisions": ["high_risk"], "favourable": False}}
POLICY = tiny_policy(bias_dimensions=["gender"], bias_models=Scope(bias_models=MODELS).bias_models)
GROUPS = {"male": (120, 12), "female": (100, 30), "nonbinary": (100, 0)}  # gender -> (people, flagged)
BIAS_CHECKS = ("bias.selection_rate_disparity", "bias.adverse_rate_disparity")


# ------------------------------------------------------------------------------------------------ policy shape

def test_a_decision_list_means_favourable_and_dbt_gets_one_shape():
    scope = Scope(bias_models=MODELS)
    assert scope.bias_models == {"lead_scoring": BiasModel(decisions=["priority"], favourable=True),
                                 "risk_flag": BiasModel(decisions=["high_risk"], favourable=False)}
    assert POLICY.dbt_vars()["bias_models"] == {"lead_scoring": {"decisions": ["priority"], "favourable": True},
                                                "risk_flag": {"decisions": ["high_risk"], "favourable": False}}
    assert load_policy().dbt_vars()["bias_models"] == {"lead_scoring": {"decisions": ["priority"],
                                                                        "favourable": True}}


@pytest.mark.parametrize("models, message", [
    ({"risk": {"decisions": ["high') or ('1'='1"], "favourable": False}},
     r"scope\.bias_models\.risk\.decisions\.0: String should match pattern"),
    ({"risk": {"decisions": ["high_risk"], "favorable": False}}, r"scope\.bias_models\.risk\.favorable: Extra inputs"),
    ({"risk": {"decisions": [], "favourable": False}}, r"scope\.bias_models\.risk\.decisions: List should have at least"),
    ({"risk": {"favourable": "maybe", "decisions": ["x"]}}, r"scope\.bias_models\.risk\.favourable: Input should be"),
])
def test_a_bad_polarity_entry_is_refused_naming_the_field(tmp_path, models, message):
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"checks": {}, "scope": {"bias_models": models}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_policy(path)


def test_the_adverse_check_is_in_the_default_policy_in_the_closed_grammar():
    rule = load_policy().checks["bias.adverse_rate_disparity"]
    assert (rule.metric, rule.direction, rule.warn, rule.critical) == ("adverse_ratio", "max", 1.25, 2.0)
    assert rule.where == "favourable == False and n >= 50 and z_vs_reference <= -2.58"


# ------------------------------------------------------------------------------------------------ the mart

def _people() -> pd.DataFrame:
    genders = [g for g, (n, _) in GROUPS.items() for _ in range(n)]
    ids = [f"003{i:015d}" for i in range(len(genders))]
    return pd.DataFrame({"Id": ids, "LastName": "x", "Email": [f"p{i}@example.com" for i in range(len(ids))],
                         "Gender__c": genders, "HasOptedOutOfEmail": False, "CreatedDate": AS_OF,
                         "SystemModstamp": AS_OF})


def _flagged(people: pd.DataFrame) -> pd.Series:
    """The first `flagged` people of each group."""
    rank = people.groupby("Gender__c").cumcount()
    return rank < people["Gender__c"].map({g: f for g, (_, f) in GROUPS.items()})


def _decisions(people: pd.DataFrame) -> pd.DataFrame:
    flagged = _flagged(people)
    frames = [pd.DataFrame({"decision_id": [f"{model}-{i}" for i in range(len(people))], "decided_at": AS_OF,
                            "model_name": model, "model_version": "1.0.0", "decision_type": "lead_score",
                            "subject_id": people["Id"], "decision": np.where(flagged, hit, miss),
                            "human_reviewed": False, "executed": True})
              for model, hit, miss in (("lead_scoring", "priority", "nurture"),
                                       ("risk_flag", "high_risk", "standard"))]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("polarity")
    people = _people()
    wh = tiny_warehouse(root, {"salesforce.contacts": people, "decisions.ai_decisions": _decisions(people)})
    build(wh, root / "dbt", POLICY, ["+gov_bias__selection_rates"])
    return wh, Compiled(root / "dbt")


def _rows(frame: pd.DataFrame) -> dict:
    return {(r.model_name, r.group_value): r for r in frame.itertuples(index=False)}


def test_the_mart_reports_both_polarities_as_worked_by_hand(built):
    rows = _rows(mart(built[0], "gov_bias__selection_rates"))
    assert {g for _, g in rows} == set(GROUPS) and len(rows) == 6
    for model in ("lead_scoring", "risk_flag"):  # the same flags: the same counts and selection rates
        for g, (n, flagged) in GROUPS.items():
            r = rows[(model, g)]
            assert (r.n, r.positives, r.reference_group) == (n, flagged, "male")
            assert r.selection_rate == pytest.approx(flagged / n)
    lead, risk = {g: rows[("lead_scoring", g)] for g in GROUPS}, {g: rows[("risk_flag", g)] for g in GROUPS}
    # favourable: unchanged numbers, no adverse ratio
    assert all(r.favourable and r.polarity == "favourable" and r.decision == "priority" for r in lead.values())
    assert lead["female"].disparity_ratio == pytest.approx(3.0)
    assert lead["nonbinary"].disparity_ratio == 0.0 and lead["nonbinary"].z_vs_reference == pytest.approx(-3.2522, abs=1e-4)
    assert all(pd.isna(r.adverse_ratio) for r in lead.values())
    assert all(r.favourable_rate == r.selection_rate for r in lead.values())
    # adverse: ratios of favourable rates, adverse ratios, z on the favourable rate
    assert all(not r.favourable and r.polarity == "adverse" and r.decision == "high_risk" for r in risk.values())
    assert risk["female"].favourable_rate == pytest.approx(0.7)
    assert risk["female"].reference_favourable_rate == pytest.approx(0.9)
    assert risk["female"].disparity_ratio == pytest.approx(0.7 / 0.9)
    assert risk["female"].adverse_ratio == pytest.approx(3.0)
    assert risk["female"].z_vs_reference == pytest.approx(-3.7584, abs=1e-4)
    assert risk["female"].compared_with_reference == "more often"
    assert risk["nonbinary"].disparity_ratio == pytest.approx(1 / 0.9)
    assert risk["nonbinary"].adverse_ratio == 0.0
    assert risk["nonbinary"].z_vs_reference == pytest.approx(3.2522, abs=1e-4)
    assert risk["male"].z_vs_reference == 0.0 and risk["male"].adverse_ratio == pytest.approx(1.0)


def _found(frame: pd.DataFrame, policy=POLICY) -> dict:
    out = {}
    for check in BIAS_CHECKS:
        for f in judge(check, policy.checks[check], frame, "t", policy):
            out[(check, f.subject)] = (f.severity.value, round(f.observed, 4))
    return out


def test_findings_point_the_right_way_for_an_adverse_model(built):
    frame = mart(built[0], "gov_bias__selection_rates")
    assert _found(frame) == {
        # favourable model: exactly as before polarity existed
        ("bias.selection_rate_disparity", "lead_scoring: gender=nonbinary"): ("critical", 0.0),
        # adverse model: the group flagged more often is the one found, on both ratios
        ("bias.selection_rate_disparity", "risk_flag: gender=female"): ("warn", 0.7778),
        ("bias.adverse_rate_disparity", "risk_flag: gender=female"): ("critical", 3.0)}
    (adverse,) = judge("bias.adverse_rate_disparity", POLICY.checks["bias.adverse_rate_disparity"], frame, "t", POLICY)
    assert adverse.evidence["favourable"] is False
    assert adverse.evidence["favourable_rate"] == pytest.approx(0.7)
    assert adverse.evidence["reference_favourable_rate"] == pytest.approx(0.9)
    assert adverse.evidence["disparity_ratio"] == pytest.approx(0.7 / 0.9)
    assert ("gender female receives the adverse decision high_risk from risk_flag 30.0% of the time against 10.0% "
            "for the reference group male: 3.00 times as often, above the 2.00 the policy allows") in adverse.explanation
    four_fifths = [f for f in judge("bias.selection_rate_disparity", POLICY.checks["bias.selection_rate_disparity"],
                                    frame, "t", POLICY) if f.subject.startswith("risk_flag")]
    assert "gender female receives high_risk (adverse) from risk_flag more often than the reference group male: " \
           "30.0% of the time against 10.0%. Their favourable outcome rate is 70.0% against 90.0%: a ratio of 0.78" \
           in four_fifths[0].explanation
    assert four_fifths[0].evidence["adverse_ratio"] == pytest.approx(3.0)


def test_a_list_written_model_is_judged_as_before(built):
    """The old reading, for the record: risk_flag written as a list (favourable) finds the wrong group."""
    frame = mart(built[0], "gov_bias__selection_rates")
    as_favourable = frame.assign(favourable=True, adverse_ratio=np.nan)
    lead = frame[frame["model_name"] == "lead_scoring"].set_index("group_value")
    mirrored = as_favourable[as_favourable["model_name"] == "risk_flag"].set_index("group_value")
    for column in ("selection_rate", "disparity_ratio", "z_vs_reference"):
        mirrored[column] = lead[column]  # what the mart computed before polarity: the favourable formulas
    found = _found(mirrored.reset_index())
    assert found == {("bias.selection_rate_disparity", "risk_flag: gender=nonbinary"): ("critical", 0.0)}


# --------------------------------------------------------------------------------------- the mart's definition

def _definition(decisions: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """The mart as the docs define it, in pandas: per model and gender, reference = largest group (ties by name)."""
    joined = decisions.merge(people, on="crm_person_id")
    spec = POLICY.scope.bias_models
    joined["hit"] = [d in spec[m].decisions for m, d in zip(joined["model_name"], joined["decision"])]
    joined["group_value"] = joined["gender"].fillna("(missing)")  # a missing gender is not the code "unknown"
    out = []
    for model, rows in joined.groupby("model_name"):
        fav = spec[model].favourable
        g = rows.groupby("group_value")["hit"].agg(n="size", positives="sum").reset_index()
        ref = g.sort_values(["n", "group_value"], ascending=[False, True]).iloc[0]
        for r in g.itertuples(index=False):
            a, a_ref = r.positives / r.n, ref.positives / ref.n
            f, f_ref = (a, a_ref) if fav else (1 - a, 1 - a_ref)
            pooled = (r.positives + ref.positives) / (r.n + ref.n)
            pooled = pooled if fav else 1 - pooled
            z = 0.0 if r.group_value == ref.group_value or pooled in (0, 1) else \
                (f - f_ref) / math.sqrt(pooled * (1 - pooled) * (1 / r.n + 1 / ref.n))
            out.append({"model_name": model, "group_value": r.group_value, "n": r.n, "positives": r.positives,
                        "favourable_rate": f, "disparity_ratio": f / f_ref if f_ref else None,
                        "adverse_ratio": None if fav or not a_ref else a / a_ref, "z_vs_reference": z})
    return pd.DataFrame(out)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 80))
def test_the_compiled_mart_matches_its_definition_for_both_polarities(built, seed, n):
    rng = np.random.default_rng(seed)
    people = pd.DataFrame({"crm_person_id": [f"p{i}" for i in range(12)],
                           "gender": rng.choice(["female", "male", "nonbinary", None], 12)})
    model = rng.choice(["lead_scoring", "risk_flag"], n)
    decisions = pd.DataFrame({"crm_person_id": rng.choice(people["crm_person_id"], n), "model_name": model,
                              "decision": np.where(rng.random(n) < 0.4, np.where(model == "risk_flag", "high_risk",
                                                                                 "priority"), "other")})
    got = built[1].run("gov_bias__selection_rates", {"staging.int_decisions__all": decisions,
                                                     "staging.int_customers__unified": people})
    want = _definition(decisions, people)
    key = ["model_name", "group_value"]
    got, want = got.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True)
    assert got[key].values.tolist() == want[key].values.tolist()
    assert got["n"].tolist() == want["n"].tolist() and got["positives"].tolist() == want["positives"].tolist()
    for column in ("favourable_rate", "disparity_ratio", "adverse_ratio", "z_vs_reference"):
        g, w = got[column].astype(float).to_numpy(), want[column].astype(float).to_numpy()
        assert np.allclose(g, w, atol=1e-9, equal_nan=True), column


# ------------------------------------------------------------------------------------------------ the launch

SPEC = {"id": "winback", "name": "Win-back", "starts_on": "2026-12-01", "ends_on": "2026-12-14",
        "platforms": ["hubspot"], "channels": ["email"], "planned": {"emails_per_week": 1},
        "audience": {"segment": "high_intent"}}


def _launch_bias(root, favourable: bool) -> pd.DataFrame:
    """launch__bias built by dbt over a hand-made launch__audience: everyone eligible, the flagged people selected."""
    wh = Warehouse(root / "tiny.duckdb")
    people = _people()
    audience = pd.DataFrame({"gender": people["Gender__c"], "age_band": None, "region": None,
                             "is_eligible": True, "is_selected": _flagged(people)})
    with wh.connect() as con:
        con.execute("create schema if not exists launch")
        con.register("audience", audience)
        con.execute("create or replace table launch.launch__audience as select * from audience")
    spec = LaunchSpec.model_validate({**SPEC, "audience": {**SPEC["audience"], "favourable": favourable}})
    dbt_vars = launch_vars(spec, POLICY, AS_OF, "launch-winback-1")
    assert dbt_vars["launch"]["selection_favourable"] is favourable
    outcome = dbt_build.build(wh.path, root / "dbt", dbt_vars, select=["launch__bias"])
    assert not outcome.test_failures
    return wh.query_df("select * from launch.launch__bias")


def _launch_found(frame: pd.DataFrame) -> dict:
    rule = launch_policy(POLICY).checks["launch.audience_bias"]
    return {f.subject: (f.severity.value, round(f.observed, 4), f.explanation)
            for f in judge("launch.audience_bias", rule, frame, "t", POLICY)}


def test_an_adverse_launch_is_judged_on_who_it_harms(tmp_path_factory):
    """A suppression list that takes female customers three times as often as male ones: female's favourable rate
    is 0.7 against 0.9 (0.78, a condition); nonbinary, never suppressed, is fine. Read as favourable (the default),
    the same selection blocks the launch over nonbinary (0 against 0.10) and lets the suppression of women pass."""
    adverse = _launch_bias(tmp_path_factory.mktemp("launch-adverse"), favourable=False)
    found = _launch_found(adverse)
    assert {k: v[:2] for k, v in found.items()} == {"gender=female": ("warn", 0.7778)}
    row = adverse.set_index("group_value").loc["female"]
    assert not row["favourable"] and row["adverse_ratio"] == pytest.approx(3.0)
    assert row["z_vs_reference"] == pytest.approx(-3.7584, abs=1e-4)
    assert "Being selected is adverse, so their favourable rate is 0.78 times the reference group's" in \
        found["gender=female"][2]

    favourable = _launch_bias(tmp_path_factory.mktemp("launch-favourable"), favourable=True)
    assert {k: v[:2] for k, v in _launch_found(favourable).items()} == {"gender=nonbinary": ("critical", 0.0)}
    assert favourable["adverse_ratio"].isna().all() and favourable["favourable"].all()


def test_a_launch_spec_refuses_a_polarity_that_is_not_a_boolean():
    with pytest.raises(ValueError, match="audience.favourable"):
        LaunchSpec.model_validate({**SPEC, "audience": {**SPEC["audience"], "favourable": "sometimes"}})


# ------------------------------------------------------------------------------------------------ the chart

def test_the_report_chart_plots_the_favourable_rate_of_an_adverse_model(built):
    charts = {re.search(r'id="chart-([^"]+)"', str(c)).group(1): str(c)
              for c in bias_charts(mart(built[0], "gov_bias__selection_rates"), POLICY)}
    assert set(charts) == {"bias-lead_scoring-gender", "bias-risk_flag-gender"}
    risk, lead = charts["bias-risk_flag-gender"], charts["bias-lead_scoring-gender"]
    assert "risk_flag: favourable rate (not high_risk) by gender" in risk
    assert "lead_scoring: selection rate by gender" in lead

    def group(svg: str, name: str) -> str:
        return re.search(rf'<g class="group" data-group="{name}" data-level="(\w+)">(.*?)</g>', svg).group(0)

    assert 'data-level="critical"' in group(risk, "female") and "70.0% (n 100)" in group(risk, "female")
    assert "adverse decision 30.0%, 3.00 × the reference group&#x27;s" in group(risk, "female") or \
        "adverse decision 30.0%, 3.00 × the reference group's" in group(risk, "female")
    assert 'data-level="ok"' in group(risk, "nonbinary") and "100.0% (n 100)" in group(risk, "nonbinary")
    assert 'data-level="critical"' in group(lead, "nonbinary") and 'data-level="ok"' in group(lead, "female")
    # the four-fifths line sits at 0.8 x the reference's favourable rate: 0.72 for risk_flag, 0.08 for lead_scoring
    assert _line_x(risk, "0.8 × reference") == pytest.approx(_x(risk, 0.72), abs=0.2)
    assert _line_x(lead, "0.8 × reference") == pytest.approx(_x(lead, 0.08), abs=0.2)


def _line_x(svg: str, label: str) -> float:
    return float(re.search(rf'<line x1="([\d.]+)"[^>]*>(?:(?!<line).)*?{re.escape(label)}', svg).group(1))


def _x(svg: str, rate: float) -> float:
    """Where ``rate`` falls on the chart's axis, from the 0 and the top tick the axis draws."""
    ticks = [(float(x), float(v)) for x, v in re.findall(r'<text x="([\d.]+)"[^>]*class="tick"[^>]*>([\d.]+)%', svg)]
    (x0, v0), (x1, v1) = ticks[0], ticks[-1]
    return x0 + (x1 - x0) * (rate * 100 - v0) / (v1 - v0)
