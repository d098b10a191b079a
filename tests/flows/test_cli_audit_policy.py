"""``steward audit bias --policy FILE``: a user's policy is loaded and validated whole, and its bias checks' owner
and actions route the findings (without --policy the audit reads the packaged policy's bias parts alone,
contracts/bias_policy.py)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from typer.testing import CliRunner

from steward.flows.cli.audit import audit_app

runner = CliRunner()
PACKAGED = resources.files("steward.contracts").joinpath("policy.yaml").read_text(encoding="utf-8")
ROUTING = "owner: ml-governance\n    action: {warn: alert, critical: alert}"


def _decisions(tmp_path: Path) -> Path:
    """A selected 60 of 100, B 20 of 100: B's ratio 0.33 fails four-fifths, critical (below 0.5)."""
    path = tmp_path / "decisions.csv"
    path.write_text("segment,decision\n" + "".join(f"A,{'approved' if i < 60 else 'declined'}\n" for i in range(100))
                    + "".join(f"B,{'approved' if i < 20 else 'declined'}\n" for i in range(100)), encoding="utf-8")
    return path


def _audit(tmp_path: Path, *args: str):
    return runner.invoke(audit_app, ["bias", str(_decisions(tmp_path)), "--group", "segment", "--decision",
                                     "decision", "--positive", "approved", "--json", *args])


def test_the_packaged_policy_routes_a_failing_group_to_its_owner(tmp_path):
    res = _audit(tmp_path)
    assert res.exit_code == 1, res.output
    (finding,) = json.loads(res.stdout)["findings"]
    assert (finding["check_id"], finding["severity"], finding["owner"], finding["action"], finding["threshold"]) == \
        ("bias.selection_rate_disparity", "critical", "ml-governance", "alert", 0.5)


def test_a_policy_file_sets_the_owner_action_and_thresholds(tmp_path):
    assert PACKAGED.count(ROUTING) == 2  # the two bias checks; the first is bias.selection_rate_disparity
    text = PACKAGED.replace(ROUTING, "owner: risk-team\n    action: {warn: alert, critical: pause}", 1)
    text = text.replace("    critical: 0.5\n", "    critical: 0.3\n", 1)  # B's 0.33 is now only a warning
    assert text.count("risk-team") == 1 and "critical: 0.3\n" in text
    policy = tmp_path / "policy.yaml"
    policy.write_text(text, encoding="utf-8")
    res = _audit(tmp_path, "--policy", str(policy))
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    (finding,) = doc["findings"]
    assert (finding["severity"], finding["owner"], finding["action"], finding["threshold"]) == \
        ("warn", "risk-team", "alert", 0.8)
    assert doc["thresholds"]["critical_ratio"] == 0.3


def test_a_bad_policy_file_is_one_line_naming_it_and_the_field(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(PACKAGED.replace("    critical: 0.5\n", "    critical: half\n", 1), encoding="utf-8")
    res = _audit(tmp_path, "--policy", str(policy))
    assert res.exit_code == 2
    (line,) = res.stderr.splitlines()
    assert line.startswith(f"error: {policy}: checks.bias.selection_rate_disparity.critical: ")
