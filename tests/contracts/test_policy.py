"""A bad policy is refused with one line that names the file and the field."""

from __future__ import annotations

import pytest

from conftest import write_text
from steward.contracts.policy import load_policy
from steward.contracts.errors import ConfigError


def test_default_policy_loads_and_feeds_dbt():
    policy = load_policy()
    assert "bias.selection_rate_disparity" in policy.checks
    assert policy.dbt_vars()["bias_dimensions"] == ["age_band", "gender", "region"]


@pytest.mark.parametrize("text, message", [
    ("checks: [unclosed", r"not valid YAML at line 1"),
    ("- a list", r"expected a mapping"),
    ("checks: {}\nscope: {bias_dimensions: [age_bnd]}", r"scope\.bias_dimensions: .*unknown column 'age_bnd'"),
    ("checks: {}\nalerts: {min_severity: loud}", r"alerts\.min_severity"),
    ("checks: {}\nsurprise: 1", r"surprise: Extra inputs are not permitted"),
    ("checks:\n  x.y: {family: bias, mart: gov_a, subject_type: s, subject: s, key: [a], metric: m, direction: min,"
     " explanation: e}", r"checks\.x\.y: .*needs a 'warn' or a 'critical' threshold"),
])
def test_bad_policy_is_one_line_naming_file_and_field(tmp_path, text, message):
    path = write_text(tmp_path / "policy.yaml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_policy(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_missing_policy_file(tmp_path):
    with pytest.raises(ConfigError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")
