"""Human oversight (review rules, coverage, latency) and transparency (reproducible records, model registry).

Nine decisions written by hand; sensitive segments are ``age_band: ["65+"]`` and ``audience: [vulnerable_customer]``,
the registry holds lead_scoring 3.2.0 and next_best_offer 1.4.1. Account A earns 5,000,000 (high value), B 100,000.

    id  model     version  person          account conf  review   executed  snapshot   rule
    d1  offer     1.4.1    P3              A       0.50  2 h      yes       yes        low confidence, high value
    d2  offer     1.4.1    P3              A       0.55  -        yes       yes        low confidence, high value
    d3  offer     1.4.1    P2 vulnerable   B       0.90  -        yes       yes        sensitive segment
    d4  offer     1.4.1    P2 vulnerable   B       0.90  40 h     yes       yes        sensitive segment
    d5  offer     1.4.1    P1 65+          B       0.90  4 h      no        yes        sensitive segment
    d6  offer     1.4.1    P3              B       0.90  10 h     yes       no         -
    d7  lead      3.2.0    P1 65+          -       0.95  -        yes       yes        sensitive segment
    d8  offer     9.9.9    P3              B       0.90  -        yes       yes        -
    d9  lead      (none)   P3              -       0.95  -        yes       no         -

Offer 1.4.1 latency over d1, d5, d6, d4 = 2, 4, 10, 40 h: median 7, p90 = 10 + 0.7 x (40 - 10) = 31 h.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.contracts.governance import judge
from tiny import AS_OF, Compiled, build, mart, tiny_policy, tiny_warehouse, ts

pytestmark = pytest.mark.slow
POLICY = tiny_policy(oversight_sensitive_segments={"age_band": ["65+"], "audience": ["vulnerable_customer"]})
SELECT = ["+gov_oversight__review_coverage", "+gov_oversight__review_latency", "+gov_transparency__records",
          "+gov_oversight__unreviewed"]
OVERSIGHT = ("oversight.unreviewed_high_risk_decisions", "oversight.sensitive_segment_unreviewed",
             "oversight.review_coverage", "oversight.review_latency")
TRANSPARENCY = ("transparency.decisions_not_reproducible", "transparency.unregistered_model_version")
ACCOUNT = {"A": "001000000000000001", "B": "001000000000000002"}
PERSON = {p: f"003{i:015d}" for i, p in enumerate(["P1", "P2", "P3"], start=1)}
DECIDED = ts("2026-11-18 08:00")
#        id    model  version  person acct conf  hours  executed snapshot
CASES = [("d1", "nbo", "1.4.1", "P3", "A", 0.50, 2, True, True),
         ("d2", "nbo", "1.4.1", "P3", "A", 0.55, None, True, True),
         ("d3", "nbo", "1.4.1", "P2", "B", 0.90, None, True, True),
         ("d4", "nbo", "1.4.1", "P2", "B", 0.90, 40, True, True),
         ("d5", "nbo", "1.4.1", "P1", "B", 0.90, 4, False, True),
         ("d6", "nbo", "1.4.1", "P3", "B", 0.90, 10, True, False),
         ("d7", "lead", "3.2.0", "P1", None, 0.95, None, True, True),
         ("d8", "nbo", "9.9.9", "P3", "B", 0.90, None, True, True),
         ("d9", "lead", None, "P3", None, 0.95, None, True, False)]
MODEL = {"nbo": "next_best_offer", "lead": "lead_scoring"}


def _decisions() -> pd.DataFrame:
    rows = [{"decision_id": d, "decided_at": DECIDED, "model_name": MODEL[m], "model_version": v,
             "decision_type": "next_best_offer" if m == "nbo" else "lead_score", "subject_id": PERSON[p],
             "account_id": ACCOUNT.get(a), "score": 50.0, "decision": "x", "confidence": conf,
             "reason_codes": None if d == "d9" else "FIT", "human_reviewed": hours is not None,
             "reviewed_at": None if hours is None else DECIDED + pd.Timedelta(hours=hours), "executed": executed,
             "input_snapshot_id": f"fs_{d}" if snap else None}
            for d, m, v, p, a, conf, hours, executed, snap in CASES]
    return pd.DataFrame(rows)


def _people() -> dict[str, pd.DataFrame]:
    accounts = pd.DataFrame({"Id": list(ACCOUNT.values()), "Name": ["A", "B"], "AnnualRevenue": [5e6, 1e5],
                             "CreatedDate": AS_OF, "SystemModstamp": AS_OF})
    contacts = pd.DataFrame({"Id": list(PERSON.values()), "LastName": "x", "AccountId": ACCOUNT["B"],
                             "Email": [f"{p.lower()}@example.com" for p in PERSON],
                             "Age_Band__c": ["65+", "35-44", "25-34"], "HasOptedOutOfEmail": False,
                             "CreatedDate": AS_OF, "SystemModstamp": AS_OF})
    profiles = pd.DataFrame({"profile_id": ["prof2", "prof3"], "user_id": [PERSON["P2"], PERSON["P3"]],
                             "email": ["p2@example.com", "p3@example.com"],
                             "audiences": ["newsletter,vulnerable_customer", "high_intent"], "updated_at": AS_OF})
    return {"salesforce.accounts": accounts, "salesforce.contacts": contacts, "cdp.profiles": profiles}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("oversight")
    wh = tiny_warehouse(root, {"decisions.ai_decisions": _decisions(), **_people()})
    build(wh, root / "dbt", POLICY, SELECT)
    return wh, Compiled(root / "dbt")


def test_review_coverage_per_rule_matches_the_hand_count(built):
    got = mart(built[0], "gov_oversight__review_coverage").set_index(["model_name", "model_version", "review_rule"])
    rows = {k: tuple(v) for k, v in got[["requiring_review", "reviewed", "unreviewed_executed"]].iterrows()}
    assert rows == {("next_best_offer", "1.4.1", "low_confidence_high_value"): (2, 1, 1),
                    ("next_best_offer", "1.4.1", "sensitive_segment"): (3, 2, 1),
                    ("lead_scoring", "3.2.0", "sensitive_segment"): (1, 0, 1)}
    sensitive = got.loc[("next_best_offer", "1.4.1", "sensitive_segment")]
    assert sensitive["coverage"] == pytest.approx(2 / 3) and sensitive["segments_matched"] == 2
    assert list(sensitive["example_decisions"]) == ["d3"]
    assert list(got.loc[("next_best_offer", "1.4.1", "low_confidence_high_value"), "example_decisions"]) == ["d2"]


def test_review_latency_matches_the_hand_count(built):
    got = mart(built[0], "gov_oversight__review_latency").set_index(["model_name", "model_version"])
    assert list(got.index) == [("next_best_offer", "1.4.1")]
    offer = got.loc[("next_best_offer", "1.4.1")]
    assert (offer["reviewed"], offer["reviewed_requiring_review"]) == (4, 3)
    assert offer["latency_median_hours"] == pytest.approx(7.0)
    assert offer["latency_p90_hours"] == pytest.approx(31.0)
    assert offer["latency_max_hours"] == pytest.approx(40.0)


def test_records_and_registry_match_the_hand_count(built):
    got = mart(built[0], "gov_transparency__records").set_index(["model_name", "model_version"])
    assert got.loc[("next_best_offer", "1.4.1"), "share_reproducible"] == pytest.approx(5 / 6)
    assert got.loc[("lead_scoring", "unversioned"), ["with_version", "share_fully_recorded"]].tolist() == [0, 0.0]
    registered = got["is_registered"].to_dict()
    assert registered == {("next_best_offer", "1.4.1"): True, ("next_best_offer", "9.9.9"): False,
                          ("lead_scoring", "3.2.0"): True, ("lead_scoring", "unversioned"): False}
    assert got.loc[("next_best_offer", "9.9.9"), "registered_versions"] == "1.4.1"


def _relaxed(check_id: str):
    """The policy's rule with its minimum-evidence counts at 1: the tiny log has a handful of decisions."""
    rule = POLICY.checks[check_id]
    where = rule.where and rule.where.replace(">= 20", ">= 1")
    return rule.model_copy(update={"where": where})


