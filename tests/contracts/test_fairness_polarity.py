"""Decision polarity (#15 item 1): an adverse decision (flagged, excluded, suppressed) harms the group that gets it
MORE often. Every figure below is worked out by hand in the comments."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.contracts.fairness import (ADVERSE_CHECK_ID, CHECK_ID, LARGEST, MOST_FAVOURED, GroupCounts, Thresholds,
                                        audit_dimension, pooled_z, to_findings)
from steward.contracts.finding import Severity
from steward.contracts.policy import CheckRule, load_policy

T = Thresholds(min_group_size=30)  # ratio 0.8 / 0.5, adverse_ratio 1.25 / 2.0, z 2.58


def g(label: str, n: int, pos: int, *outcome: int) -> GroupCounts:
    return GroupCounts(("segment",), (label,), n, pos, *(outcome or (None, None, None, None)))


def by_label(result):
    return {r.counts.label: r for r in result.groups}


# A: 1000 people, 100 flagged high-risk (a = 0.10, favourable f = 0.90); B: 500 people, 100 flagged (a = 0.20, f = 0.80)
FLAGGED = [g("A", 1000, 100), g("B", 500, 100)]


def test_adverse_decision_fails_the_group_flagged_more_often():
    res = audit_dimension(FLAGGED, T, favourable=False)
    a, b = by_label(res)["A"], by_label(res)["B"]
    assert res.reference == "A" and res.favourable is False
    # four-fifths on FAVOURABLE rates: 0.80 / 0.90 = 0.8889 (passes 0.8); adverse ratio 0.20 / 0.10 = 2.0 (> 1.25)
    assert b.disparity_ratio == pytest.approx(8 / 9, rel=1e-12)
    assert b.adverse_ratio == pytest.approx(2.0, rel=1e-12) and a.adverse_ratio == 1.0
    assert b.favourable_rate == pytest.approx(0.8) and b.selection.value == 0.2
    # pooled favourable p = 1300/1500 = 13/15; p(1-p) = (2/15)(13/15) = 26/225;
    # se^2 = 26/225 * (1/500 + 1/1000) = 78/225000
    # z = (0.80 - 0.90) / sqrt(78/225000) = -sqrt(2250/78) = -5.3709
    assert b.z == pytest.approx(-math.sqrt(2250 / 78), rel=1e-12)
    # 2.0 is not above the critical 2.0: warn, and the four-fifths rule alone would have passed B
    assert (b.verdict, b.severity) == ("fails_adverse_ratio", Severity.warn)
    assert res.failing == ("B",) and res.favoured_over_reference == ()


def test_the_same_counts_read_as_favourable_point_the_other_way():
    """The bug of the issue: 'flagged' read as a benefit passes B and hints that B should be the yardstick."""
    res = audit_dimension(FLAGGED, T)
    b = by_label(res)["B"]
    assert b.verdict == "passes" and b.adverse_ratio is None and b.disparity_ratio == pytest.approx(2.0)
    assert res.favoured_over_reference == ("B",)


def test_z_is_minus_the_z_of_adverse_rates():
    b = by_label(audit_dimension(FLAGGED, T, favourable=False))["B"]
    assert b.z == pytest.approx(-pooled_z(100, 500, 100, 1000), rel=1e-12)


def test_critical_by_adverse_ratio_and_by_four_fifths():
    # C: 400, 100 flagged: a = 0.25, f = 0.75; ratio 0.75/0.90 = 0.833 passes, adverse 2.5 > 2.0 -> critical
    # D: 200, 90 flagged: a = 0.45, f = 0.55; ratio 0.55/0.90 = 0.611 < 0.8 -> four-fifths, adverse 4.5 -> critical
    res = audit_dimension([g("A", 1000, 100), g("C", 400, 100), g("D", 200, 90)], T, favourable=False)
    c, d = by_label(res)["C"], by_label(res)["D"]
    assert c.disparity_ratio == pytest.approx(0.75 / 0.9) and c.adverse_ratio == pytest.approx(2.5)
    assert (c.verdict, c.severity) == ("fails_adverse_ratio", Severity.critical)
    assert d.disparity_ratio == pytest.approx(0.55 / 0.9) and d.adverse_ratio == pytest.approx(4.5)
    assert (d.verdict, d.severity) == ("fails_four_fifths", Severity.critical)


def test_adverse_gap_must_be_significant():
    # A: 100 of 1000 flagged; E: 5 of 40 (a = 0.125, adverse ratio 1.25 is not above 1.25), F: 6 of 40 (1.5 > 1.25)
    # F: pooled a = 106/1040; se = sqrt(0.10192 * 0.89808 * (1/40 + 1/1000)) = 0.048784; z = -0.05 / 0.048784 = -1.0249
    res = audit_dimension([g("A", 1000, 100), g("E", 40, 5), g("F", 40, 6)], T, favourable=False)
    assert by_label(res)["E"].verdict == "passes" and by_label(res)["F"].verdict == "passes"
    assert by_label(res)["F"].z == pytest.approx(-1.0249, abs=1e-4)


def test_most_favoured_reference_is_the_least_flagged_group():
    # A a = 0.10, B a = 0.20, G: 300 people, 15 flagged, a = 0.05 -> G is most favoured (f = 0.95)
    res = audit_dimension(FLAGGED + [g("G", 300, 15)], T, MOST_FAVOURED, favourable=False)
    assert res.reference == "G"
    # A vs G: adverse ratio 0.10 / 0.05 = 2.0, favourable ratio 0.90 / 0.95 = 0.947
    a = by_label(res)["A"]
    assert a.adverse_ratio == pytest.approx(2.0) and a.disparity_ratio == pytest.approx(0.9 / 0.95)
    assert a.verdict == "fails_adverse_ratio"


def test_hint_points_to_the_group_the_reference_is_flagged_more_than():
    # The largest group A is flagged 30 % (300 of 1000), H 10 % (50 of 500): A would fail against H (3x), so the
    # hint names H; read as favourable the same counts would name nobody.
    counts = [g("A", 1000, 300), g("H", 500, 50)]
    assert audit_dimension(counts, T, favourable=False).favoured_over_reference == ("H",)
    assert audit_dimension(counts, T).favoured_over_reference == ()


def test_findings_of_adverse_failures():
    policy = load_policy()
    res = audit_dimension([g("A", 1000, 100), g("B", 500, 100), g("D", 200, 90)], Thresholds.from_policy(policy),
                          favourable=False)
    b, d = sorted(to_findings(res, "run-1", policy, "risk_model"), key=lambda f: f.subject)
    assert (b.check_id, b.metric, b.severity, b.threshold) == (ADVERSE_CHECK_ID, "adverse_ratio", Severity.warn,
                                                                1.25)
    assert b.observed == pytest.approx(2.0) and b.subject == "risk_model: segment=B"
    assert "gives segment B the adverse decision 20.0% of the time against 10.0%" in b.explanation
    assert "(2.00 times as often): above the 1.25 times" in b.explanation
    assert (d.check_id, d.metric, d.severity, d.threshold) == (CHECK_ID, "disparity_ratio", Severity.critical, 0.5)
    assert d.observed == pytest.approx(0.55 / 0.9) and d.evidence["adverse_ratio"] == pytest.approx(4.5)


def test_thresholds_read_the_adverse_check_when_the_policy_has_it():
    policy = load_policy()
    assert Thresholds.from_policy(policy).adverse_ratio == 1.25  # the default until the check is in policy.yaml
    rule = CheckRule(family="bias", mart="gov_bias__selection_rates", subject_type="segment", subject="{m}",
                     key=["m"], metric="adverse_ratio", direction="max", warn=1.5, critical=3.0, explanation="x")
    custom = policy.model_copy(update={"checks": {**policy.checks, ADVERSE_CHECK_ID: rule}})
    t = Thresholds.from_policy(custom)
    assert (t.adverse_ratio, t.critical_adverse_ratio, t.ratio) == (1.5, 3.0, 0.8)


def test_a_reference_never_flagged_still_judges_the_others():
    """No adverse ratio can be reported (a_ref = 0), but 10 % flagged against 0 % is no pass.
    A: 0 of 500 flagged; B: 50 of 500. Favourable ratio 0.90 / 1.00 = 0.90 passes four-fifths; pooled favourable
    950/1000 = 0.95, se = sqrt(0.95 * 0.05 * (2/500)) = sqrt(0.00019) = 0.013784, z = -0.10 / 0.013784 = -7.255."""
    b = by_label(audit_dimension([g("A", 500, 0), g("B", 500, 50)], T, favourable=False))["B"]
    assert b.adverse_ratio is None and b.disparity_ratio == pytest.approx(0.9)
    assert b.z == pytest.approx(-0.1 / math.sqrt(0.00019), rel=1e-12)
    assert (b.verdict, b.severity) == ("fails_adverse_ratio", Severity.critical)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 400), st.floats(0, 1)), min_size=2, max_size=6), st.booleans())
def test_adverse_counts_judge_like_their_favourable_complement(sizes, most_favoured):
    """Counting the adverse decision with favourable=False gives the same favourable-rate ratio, z and reference
    as counting its complement (the favourable decision) with favourable=True; with the adverse-ratio rule switched
    off, the same verdicts."""
    counts = [g(f"g{i}", n, round(n * share)) for i, (n, share) in enumerate(sizes)]
    flipped = [g(c.label, c.n, c.n - c.positives) for c in counts]
    no_adverse_rule = replace(T, adverse_ratio=math.inf, critical_adverse_ratio=None)
    rule = MOST_FAVOURED if most_favoured else LARGEST
    adverse = audit_dimension(counts, no_adverse_rule, rule, favourable=False)
    favourable = audit_dimension(flipped, no_adverse_rule, rule)
    assert adverse.reference == favourable.reference
    for a, f in zip(adverse.groups, favourable.groups):
        assert (a.disparity_ratio is None) == (f.disparity_ratio is None)
        assert a.disparity_ratio is None or a.disparity_ratio == pytest.approx(f.disparity_ratio, rel=1e-12)
        assert a.z == pytest.approx(f.z, rel=1e-9, abs=1e-12)
        assert (a.verdict, a.severity) == (f.verdict, f.severity)
        assert a.favourable_rate == pytest.approx(f.selection.value)
    assert adverse.favoured_over_reference == favourable.favoured_over_reference


def test_a_reference_never_favoured_is_hinted_in_both_polarities():
    # A (largest): 0 of 100 selected; B: 30 of 60. No ratio exists (A's rate is 0), but A is the one left behind.
    # z = 0.5 / sqrt(0.1875 * 0.8125 * (1/60 + 1/100)) = 0.5 / 0.063738 = 7.84
    assert audit_dimension([g("A", 100, 0), g("B", 60, 30)], T).favoured_over_reference == ("B",)
    assert audit_dimension([g("A", 100, 100), g("B", 60, 30)], T, favourable=False).favoured_over_reference == ("B",)
