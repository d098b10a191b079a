"""The launch spec and the policy's launch section: what a user gets wrong fails in one line naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from steward.contracts.policy import load_policy
from steward.flows.launch_spec import load_launch_spec
from steward.contracts.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "launches"


def spec_file(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load((EXAMPLES / "conditional-high-intent.yaml").read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(leaf)
        else:
            node[leaf] = value
    path = tmp_path / "launch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_loads(name):
    spec = load_launch_spec(EXAMPLES / name)
    assert spec.channels and spec.platforms and spec.days >= 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"channels": ["sms"]}, "channels.0: Input should be 'email' or 'ads'"),
    ({"platforms": ["hubspot", "tiktok"]}, "platforms: unknown platform 'tiktok'"),
    ({"audience__query": "select 1"}, "audience: give either 'segment'"),
    ({"audience__segment": None, "audience__query": "delete from staging.x"}, "audience.query: must be one select"),
    ({"audience__segment": None, "audience__query": "select 1 as email; drop table x"}, "audience.query: must be one"),
    ({"audience__segment": "high'intent"}, "audience.segment: String should match pattern"),
    ({"audience__intended_dimensions": ["age"]}, "audience.intended_dimensions: unknown attribute 'age'"),
    ({"ends_on": "2026-11-01"}, "spec: ends_on 2026-11-01 is before starts_on 2026-12-07"),
    ({"planned__emails_per_week": 0}, "channel email needs planned.emails_per_week"),
    ({"budget__total": -5}, "budget.total: Input should be greater than or equal to 0"),
    ({"offers": "x"}, "offers: Extra inputs are not permitted"),
    ({"models": [{"name": "next_best_offer", "version": "1.4.1'; --"}]}, "models.0.version: String should match"),
])
def test_a_bad_spec_is_one_line_naming_file_and_field(tmp_path, changes, message):
    path = spec_file(tmp_path, **changes)
    with pytest.raises(ConfigError) as err:
        load_launch_spec(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="launch spec not found"):
        load_launch_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line 2"):
        load_launch_spec(bad)


def test_the_packaged_policy_carries_the_launch_thresholds_as_data():
    launch = load_policy().launch
    assert launch is not None
    assert set(launch.checks) == {
        "launch.audience_size", "launch.consent_coverage", "launch.erasure_completed", "launch.erasure_pending",
        "launch.frequency_cap", "launch.audience_bias", "launch.model_confidence", "launch.model_review_coverage",
        "launch.model_unregistered_version", "launch.integration_health", "launch.data_freshness",
        "launch.audience_vs_plan", "launch.budget_vs_history"}
    assert launch.checks["launch.frequency_cap"].warn == 0.05


def test_a_bad_launch_section_names_the_field(tmp_path):
    from importlib import resources

    policy = resources.files("steward.contracts").joinpath("policy.yaml").read_text()
    broken = tmp_path / "policy.yaml"
    broken.write_text(policy.replace("    launch.frequency_cap:\n      family: metric_balance\n      mart: launch__frequency",
                                     "    launch.frequency_cap:\n      family: metric_balance\n      mart: gov_frequency"))
    with pytest.raises(ConfigError, match=r"launch.checks.launch.frequency_cap.mart: String should match pattern"):
        load_policy(broken)
