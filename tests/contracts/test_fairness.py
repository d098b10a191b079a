"""Fairness judgement from counts: hand-computed cases, the mart's worked example, and properties that must hold."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from steward.contracts.fairness import (LARGEST, MOST_FAVOURED, GroupCounts, Thresholds, audit_dimension, pooled_z,
                                        to_findings, wilson)
from steward.contracts.finding import Severity
from steward.contracts.policy import load_policy
from steward.contracts.proxies import Contingency, GroupMoments, Moment, cramers_v, correlation_ratio, judge_proxies
from steward.contracts.errors import ConfigError

T = Thresholds(min_group_size=30, ratio=0.8, critical_ratio=0.5, z=2.58)


def g(label: str, n: int, pos: int, *outcome: int, col: str = "age_band") -> GroupCounts:
    return GroupCounts((col,), (label,), n, pos, *(outcome or (None, None, None, None)))


def by_label(result):
    return {r.counts.label: r for r in result.groups}


def test_hand_computed_two_groups():
    """A: 50 of 100 selected (reference, largest); B: 10 of 50. Every number worked out on paper."""
    res = audit_dimension([g("A", 100, 50, 40, 10, 10, 40), g("B", 50, 10, 8, 2, 12, 28)], T)
    a, b = by_label(res)["A"], by_label(res)["B"]
    assert res.reference == "A" and res.reference_rule == LARGEST
    assert a.verdict == "reference" and a.disparity_ratio == 1.0 and a.z == 0.0
    assert b.selection.value == 0.2
    assert b.disparity_ratio == pytest.approx(0.4, abs=1e-15)
    assert b.rate_difference == pytest.approx(-0.3, abs=1e-15)
    # pooled p = 60/150 = 0.4; se = sqrt(0.4 * 0.6 * (1/50 + 1/100)) = sqrt(0.0072); z = -0.3 / se = -5 / sqrt(2)
    assert b.z == pytest.approx(-5 / math.sqrt(2), rel=1e-12)
    assert b.verdict == "fails_four_fifths" and b.severity is Severity.critical
    # outcome rates: A tp40 fp10 fn10 tn40, B tp8 fp2 fn12 tn28
    assert (a.tpr.value, a.fpr.value, a.fnr.value, a.precision.value) == (0.8, 0.2, 0.2, 0.8)
    assert (b.tpr.value, b.fpr.value, b.fnr.value, b.precision.value) == (0.4, 2 / 30, 0.6, 0.8)
    assert b.tpr_difference == pytest.approx(-0.4) and b.fpr_difference == pytest.approx(2 / 30 - 0.2)
    assert res.demographic_parity_difference == pytest.approx(0.3)
    assert res.demographic_parity_ratio == pytest.approx(0.4)
    assert res.equalized_odds_difference == pytest.approx(0.4)  # max(|0.8-0.4|, |0.2-0.0667|)
    assert res.failing == ("B",)


def test_wilson_hand_computed():
    # p = 0.2, n = 50: (0.2 + 0.038416 ± 1.96 * sqrt(0.0032 + 0.00038416)) / 1.076832
    r = wilson(10, 50)
    spread = 1.96 * math.sqrt(0.0032 + 0.00038416)
    assert r.low == pytest.approx((0.238416 - spread) / 1.076832, rel=1e-12)
    assert r.high == pytest.approx((0.238416 + spread) / 1.076832, rel=1e-12)
    assert (round(r.low, 4), round(r.high, 4)) == (0.1124, 0.3304)
    assert wilson(0, 0).value is None
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == 1.0


def test_docs_worked_example_matches_the_mart():
    """docs/policy.md: lead_scoring, 55-64 has 13 of 433 against 25-34's 284 of 738."""
    res = audit_dimension([g("55-64", 433, 13), g("25-34", 738, 284)], Thresholds())
    r = by_label(res)["55-64"]
    assert round(r.disparity_ratio, 3) == 0.078
    assert round(r.z, 1) == -13.5
    assert (round(r.selection.low, 4), round(r.selection.high, 4)) == (0.0176, 0.0507)
    assert r.verdict == "fails_four_fifths" and r.severity is Severity.critical


def test_significance_gate_and_warn_level():
    """Ratio 0.7 (warn level) fails only once the gap is significant at |z| >= 2.58."""
    small = audit_dimension([g("A", 200, 100), g("B", 40, 14)], T)  # 0.35 / 0.5 = 0.7, z = -1.75
    assert by_label(small)["B"].verdict == "passes"
    big = audit_dimension([g("A", 2000, 1000), g("B", 400, 140)], T)
    b = by_label(big)["B"]
    assert b.disparity_ratio == pytest.approx(0.7) and b.z < -2.58
    assert b.verdict == "fails_four_fifths" and b.severity is Severity.warn


