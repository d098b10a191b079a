"""The policy's approvals section: who may answer a request_approval pause."""

from __future__ import annotations

import pytest
import yaml

from steward.contracts.policy import RUN_USER, load_policy
from steward.contracts.errors import ConfigError


def _with(tmp_path, approvals: dict):
    from importlib import resources

    data = yaml.safe_load(resources.files("steward.contracts").joinpath("policy.yaml").read_text())
    data["approvals"] = approvals
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_policy(path)


def test_the_packaged_default_lets_the_run_user_approve_every_check():
    approvals = load_policy().approvals
    assert approvals.approvers == [RUN_USER] and approvals.delegates == []
    assert approvals.approvers_for("bias.selection_rate_disparity", "svc-steward") == ["svc-steward"]


def test_a_check_can_have_its_own_approvers(tmp_path):
    policy = _with(tmp_path, {"approvers": ["ann"], "checks": {"bias.selection_rate_disparity": ["dana"]}})
    assert policy.approvals.approvers_for("bias.selection_rate_disparity", "svc") == ["dana"]
    assert policy.approvals.approvers_for("metric_balance.kpi_up_guardrail_down", "svc") == ["ann"]


@pytest.mark.parametrize("approvals, message", [
    ({"checks": {"bias.selection_rate_disparty": ["dana"]}}, "approvals.checks: unknown check id"),
    ({"approvers": ["ann; rm -rf /"]}, "approvals.approvers.0"),
    ({"delegate": ["bot"]}, "approvals.delegate"),
])
def test_a_bad_approvals_section_is_one_line_naming_the_field(tmp_path, approvals, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        _with(tmp_path, approvals)
