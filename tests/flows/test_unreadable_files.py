"""Whatever file is given as steward.yaml, policy or launch spec, the answer is one line naming it and exit 2.

A binary file used to end in a 76-line traceback and exit 1 (issue #16, case 11). The three loaders now share one
reader (``contracts/yaml_input.py``); these tests go through the real ``steward`` command. The binary file given as
each of the three, and the policy that would run code, go through a ``steward`` process, the way a user meets them
(its exit code, no traceback); the other contents and policies reach the same loaders through the same entry point
in the pytest process (tests/cli_in_process.py), a refusal decided before anything runs, without 3 CPU seconds of a
new process each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from steward.contracts import yaml_input
from steward.contracts.policy import load_policy
from steward.flows.config import load_config
from steward.flows.launch_spec import load_launch_spec
from steward.contracts.errors import ConfigError
from cli_in_process import steward_in_process
from test_cli_end_to_end import steward

pytestmark = pytest.mark.slow

CONFIG = {"integrations": [{"name": "hubspot", "platform": "hubspot", "path": "exports"}]}
BAD = {
    "binary": (bytes(range(256)) * 8, "is a binary file, not a YAML"),
    "latin-1": ("owner: Ana Muñoz\nchecks: {}\n".encode("latin-1"), "is not UTF-8 text (byte 0xf1 at offset 13)"),
    "not a mapping": (b"- checks\n- integrations\n", "expected a mapping with "),
    "empty": (b"", " is empty; expected a mapping with "),
    "comments only": (b"# nothing yet\n", " is empty; expected a mapping with "),
}


def _errors(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


def _cli_error(proc, path: Path, expected: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = _errors(proc)
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"error: {path}: ") and expected in errors[0], errors[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["config", "policy", "launch spec"])
@pytest.mark.parametrize("bad", ["binary", "latin-1", "not a mapping", "empty"])
def test_an_unreadable_file_is_one_line_and_exit_2(tmp_path, kind, bad):
    content, expected = BAD[bad]
    target = tmp_path / {"config": "steward.yaml", "policy": "policy.yaml", "launch spec": "launch.yaml"}[kind]
    target.write_bytes(content)
    if kind != "config":
        config = {**CONFIG, **({"policy": "policy.yaml"} if kind == "policy" else {})}
        (tmp_path / "steward.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    if kind == "launch spec":
        args = ("audit-launch", str(target), "-c", str(tmp_path / "steward.yaml"))
    else:
        args = ("run", "-c", str(tmp_path / "steward.yaml"))
    proc = (steward if bad == "binary" else steward_in_process)(*args, cwd=tmp_path)
    _cli_error(proc, target, expected)
    assert not (tmp_path / "steward.duckdb").exists()  # refused before anything was opened
    if bad == "binary":  # the in-process call gives the process's answer
        again = steward_in_process(*args, cwd=tmp_path)
        assert (again.returncode, again.stdout, _errors(again)) == (proc.returncode, proc.stdout, _errors(proc))


RULE = {"family": "privacy_consent", "mart": "gov_consent__channel_purpose", "subject_type": "channel",
        "subject": "{channel}", "key": ["channel"], "metric": "people_without_consent", "direction": "max",
        "critical": 0, "explanation": "{channel}"}
HOSTILE_POLICIES = {  # issue #16 cases 1, 3 and 11, as a user meets them: refused before anything runs
    "where runs code": ({"checks": {"consent.x": {**RULE, "where": "channel == 'email' and "
                                                                  "@pd.io.common.os.system('env > f') == 0"}}},
                        "checks.consent.x.where: Value error, not a filter expression"),
    "scope value reaches SQL": ({"checks": {}, "scope": {"bias_models": {"lead_scoring": [
        "priority') or (decisions.decision is not null) or decisions.decision in ('x"]}}},
        "scope.bias_models.lead_scoring.decisions.0: String should match pattern"),
    "negative threshold": ({"checks": {"consent.x": {**RULE, "critical": None, "warn": -0.05}}},
                           "checks.consent.x: Value error, warn -0.05 is below 0"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_POLICIES))
def test_a_hostile_policy_is_refused_by_steward_run(tmp_path, case):
    policy, expected = HOSTILE_POLICIES[case]
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
    (tmp_path / "steward.yaml").write_text(yaml.safe_dump({**CONFIG, "policy": "policy.yaml"}), encoding="utf-8")
    run = steward if case == "where runs code" else steward_in_process
    proc = run("run", "-c", str(tmp_path / "steward.yaml"), cwd=tmp_path)
    _cli_error(proc, tmp_path / "policy.yaml", expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.yaml", "steward.yaml"]  # no 'f', no warehouse


LOADERS = {"config": load_config, "policy": load_policy, "launch spec": load_launch_spec}


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("bad", sorted(BAD))
def test_every_loader_refuses_the_same_way(tmp_path, loader, bad):
    content, expected = BAD[bad]
    path = tmp_path / "file.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        LOADERS[loader](path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_folder_a_yaml_error_and_a_missing_file(tmp_path, loader):
    load = LOADERS[loader]
    with pytest.raises(ConfigError, match=r"not found"):
        load(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: 1\n  b: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML at line 2: mapping values are not allowed"):
        load(broken)
    control = tmp_path / "control.yaml"
    control.write_bytes(b"a: \x07bell\n")
    with pytest.raises(ConfigError, match=r"control\.yaml: not valid YAML: unacceptable character"):
        load(control)


def test_aliases_cannot_multiply_a_small_file_into_a_huge_one(tmp_path):
    """The "billion laughs": nine levels of ten aliases each would be 10**9 values for pydantic to walk."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size < 1000
    with pytest.raises(ConfigError, match=r"laughs\.yaml: the YAML expands to more than 1,000,000 values"):
        load_policy(path)


def test_a_file_over_the_size_cap_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_input, "MAX_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text("checks: {}\n" + "# padding\n" * 20, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"big\.yaml: 211 bytes is too large for a policy file \(at most 100\)"):
        load_policy(path)


def test_a_utf8_bom_and_shared_anchors_still_load(tmp_path):
    path = tmp_path / "steward.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump(CONFIG).encode())
    assert load_config(path).integrations[0].name == "hubspot"
    policy = tmp_path / "policy.yaml"
    policy.write_text("checks:\n"
                      "  a.one: &base {family: privacy_consent, mart: gov_x, subject_type: s, subject: s,\n"
                      "                key: [k], metric: m, direction: max, critical: 0, explanation: e}\n"
                      "  a.two: {<<: *base, warn: 0}\n", encoding="utf-8")
    checks = load_policy(policy).checks
    assert (checks["a.one"].warn, checks["a.two"].warn, checks["a.two"].mart) == (None, 0, "gov_x")