def test_too_small_is_reported_not_flagged():
    res = audit_dimension([g("A", 100, 50), g("B", 29, 0)], T)
    assert by_label(res)["B"].verdict == "too_small"
    assert res.failing == ()
    assert res.demographic_parity_difference == 0.0  # only judgeable groups enter the dimension's gaps


def test_reference_rules():
    counts = [g("A", 100, 20), g("B", 80, 60), g("C", 10, 10)]
    assert audit_dimension(counts, T).reference == "A"
    fav = audit_dimension(counts, T, MOST_FAVOURED)
    assert fav.reference == "B"  # C has the highest rate but is too small to be anyone's yardstick
    assert by_label(fav)["A"].verdict == "fails_four_fifths"
    assert audit_dimension(counts, T, "C").reference_rule == "explicit"
    with pytest.raises(ConfigError, match="reference group 'Z' is not a group of age_band"):
        audit_dimension(counts, T, "Z")


def test_favoured_over_reference_is_noted():
    res = audit_dimension([g("A", 500, 50), g("B", 400, 200)], T)
    assert res.reference == "A" and res.failing == () and res.favoured_over_reference == ("B",)


def test_reference_selecting_nobody_gives_no_ratio():
    res = audit_dimension([g("A", 100, 0), g("B", 60, 30)], T)
    assert by_label(res)["B"].disparity_ratio is None and by_label(res)["B"].verdict == "passes"


def test_thresholds_from_the_default_policy():
    assert Thresholds.from_policy(load_policy()) == Thresholds(min_group_size=50, ratio=0.8, critical_ratio=0.5,
                                                               z=2.58)


def test_findings_speak_the_mart_checks_language():
    policy = load_policy()
    res = audit_dimension([g("25-34", 738, 284), g("55-64", 433, 13), g("35-44", 600, 200)],
                          Thresholds.from_policy(policy))
    (f,) = to_findings(res, "run-1", policy, "lead_scoring")
    assert f.check_id == "bias.selection_rate_disparity" and f.family == "bias"
    assert f.subject == "lead_scoring: age_band=55-64" and f.severity is Severity.critical
    assert f.threshold == 0.5 and f.observed == pytest.approx(13 / 433 / (284 / 738))
    assert f.owner == "ml-governance" and f.action == "alert"
    assert f.evidence["reference_group"] == "25-34" and f.evidence["n"] == 433
    assert "3.0% of the time against 38.5%" in f.explanation


def test_pooled_z_degenerate_cases():
    assert pooled_z(0, 10, 0, 20) == 0.0 and pooled_z(10, 10, 20, 20) == 0.0 and pooled_z(1, 0, 1, 1) == 0.0


# --- proxies -------------------------------------------------------------------------------------------------


def test_cramers_v_hand_computed():
    assert cramers_v({("a", "x"): 10, ("b", "y"): 10}) == 1.0
    assert cramers_v({("a", "x"): 10, ("a", "y"): 10, ("b", "x"): 10, ("b", "y"): 10}) == 0.0
    # chi2 = N (ad - bc)^2 / (r1 r2 c1 c2) = 60 * 300^2 / 30^4 = 20/3; V = sqrt(chi2 / 60) = 1/3
    assert cramers_v({("a", "x"): 20, ("a", "y"): 10, ("b", "x"): 10, ("b", "y"): 20}) == pytest.approx(1 / 3)
    assert cramers_v({("a", "x"): 5, ("b", "x"): 5}) is None


def test_cramers_v_agrees_with_scipy():
    contingency = pytest.importorskip("scipy.stats.contingency")
    import numpy as np

    table = np.array([[12, 5, 30], [7, 22, 4], [9, 9, 15]])
    cells = {(str(i), str(j)): int(table[i, j]) for i in range(3) for j in range(3)}
    assert cramers_v(cells) == pytest.approx(contingency.association(table, method="cramer"), rel=1e-12)


def test_correlation_ratio_hand_computed():
    # A = {1, 3}: mean 2, var 1; B = {5, 7}: mean 6, var 1. SS_between = 16, SS_within = 4: eta = sqrt(0.8)
    assert correlation_ratio([Moment("A", 2, 2.0, 1.0), Moment("B", 2, 6.0, 1.0)]) == pytest.approx(math.sqrt(0.8))
    assert correlation_ratio([Moment("A", 3, 1.0, 0.0), Moment("B", 3, 1.0, 0.0)]) is None


