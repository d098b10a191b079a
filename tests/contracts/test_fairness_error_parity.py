"""Error-rate parity (#15 item 2) and no false green (#15 item 3): hand-worked counts, every figure in a comment."""

from __future__ import annotations

import math

import pytest

from steward.contracts.fairness import (MOST_FAVOURED, GroupCounts, Thresholds, audit_dimension, pooled_z,
                                        to_findings)
from steward.contracts.finding import Severity
from steward.contracts.policy import BiasAuditRules, load_policy

T = Thresholds(min_group_size=30)  # error ratio 1.25 / 2.0, difference >= 0.05, z >= 2.58, denominators >= 30


def g(label: str, tp: int, fp: int, fn: int, tn: int) -> GroupCounts:
    return GroupCounts(("segment",), (label,), tp + fp + fn + tn, tp + fp, tp, fp, fn, tn)


def by_label(result):
    return {r.counts.label: r for r in result.groups}


# A favourable decision (an offer); outcome = qualified.
# A (reference, 500): tp 160 fn 40 -> FNR 40/200 = 0.20; fp 30 tn 270 -> FPR 30/300 = 0.10; selected 190/500 = 0.38
# B (200):           tp 60  fn 40 -> FNR 40/100 = 0.40; fp 5  tn 95  -> FPR 5/100   = 0.05; selected 65/200  = 0.325
# C (500):           tp 160 fn 40 -> FNR 0.20;          fp 6  tn 294 -> FPR 6/300   = 0.02; selected 166/500 = 0.332
OFFER = [g("A", 160, 30, 40, 270), g("B", 60, 5, 40, 95), g("C", 160, 6, 40, 294)]


def test_equal_opportunity_of_a_favourable_decision_is_fnr_parity():
    res = audit_dimension(OFFER, T)
    b = by_label(res)["B"]
    # selection passes four-fifths: 0.325 / 0.38 = 0.855
    assert b.verdict == "passes" and b.disparity_ratio == pytest.approx(0.325 / 0.38)
    # FNR: ratio 0.40 / 0.20 = 2.0 (not above the critical 2.0: warn), difference +0.20,
    # pooled 80/300 = 4/15; se^2 = (4/15)(11/15)(1/100 + 1/200) = 0.66/225; z = 0.2 / sqrt(0.66/225) = 3/sqrt(0.66)
    fnr = b.fnr_gap
    assert (fnr.rate, fnr.harm, fnr.verdict, fnr.severity) == ("fnr", "higher", "fails", Severity.warn)
    assert fnr.ratio == pytest.approx(2.0) and fnr.difference == pytest.approx(0.2)
    assert fnr.z == pytest.approx(3 / math.sqrt(0.66), rel=1e-12)
    # FPR 0.05 against 0.10: lower (the harm side of a favourable decision's FPR), reference/group = 2.0, gap 0.05,
    # but pooled 35/400: se = sqrt(0.0875 * 0.9125 * (1/100 + 1/300)) = 0.032628, z = -0.05 / 0.032628 = -1.532
    fpr = b.fpr_gap
    assert (fpr.harm, fpr.verdict) == ("lower", "passes") and fpr.z == pytest.approx(-1.5324, abs=1e-4)
    assert (b.equal_opportunity, b.equalised_odds, b.error_severity) == ("fails", "fails", Severity.warn)
    # the rates themselves, each with its Wilson interval
    assert (b.fnr.num, b.fnr.den, b.fnr.value) == (40, 100, 0.4) and b.fnr.low < 0.4 < b.fnr.high
    assert (b.fpr.num, b.fpr.den, b.fpr.value) == (5, 100, 0.05)


def test_equalised_odds_also_judges_the_other_error_rate():
    c = by_label(audit_dimension(OFFER, T))["C"]
    # FNR 0.20 = the reference's: equal opportunity holds.
    assert c.fnr_gap.verdict == "passes" and c.equal_opportunity == "passes"
    # FPR 0.02 against 0.10: C's unqualified get the offer by mistake 5x less often; difference -0.08;
    # pooled 36/600 = 0.06; se = sqrt(0.06 * 0.94 * 2/300) = 0.019391; z = -0.08 / 0.019391 = -4.126; 5 > 2: critical
    assert c.fpr_gap.ratio == pytest.approx(0.2) and c.fpr_gap.z == pytest.approx(-4.1257, abs=1e-4)
    assert (c.fpr_gap.verdict, c.fpr_gap.severity) == ("fails", Severity.critical)
    assert (c.equalised_odds, c.error_severity) == ("fails", Severity.critical)


