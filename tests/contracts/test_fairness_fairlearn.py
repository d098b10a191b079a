"""The bias audit's group metrics against fairlearn's on random data (#15: "checked against fairlearn").

Rows are drawn at random (groups, a decision, an outcome), counted here in plain Python into GroupCounts, judged by
contracts.fairness and measured by fairlearn.metrics from the same rows; every figure must agree within 1e-9. Both
polarities: fairlearn's y_pred is the decision as counted (favourable or adverse), so the counted-decision metrics
agree either way, and the favourable-rate ratio is checked against fairlearn's selection rate of the complement.
"""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from steward.contracts.fairness import GroupCounts, Thresholds, audit_dimension

np = pytest.importorskip("numpy")
fm = pytest.importorskip("fairlearn.metrics")

TOL = 1e-9


@st.composite
def rows(draw):
    """2 to 5 groups, each with at least one actual positive and one actual negative (so every rate is defined)."""
    groups = draw(st.lists(st.sampled_from("abcdefg"), min_size=2, max_size=5, unique=True))
    out = []
    for label in groups:
        tp, fn = draw(st.integers(0, 40)), draw(st.integers(0, 40))
        fp, tn = draw(st.integers(0, 40)), draw(st.integers(0, 40))
        if tp + fn == 0:
            fn = 1
        if fp + tn == 0:
            tn = 1
        out += [(label, 1, 1)] * tp + [(label, 1, 0)] * fp + [(label, 0, 1)] * fn + [(label, 0, 0)] * tn
    order = draw(st.permutations(range(len(out))))
    return [out[i] for i in order]


def _counts(data) -> list[GroupCounts]:
    """Count rows per group the plain way: (group, decision, outcome) -> n, decided, tp, fp, fn, tn."""
    cells: dict[str, list[int]] = {}
    for label, pred, true in data:
        c = cells.setdefault(label, [0, 0, 0, 0])
        c[(0 if true else 1) if pred else (2 if true else 3)] += 1
    return [GroupCounts(("g",), (k,), sum(v), v[0] + v[1], *v) for k, v in cells.items()]


def _same(ours: float | None, theirs: float) -> bool:
    if ours is None:
        return math.isnan(theirs)
    return abs(ours - theirs) <= TOL


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(), st.booleans())
# one error-rate ratio is 0/0 (FPR 0 in both groups; then TPR 0 in both): the ratio that exists decides
@example(data=[("a", 0, 1), ("a", 0, 0), ("b", 1, 1), ("b", 0, 0)], favourable=False)
@example(data=[("a", 0, 1), ("a", 0, 0), ("b", 1, 0), ("b", 0, 1)], favourable=False)
def test_group_rates_and_dimension_metrics_match_fairlearn(data, favourable):
    sf = np.array([r[0] for r in data])
    y_pred = np.array([r[1] for r in data])
    y_true = np.array([r[2] for r in data])
    res = audit_dimension(_counts(data), Thresholds(min_group_size=0), favourable=favourable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = fm.MetricFrame(metrics={"selection": fm.selection_rate, "tpr": fm.true_positive_rate,
                                        "fpr": fm.false_positive_rate, "fnr": fm.false_negative_rate},
                               y_true=y_true, y_pred=y_pred, sensitive_features=sf)
        complement = fm.MetricFrame(metrics=fm.selection_rate, y_true=y_true, y_pred=1 - y_pred,
                                    sensitive_features=sf).by_group
        by_group = frame.by_group
        for r in res.groups:
            label = r.counts.label
            for name, rate in (("selection", r.selection), ("tpr", r.tpr), ("fpr", r.fpr), ("fnr", r.fnr)):
                assert abs(rate.value - by_group.loc[label, name]) <= TOL, (label, name)
            # the four-fifths ratio compares FAVOURABLE rates: the decision itself, or its complement when adverse
            fav = by_group["selection"] if favourable else complement
            expected = fav[label] / fav[res.reference] if fav[res.reference] else None
            assert _same(r.disparity_ratio, expected if expected is not None else float("nan"))
            # error-rate ratios and differences against the reference
            for name, gap in (("fpr", r.fpr_gap), ("fnr", r.fnr_gap)):
                mine, ref = by_group.loc[label, name], by_group.loc[res.reference, name]
                assert abs(gap.difference - (mine - ref)) <= TOL
                assert _same(gap.ratio, mine / ref if ref else float("nan"))
        kw = dict(y_true=y_true, y_pred=y_pred, sensitive_features=sf)
        expected = {
            "demographic_parity_difference": fm.demographic_parity_difference(**kw),
            "demographic_parity_ratio": fm.demographic_parity_ratio(**kw),
            "equalized_odds_difference": fm.equalized_odds_difference(**kw),
            "equalized_odds_ratio": fm.equalized_odds_ratio(**kw),
            "equal_opportunity_difference": fm.equal_opportunity_difference(**kw),
            "equal_opportunity_ratio": fm.equal_opportunity_ratio(**kw),
            "false_positive_rate_difference": fm.false_positive_rate_difference(**kw),
            "false_positive_rate_ratio": fm.false_positive_rate_ratio(**kw),
            "false_negative_rate_difference": fm.false_negative_rate_difference(**kw),
            "false_negative_rate_ratio": fm.false_negative_rate_ratio(**kw),
        }
        # fairlearn takes Python's min() of [TPR ratio, FPR ratio]; when one is 0/0 (NaN) its answer depends on the
        # order (min(nan, 0) is nan, min(0, nan) is 0). The audit takes the smaller of the ratios that exist.
        parts = [fm.MetricFrame(metrics=f, y_true=y_true, y_pred=y_pred, sensitive_features=sf).ratio()
                 for f in (fm.true_positive_rate, fm.false_positive_rate)]
        known = [float(p) for p in parts if not np.isnan(p)]
        expected["equalized_odds_ratio"] = min(known) if known else float("nan")
    for name, theirs in expected.items():
        assert _same(getattr(res, name), float(theirs)), (name, getattr(res, name), theirs)
