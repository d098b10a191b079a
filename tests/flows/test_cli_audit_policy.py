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


# the packaged policy's light read builds only the parts it names (contracts/yaml_input.py parse_yaml_parts)
BIAS_PARTS = {"owner": None, "checks": ("bias.selection_rate_disparity", "bias.adverse_rate_disparity"),
              "audits": ("bias",)}


def _whole_parts(text: str, parts: dict) -> dict:
    from steward.contracts.yaml_input import parse_yaml_mapping

    whole = parse_yaml_mapping(text, "p", "policy file", "'checks'")
    return {k: v if parts[k] is None or not isinstance(v, dict) else {e: v[e] for e in v if e in parts[k]}
            for k, v in whole.items() if k in parts}


def test_the_parts_read_equal_the_same_parts_of_the_whole_document():
    from steward.contracts.yaml_input import parse_yaml_parts, read_packaged_yaml_parts

    got = read_packaged_yaml_parts("policy.yaml", "default policy", "policy file", "'checks'", BIAS_PARTS)
    assert got == _whole_parts(PACKAGED, BIAS_PARTS)
    assert set(got["checks"]) == set(BIAS_PARTS["checks"]) and got["audits"]["bias"]["error_rate_ratio"] == 1.25
    everything = {k: None for k in ("version", "owner", "alerts", "checks", "audits", "launch", "missing")}
    assert parse_yaml_parts(PACKAGED, "p", "policy file", "'checks'", everything) == _whole_parts(PACKAGED,
                                                                                                  everything)


def test_odd_documents_read_as_the_whole_reader_reads_them():
    """A key given twice (the last wins), a merge key, a number as a key, a level that is not a mapping: the same
    parts as the whole document's; a syntax error, an empty file, a list, a number as a top-level key: the whole
    reader's one-line error."""
    import pytest

    from steward.contracts.errors import ConfigError
    from steward.contracts.yaml_input import parse_yaml_mapping, parse_yaml_parts

    parts = {"owner": None, "checks": ("a", "b")}
    for text in ("owner: x\nchecks: {a: 1, c: 2}\nowner: y\n", "base: &b {a: 1}\nchecks:\n  <<: *b\n  b: 2\n",
                 "owner: x\nchecks: {1: one, a: [1, 2]}\n", "checks: [a, b]\nowner: {n: 1}\n",
                 "checks: {a: {b: 1}, a: 2}\n"):
        assert parse_yaml_parts(text, "p", "policy file", "'checks'", parts) == _whole_parts(text, parts), text
    for text in ("owner: [x\n", "", "- a\n- b\n", "owner: x\n\tchecks: 1\n", "1: x\nowner: z\nchecks: {b: null}\n"):
        with pytest.raises(ConfigError) as whole:
            parse_yaml_mapping(text, "p", "policy file", "'checks'")
        with pytest.raises(ConfigError) as light:
            parse_yaml_parts(text, "p", "policy file", "'checks'", parts)
        assert str(light.value) == str(whole.value), text


def test_a_part_whose_aliases_expand_past_the_bound_is_refused_and_one_outside_the_parts_is_not_built():
    import pytest

    from steward.contracts.errors import ConfigError
    from steward.contracts.yaml_input import parse_yaml_parts

    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
        f"*a{i - 1}, *a{i - 1}]\n" for i in range(1, 7))
    with pytest.raises(ConfigError, match="more than 1,000,000 values"):
        parse_yaml_parts(bomb + "checks: {a: *a6}\n", "p", "policy file", "'checks'", {"checks": ("a",)})
    assert parse_yaml_parts(bomb + "owner: x\n", "p", "policy file", "'checks'", {"owner": None}) == {"owner": "x"}
