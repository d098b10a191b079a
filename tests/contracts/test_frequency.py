"""contracts.frequency: the share over the cap, its severity from the policy, the distribution, and over-contact
judged per group as an adverse decision. Pure: counts in, verdicts out."""

from __future__ import annotations

import pytest

from steward.contracts.errors import ConfigError
from steward.contracts.fairness import GroupCounts, Thresholds
from steward.contracts.finding import Severity
from steward.contracts.frequency import (NULL_GROUP, FrequencyCounts, buckets, group_counts, judge_frequency,
                                         share_severity)
from steward.contracts.policy import FrequencyAuditRules, Scope, load_policy


def _counts(**kw) -> FrequencyCounts:
    base = dict(rows=10, excluded={"missing person": 0}, people=10, over_cap=0, max_touches=3, touches=20,
                person_windows=12, person_windows_over_cap=0, peaks={1: 4, 2: 3, 3: 3}, p50=2, p90=3, p99=3)
    return FrequencyCounts(**{**base, **kw})


@pytest.mark.parametrize("over, people, expected", [
    (0, 100, None),            # nobody over the cap: no finding
    (1, 100, Severity.info),   # 1 % < share_warn 5 %: worth knowing, not a warning
    (5, 100, Severity.warn),   # 5 % = share_warn
    (9, 100, Severity.warn),
    (10, 100, Severity.critical),  # 10 % = share_critical
])
def test_share_severity_follows_the_policy(over, people, expected):
    assert share_severity(over / people, over, FrequencyAuditRules()) == expected


def test_no_critical_share_means_warn_at_most():
    assert share_severity(0.9, 90, FrequencyAuditRules(share_critical=None)) is Severity.warn


def test_caps_per_window_and_the_week_falls_back_to_the_marts_cap():
    rules = FrequencyAuditRules()
    assert [rules.cap_for(w, Scope()) for w in ("day", "week", "month")] == [2, 5, 20]
    assert rules.cap_for("week", Scope(contact_cap_per_week=3)) == 3
    assert FrequencyAuditRules(cap_per_week=7).cap_for("week", Scope(contact_cap_per_week=3)) == 7


def test_packaged_policy_carries_the_frequency_rules():
    rules = load_policy().audits.frequency
    assert (rules.cap_per_day, rules.cap_per_week, rules.cap_per_month) == (2, None, 20)
    assert (rules.share_warn, rules.share_critical) == (0.05, 0.10)


def test_warn_past_critical_is_refused(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("checks: {}\naudits:\n  frequency:\n    share_warn: 0.2\n    share_critical: 0.1\n",
                      encoding="utf-8")
    with pytest.raises(ConfigError, match=r"audits.frequency: .*share_warn 0.2 is above share_critical 0.1"):
        load_policy(policy)


def test_buckets_up_to_the_cap_then_one_above():
    """Cap 3, peaks capped at cap + 1 = 4: 1 -> 2 people, 3 -> 1, 4 (> 3) -> 2; 2 touches: nobody. 5 people."""
    got = buckets({1: 2, 3: 1, 4: 2}, 3, 5)
    assert [(b.label, b.people, b.share, b.over_cap) for b in got] == \
        [("1", 2, 0.4, False), ("2", 0, 0.0, False), ("3", 1, 0.2, False), ("> 3", 2, 0.4, True)]
    assert buckets({0: 1, 1: 1}, 1, 2)[0].label == "0"  # a count column may say 0 touches


def test_over_contact_is_the_adverse_decision_per_group():
    """A: 200 people, 20 over (10 %); B: 100, 30 over (30 %); reference A (largest). Favourable ratio 0.7 / 0.9 =
    0.778 < 0.8; adverse ratio 3.0 > critical 2.0; z = -0.2 / sqrt(0.8333 * 0.1667 * 0.015) = -4.38: B fails,
    critical. Missing values: their own group."""
    groups = group_counts("segment", [("A", 200, 20), ("B", 100, 30), (None, 10, 0)])
    assert groups[2] == GroupCounts(("segment",), (NULL_GROUP,), 10, 0)
    result = judge_frequency(_counts(people=310, over_cap=50, groups=tuple(groups)), "week", 5, FrequencyAuditRules(),
                             Thresholds())
    assert result.share_over_cap == pytest.approx(50 / 310) and result.severity is Severity.critical
    (dim,) = result.dimensions
    assert dim.reference == "A" and dim.failing == ("B",) and dim.favourable is False
    b = next(g for g in dim.groups if g.counts.label == "B")
    assert b.disparity_ratio == pytest.approx(0.7 / 0.9) and b.adverse_ratio == pytest.approx(3.0)
    assert b.z == pytest.approx(-4.3818, abs=1e-4) and b.severity is Severity.critical
    assert [s for s in result.severities if s is Severity.critical] == [Severity.critical] * 2  # overall, B


def test_a_group_over_contacted_less_than_the_reference_passes():
    """Mirror image: A 30 % over, B 10 % over; B gets the adverse decision less often, so it passes."""
    groups = tuple(group_counts("segment", [("A", 200, 60), ("B", 100, 10)]))
    (dim,) = judge_frequency(_counts(people=300, over_cap=70, groups=groups), "week", 5, FrequencyAuditRules(),
                             Thresholds()).dimensions
    assert dim.failing == () and {g.counts.label: g.verdict for g in dim.groups} == {"A": "reference", "B": "passes"}
    assert dim.favoured_over_reference == ("B",)  # the reference is the over-contacted one: the CLI says so