def test_judge_proxies_flags_and_orders():
    out = judge_proxies([Contingency("zip", "region", {("1", "N"): 10, ("2", "S"): 10})],
                        [GroupMoments("income", "gender", (Moment("F", 5, 1.0, 1.0), Moment("M", 5, 1.1, 1.0)))],
                        {"id": "900 distinct values"}, ["region", "gender"], 0.5)
    assert [(p.input, p.verdict) for p in out] == [("zip", "proxy"), ("income", "ok"), ("id", "skipped")]


# --- properties ----------------------------------------------------------------------------------------------

labels = st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=2, max_size=6, unique=True)


@st.composite
def dimension_counts(draw):
    out = []
    for label in draw(labels):
        n = draw(st.integers(1, 400))
        pos = draw(st.integers(0, n))
        tp = draw(st.integers(0, pos))
        fn = draw(st.integers(0, n - pos))
        out.append(g(label, n, pos, tp, pos - tp, fn, n - pos - fn))
    return out


def _signature(res, rename=lambda s: s):
    return {rename(r.counts.label): (r.verdict, r.disparity_ratio, r.z, r.selection, r.tpr, r.fpr, r.severity)
            for r in res.groups}


@settings(max_examples=150, deadline=None)
@given(dimension_counts(), st.randoms(use_true_random=False))
def test_order_of_groups_does_not_matter(counts, rnd):
    shuffled = list(counts)
    rnd.shuffle(shuffled)
    assert _signature(audit_dimension(counts, T)) == _signature(audit_dimension(shuffled, T))


@settings(max_examples=150, deadline=None)
@given(dimension_counts(), st.randoms(use_true_random=False))
def test_relabelling_groups_does_not_change_results(counts, rnd):
    assume(len({c.n for c in counts}) == len(counts))  # with tied sizes "largest" needs a tie-break by label
    new = [f"z{i}" for i in range(len(counts))]
    rnd.shuffle(new)
    mapping = {c.label: new[i] for i, c in enumerate(counts)}
    renamed = [g(mapping[c.label], c.n, c.positives, c.tp, c.fp, c.fn, c.tn) for c in counts]
    before, after = audit_dimension(counts, T), audit_dimension(renamed, T)
    assert _signature(before, mapping.get) == _signature(after)
    assert mapping[before.reference] == after.reference


@settings(max_examples=150, deadline=None)
@given(labels, st.integers(1, 500), st.data())
def test_perfectly_balanced_data_gives_no_finding(names, n, data):
    """Every group selects (and errs) at the same rate, whatever their sizes: nothing to flag."""
    pos = data.draw(st.integers(0, n))
    sizes = data.draw(st.lists(st.integers(1, 20), min_size=len(names), max_size=len(names)))
    counts = [g(name, n * k, pos * k, 0, pos * k, 0, (n - pos) * k) for name, k in zip(names, sizes)]
    policy = load_policy()
    for rule in (LARGEST, MOST_FAVOURED):
        res = audit_dimension(counts, Thresholds(min_group_size=0), rule)
        assert res.failing == () and to_findings(res, "r", policy, "m") == []
        assert all(r.verdict in ("reference", "passes") and r.z == 0.0 for r in res.groups)
        assert res.demographic_parity_difference == 0.0


def test_a_disadvantaged_largest_reference_is_a_warning_not_a_green_pass():
    """A (largest, 500) selects 50 (10 %), B (400) 200 (50 %): B passes against A, but A is the disadvantaged one.
    Seen from B, A's ratio is 0.1 / 0.5 = 0.2 < 0.8 with z far below -2.58: a warning, so --fail-on warn exits 1.
    With A named explicitly the comparison is the user's own: noted (favoured_over_reference), not warned."""
    res = audit_dimension([g("A", 500, 50), g("B", 400, 200)], T)
    (w,) = res.warnings
    assert (w.kind, w.group, w.severity) == ("reference_disadvantaged", "A", Severity.warn)
    assert "B" in w.message and "--reference most-favoured" in w.message
    assert Severity.warn in res.severities
    explicit = audit_dimension([g("A", 500, 50), g("B", 400, 200)], T, reference="A")
    assert explicit.favoured_over_reference == ("B",) and explicit.warnings == ()
    adverse = audit_dimension([g("A", 500, 250), g("B", 400, 40)], T, favourable=False)  # A flagged 50 %, B 10 %
    assert [x.kind for x in adverse.warnings] == ["reference_disadvantaged"] and "adverse" in adverse.warnings[0].message