def test_dimension_lists_and_findings_of_error_parity():
    res = audit_dimension(OFFER, T)
    assert res.equal_opportunity_failing == ("B",) and res.equalised_odds_failing == ("B", "C")
    assert res.failing == ()  # nobody fails four-fifths; error parity is its own finding
    b, c = sorted(to_findings(res, "run-1", load_policy(), "offers"), key=lambda f: f.subject)
    assert (b.check_id, b.metric, b.observed, b.threshold, b.severity) == (
        "bias.equal_opportunity", "fnr_ratio", pytest.approx(2.0), 1.25, Severity.warn)
    assert "FNR (qualified people it wrongly denies) is 40.0% for segment B against 20.0%" in b.explanation
    assert (c.check_id, c.metric, c.observed, c.threshold, c.severity) == (
        "bias.equalised_odds", "fpr_ratio", pytest.approx(5.0), 2.0, Severity.critical)
    assert "the reference's is 5.00 times this group's" in c.explanation
    assert sorted(s.value for s in res.severities) == ["critical", "warn"]


# An adverse decision (flagged for fraud review); outcome = actually fraudulent.
# A (reference, 500): tp 40 fn 10 -> FNR 0.20; fp 45 tn 405 -> FPR 45/450 = 0.10; flagged 85/500 = 0.17
# B (450):           tp 40 fn 10 -> FNR 0.20; fp 64 tn 336 -> FPR 64/400 = 0.16; flagged 104/450 = 0.2311
FLAGGED = [g("A", 40, 45, 10, 405), g("B", 40, 64, 10, 336)]


def test_equal_opportunity_of_an_adverse_decision_is_fpr_parity():
    b = by_label(audit_dimension(FLAGGED, T, favourable=False))["B"]
    # FPR ratio 0.16 / 0.10 = 1.6 (> 1.25, < 2: warn), difference 0.06 >= 0.05;
    # pooled 109/850 = 0.128235; se = sqrt(0.128235 * 0.871765 * (1/400 + 1/450)) = 0.022976; z = 0.06 / 0.022976
    assert b.fpr_gap.harm == "higher" and b.fpr_gap.ratio == pytest.approx(1.6)
    assert b.fpr_gap.z == pytest.approx(pooled_z(64, 400, 45, 450)) and b.fpr_gap.z == pytest.approx(2.6114, abs=1e-4)
    assert (b.equal_opportunity, b.equalised_odds, b.error_severity) == ("fails", "fails", Severity.warn)
    # the flag rate itself: adverse ratio 0.2311 / 0.17 = 1.359 but z on favourable rates = -2.356 > -2.58: passes
    assert b.adverse_ratio == pytest.approx((104 / 450) / 0.17) and b.z == pytest.approx(-2.3559, abs=1e-4)
    assert b.verdict == "passes"


def test_the_same_counts_read_as_favourable_miss_the_harm():
    """Read as favourable, a higher FPR looks like luck and equal opportunity looks at the (equal) FNR."""
    b = by_label(audit_dimension(FLAGGED, T))["B"]
    assert b.fpr_gap.harm == "lower" and b.equal_opportunity == "passes" and b.equalised_odds == "passes"


def test_error_gap_needs_ratio_difference_and_significance():
    # a tiny absolute gap: FNR 0.02 against 0.01 is 2x but only 0.01 apart -> passes whatever z says
    res = audit_dimension([g("A", 4950, 0, 50, 5000), g("B", 4900, 0, 100, 5000)], T)
    b = by_label(res)["B"]
    assert b.fnr_gap.ratio == pytest.approx(2.0) and b.fnr_gap.z > 2.58 and b.fnr_gap.verdict == "passes"


