"""Issue #18: the scope defaults lived in three places (policy.py, policy.yaml, dbt_project.yml) and had drifted:
``volume_baseline_batches`` existed only in dbt_project.yml, so no policy could set it. Now Scope's defaults are the
one copy: the packaged policy sets only what it changes, and dbt_project.yml's vars are generated from Scope."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

from steward.contracts.policy import DEFAULT_POLICY, Scope, load_policy
from steward.contracts.scope_vars import RUNTIME_VARS, default_vars, with_vars_block
from steward.contracts.yaml_input import parse_yaml_mapping, read_yaml_mapping
from steward.flows import scope_vars
from steward.integrations.transform.dbt_build import dbt_project_dir

PROJECT_YML = dbt_project_dir() / "dbt_project.yml"


def test_dbt_project_vars_are_generated_from_scope():
    text = PROJECT_YML.read_text(encoding="utf-8")
    assert with_vars_block(text) == text, "run: python -m steward.flows.scope_vars --write"
    assert read_yaml_mapping(PROJECT_YML, "dbt project", "'vars'")["vars"] == default_vars()
    assert scope_vars.main([]) == 0


def test_stale_vars_are_caught_and_rewritten(tmp_path, capsys):
    project = tmp_path / "dbt_project.yml"
    shutil.copy(PROJECT_YML, project)
    current = project.read_text(encoding="utf-8")
    project.write_text(current.replace("metric_window_days: 28", "metric_window_days: 29"), encoding="utf-8")
    assert scope_vars.main([], project_yml=project) == 1
    assert "python -m steward.flows.scope_vars --write" in capsys.readouterr().err
    assert scope_vars.main(["--write"], project_yml=project) == 0
    assert project.read_text(encoding="utf-8") == current
    project.write_text("name: steward\nvars: {}\n", encoding="utf-8")  # markers removed: refused, not guessed
    assert scope_vars.main(["--write"], project_yml=project) == 2


def test_every_var_the_project_reads_has_a_default_in_scope():
    """A var only dbt_project.yml knew (volume_baseline_batches) could not be set by a policy nor seen in its docs."""
    sql = "\n".join(p.read_text(encoding="utf-8") for p in dbt_project_dir().rglob("*.sql"))
    read = set(re.findall(r"var\(\s*'([a-z_]+)'\s*\)", sql))  # var('x', default) carries its own default
    assert read and read <= set(default_vars())
    assert set(default_vars()) - set(RUNTIME_VARS) == set(Scope.model_fields) | {"codings"}  # codings: one var
    assert "volume_baseline_batches" in load_policy().dbt_vars()


def test_the_packaged_policy_sets_only_what_differs_from_the_defaults():
    text = resources.files("steward.contracts").joinpath(DEFAULT_POLICY).read_bytes()
    scope = parse_yaml_mapping(text, "default policy", "policy file", "'checks'")["scope"]
    defaults = Scope().model_dump()
    validated = Scope.model_validate(scope).model_dump()
    repeated = [key for key in scope if validated[key] == defaults[key]]
    assert not repeated, f"policy.yaml repeats the Scope default of {repeated}; leave them out"
    assert load_policy().dbt_vars() == {**defaults, **validated, "codings": load_policy().codings.dbt_var()}
    assert validated["freshness_sla_hours"] == {"default": 48, "google_ads": 72}  # ad platforms report a day late


def test_steward_hands_dbt_the_policy_scope_not_the_project_copy(tmp_path):
    """The policy's values reach dbt on every invocation; dbt_project.yml's copy is for standalone runs only."""
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("checks: {}\nscope: {volume_baseline_batches: 3, metric_window_days: 14}\n")
    passed = load_policy(policy_file).dbt_vars()
    assert passed["volume_baseline_batches"] == 3 and passed["metric_window_days"] == 14
    assert passed["freshness_sla_hours"] == {"default": 48}  # a policy without the key gets Scope's default


def test_every_scope_key_is_in_the_policy_docs_table():
    page = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")
    assert [key for key in Scope.model_fields if f"| `{key}` |" not in page] == []
