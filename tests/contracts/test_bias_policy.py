"""contracts/bias_policy.py reads the packaged policy's bias parts without building the whole policy (issue #15:
a file audit's start-up). Held here to what ``load_policy()`` makes of the same file, value by value, so the two
readings cannot drift apart when the policy changes."""

from __future__ import annotations

import pytest

from steward.contracts.bias_policy import BIAS_CHECK_IDS, BiasRule, packaged_bias_policy
from steward.contracts.fairness import ADVERSE_CHECK_ID, CHECK_ID, Thresholds
from steward.contracts.finding import Severity
from steward.contracts.policy import load_policy


def test_the_bias_audit_reads_the_checks_the_light_reader_reads():
    assert set(BIAS_CHECK_IDS) == {CHECK_ID, ADVERSE_CHECK_ID}


def test_the_packaged_bias_parts_equal_the_validated_policys():
    light, whole = packaged_bias_policy(), load_policy()
    assert Thresholds.from_policy(light) == Thresholds.from_policy(whole)
    assert light.owner == whole.owner
    assert vars(light.audits.bias) == whole.audits.bias.model_dump()
    for check_id in BIAS_CHECK_IDS:
        mine, theirs = light.checks[check_id], whole.checks[check_id]
        assert (mine.warn, mine.critical, mine.where, mine.owner) == \
            (theirs.warn, theirs.critical, theirs.where, theirs.owner), check_id
        assert [mine.action_for(s) for s in Severity] == [theirs.action_for(s) for s in Severity], check_id


@pytest.mark.parametrize("action, want", [({}, ["none", "alert", "alert"]),
                                          ({Severity.critical: "pause"}, ["none", "alert", "pause"])])
def test_an_action_not_named_is_what_a_check_rule_defaults_to(action, want):
    assert [BiasRule(warn=0.8, action=action).action_for(s) for s in Severity] == want