def _found(frames: dict[str, pd.DataFrame], checks: tuple[str, ...], relaxed: bool) -> dict:
    out = {}
    for check in checks:
        rule = _relaxed(check) if relaxed else POLICY.checks[check]
        for f in judge(check, rule, frames[rule.mart], "t", POLICY):
            out[(check, f.subject)] = (f.severity.value, round(f.observed, 4))
    return out


def test_findings_name_each_gap_in_plain_words(built):
    names = ["gov_oversight__unreviewed", "gov_oversight__review_coverage", "gov_oversight__review_latency",
             "gov_transparency__records"]
    frames = {n: mart(built[0], n) for n in names}
    assert _found(frames, OVERSIGHT + TRANSPARENCY, relaxed=True) == {
        ("oversight.unreviewed_high_risk_decisions", "next_best_offer 1.4.1"): ("critical", 1.0),
        ("oversight.sensitive_segment_unreviewed", "next_best_offer 1.4.1"): ("critical", 1.0),
        ("oversight.sensitive_segment_unreviewed", "lead_scoring 3.2.0"): ("critical", 1.0),
        ("oversight.review_coverage", "next_best_offer 1.4.1: low_confidence_high_value"): ("critical", 0.5),
        ("oversight.review_coverage", "next_best_offer 1.4.1: sensitive_segment"): ("critical", 0.6667),
        ("oversight.review_coverage", "lead_scoring 3.2.0: sensitive_segment"): ("critical", 0.0),
        ("oversight.review_latency", "next_best_offer 1.4.1"): ("warn", 31.0),
        ("transparency.decisions_not_reproducible", "next_best_offer 1.4.1"): ("critical", 0.8333),
        ("transparency.decisions_not_reproducible", "lead_scoring unversioned"): ("critical", 0.0),
        ("transparency.unregistered_model_version", "next_best_offer 9.9.9"): ("critical", 1.0),
        ("transparency.unregistered_model_version", "lead_scoring unversioned"): ("critical", 1.0)}
    latency = judge("oversight.review_latency", _relaxed("oversight.review_latency"),
                    frames["gov_oversight__review_latency"], "t", POLICY)[0]
    assert "One in ten human reviews of next_best_offer 1.4.1 decisions took longer than 31 hours" in \
        latency.explanation and "median 7.0 h" in latency.explanation