def test_error_rates_over_too_few_are_warnings_not_verdicts():
    # B has 20 actual positives (< 30): its FNR is not judged, and says so
    res = audit_dimension([g("A", 160, 30, 40, 270), g("B", 10, 5, 10, 95)], T)
    b = by_label(res)["B"]
    assert b.fnr_gap.verdict == "too_small" and b.equal_opportunity == "too_small"
    (w,) = res.warnings
    assert (w.kind, w.group, w.n, w.minimum, w.severity) == ("error_rates_too_small", "B", 20, 30, Severity.warn)
    assert "20 actual positives, below 30" in w.message
    # the reference with 10 actual positives: no FNR is judged, one warning names the reference
    res = audit_dimension([g("A", 5, 30, 5, 270), g("B", 60, 5, 40, 95)], T)
    # A (largest) selects 35 / 310 against B's 65 / 200: A is itself disadvantaged, a warning of its own
    assert [x.kind for x in res.warnings] == ["error_rates_too_small", "reference_disadvantaged"]
    w = res.warnings[0]
    assert (w.kind, w.group, w.n) == ("error_rates_too_small", "A", 10)
    assert by_label(res)["B"].fnr_gap.verdict == "too_small"


def test_thresholds_come_from_policy_audits_bias():
    policy = load_policy()
    t = Thresholds.from_policy(policy)
    assert (t.error_ratio, t.critical_error_ratio, t.error_difference, t.error_min_denominator, t.error_z) == \
        (1.25, 2.0, 0.05, 30, 2.58)
    strict = policy.model_copy(update={"audits": policy.audits.model_copy(update={
        "bias": BiasAuditRules(error_rate_ratio=2.5, error_rate_critical_ratio=None)})})
    b = by_label(audit_dimension(OFFER, Thresholds.from_policy(strict)))["B"]
    assert b.fnr_gap.verdict == "passes"  # 2.0 is not above 2.5
    with pytest.raises(ValueError, match="error_rate_critical_ratio must be at least error_rate_ratio"):
        BiasAuditRules(error_rate_ratio=2.0, error_rate_critical_ratio=1.5)


# --- no false green --------------------------------------------------------------------------------------------


def test_a_one_member_reference_is_a_warning_not_a_pass():
    """The issue: --reference a group of one gave exit 0 and every group 'passes'."""
    counts = [GroupCounts(("segment",), ("A",), 1, 0), GroupCounts(("segment",), ("B",), 100, 10),
              GroupCounts(("segment",), ("C",), 100, 60)]
    res = audit_dimension(counts, T, "A")
    assert {r.counts.label: r.verdict for r in res.groups} == {
        "A": "reference", "B": "reference_too_small", "C": "reference_too_small"}
    (w,) = res.warnings
    assert (w.kind, w.group, w.n, w.minimum, w.severity) == ("reference_too_small", "A", 1, 30, Severity.warn)
    assert "the reference group A (explicit) has n = 1, below the 30" in w.message
    assert res.failing == () and res.severities == [Severity.warn]
    assert res.demographic_parity_difference is None and res.favoured_over_reference == ()


def test_groups_too_small_to_judge_are_named_warnings():
    counts = [GroupCounts(("segment",), ("A",), 100, 50), GroupCounts(("segment",), ("B",), 29, 0)]
    res = audit_dimension(counts, T)
    (w,) = res.warnings
    assert (w.kind, w.group, w.n) == ("group_too_small", "B", 29)
    assert w.message == "segment=B: n = 29 is below 30: not judged, not passed."
    assert res.severities == [Severity.warn]


def test_most_favoured_among_tiny_groups_warns_about_the_reference():
    counts = [GroupCounts(("segment",), ("A",), 10, 5), GroupCounts(("segment",), ("B",), 12, 2)]
    res = audit_dimension(counts, T, MOST_FAVOURED)
    assert res.reference == "A"
    assert [w.kind for w in res.warnings] == ["reference_too_small", "group_too_small"]


def test_a_clean_dimension_has_no_severity():
    counts = [GroupCounts(("segment",), ("A",), 100, 50), GroupCounts(("segment",), ("B",), 100, 48)]
    res = audit_dimension(counts, T)
    assert res.warnings == () and res.severities == []