# ------------------------------------------------------------------------------------------- properties

def _log(draw_seed: int, n: int, review_everything: bool) -> dict[str, pd.DataFrame]:
    """A random decision log with its accounts and people, as the staging models present them."""
    rng = np.random.default_rng(draw_seed)
    people = [f"p{i}" for i in range(8)]
    decided = AS_OF - pd.to_timedelta(rng.integers(30, 600, n), "h")
    reviewed = np.ones(n, bool) if review_everything else rng.random(n) < 0.5
    model = rng.choice(["lead_scoring", "next_best_offer"], n)
    decisions = pd.DataFrame({
        "decision_id": [f"d{i:03d}" for i in range(n)], "crm_person_id": rng.choice(people, n),
        "account_id": rng.choice(["a1", "a2", None], n), "model_name": model,
        "model_version": np.where(model == "lead_scoring", "3.2.0", "1.4.1"), "decided_at": decided,
        "confidence": rng.random(n).round(3), "is_human_reviewed": reviewed,
        "reviewed_at": pd.Series(decided + pd.to_timedelta(rng.uniform(0, 20, n), "h")).where(reviewed),
        "is_executed": rng.random(n) < 0.8, "reason_codes": "FIT", "input_snapshot_id": "fs"})
    return {"staging.int_decisions__all": decisions,
            "staging.stg_salesforce__accounts": pd.DataFrame({"account_id": ["a1", "a2"],
                                                              "annual_revenue": [5e6, 1e4]}),
            "staging.int_customers__unified": pd.DataFrame({
                "crm_person_id": people, "age_band": rng.choice(["25-34", "65+"], len(people)),
                "gender": "female", "region": "NA", "country": "US"}),
            "staging.stg_cdp__profiles": pd.DataFrame({
                "crm_person_id": people,
                "audiences": rng.choice(["", "newsletter", "vulnerable_customer"], len(people))})}


def _marts(compiled: Compiled, inputs: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = compiled.run_many(["int_decisions__review_rules", "gov_oversight__review_coverage",
                             "gov_oversight__review_latency", "gov_oversight__unreviewed", "gov_transparency__records"],
                            inputs)
    del out["int_decisions__review_rules"]  # an input of the marts, read by them as the build's table
    out = {m: f.map(lambda v: tuple(v) if isinstance(v, (list, np.ndarray)) else v) for m, f in out.items()}
    return {m: f.sort_values(list(f.columns[:3])).reset_index(drop=True) for m, f in out.items()}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 60))
def test_a_fully_reviewed_and_recorded_log_gives_no_finding(built, seed, n):
    """Every decision reviewed within 20 hours, versioned, registered and with its snapshot: nothing to report."""
    frames = _marts(built[1], _log(seed, n, review_everything=True))
    assert _found(frames, OVERSIGHT + TRANSPARENCY, relaxed=True) == {}
    coverage = frames["gov_oversight__review_coverage"]
    assert (coverage["coverage"] == 1.0).all() and (coverage["unreviewed_executed"] == 0).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 60), st.randoms())
def test_row_order_never_changes_oversight_or_transparency(built, seed, n, rnd):
    inputs = _log(seed, n, review_everything=False)
    shuffled = {k: v.sample(frac=1, random_state=rnd.randint(0, 10**6)) for k, v in inputs.items()}
    a, b = _marts(built[1], inputs), _marts(built[1], shuffled)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
