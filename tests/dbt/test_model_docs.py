"""Issue #18: 35 of the 69 dbt models and every column the checks read had no description. Now every model is
described in its yml, with every column a policy check reads (metric, key, evidence, filter and template fields),
and ``dbt docs generate`` builds the documentation site from them."""

from __future__ import annotations

import json
from pathlib import Path
from string import Formatter

import pytest

from steward.contracts.filters import parse_filter
from steward.contracts.policy import CheckRule, Policy, load_policy
from steward.contracts.yaml_input import read_yaml_mapping
from steward.integrations.transform.dbt_build import dbt_project_dir
from steward.integrations.warehouse.landing import ensure_raw_tables
from steward.integrations.warehouse import Warehouse

PROJECT = dbt_project_dir()
_FILLED_BY_STEWARD = {"observed", "threshold", "severity"}  # template fields the judge adds, not mart columns


def columns_read(rule: CheckRule) -> set[str]:
    """Every mart column judging ``rule`` reads: the metric, key, evidence, its filter's and its templates' fields."""
    templates = [rule.subject, rule.explanation, getattr(rule, "condition", "")]
    fields = {name.split(".")[0].split("[")[0] for text in templates for _, name, _, _ in Formatter().parse(text)
              if name}
    filtered = set(parse_filter(rule.where).columns) if rule.where else set()
    return ({rule.metric, *rule.key, *rule.evidence} | filtered | fields) - _FILLED_BY_STEWARD


def all_checks(policy: Policy) -> dict[str, CheckRule]:
    return {**policy.checks, **(policy.launch.checks if policy.launch else {})}


def undocumented(models: dict[str, dict], policy: Policy) -> list[str]:
    """``model`` or ``model.column`` for everything that lacks a description; ``models`` is name -> its yml entry."""
    missing = sorted(name for name, entry in models.items() if not str(entry.get("description") or "").strip())
    for check_id, rule in all_checks(policy).items():
        columns = {c["name"]: c for c in (models.get(rule.mart, {}).get("columns") or [])}
        missing += sorted(f"{rule.mart}.{column} ({check_id})" for column in columns_read(rule)
                          if not str(columns.get(column, {}).get("description") or "").strip())
    return missing


def _yml_models() -> dict[str, dict]:
    models: dict[str, dict] = {}
    for path in sorted((PROJECT / "models").rglob("*.yml")):
        for entry in read_yaml_mapping(path, "dbt properties file", "'models' or 'sources'").get("models") or []:
            models[entry["name"]] = entry
    sql = {p.stem for p in (PROJECT / "models").rglob("*.sql")}
    for name in sql - set(models):
        models[name] = {}  # a model no yml mentions is undescribed too
    return models


def test_every_model_and_every_column_a_check_reads_is_described():
    models = _yml_models()
    assert len(models) >= 69
    assert undocumented(models, load_policy()) == []


def test_a_missing_description_is_named():
    models = _yml_models()
    policy = load_policy()
    rule = policy.checks["reconciliation.consent_crm_vs_esp"]
    mart = dict(models[rule.mart])
    mart["columns"] = [c for c in mart["columns"] if c["name"] != "people_compared"]
    models = {**models, rule.mart: mart, "stg_hubspot__contacts": {"name": "stg_hubspot__contacts"}}
    assert undocumented(models, policy) == [
        "stg_hubspot__contacts", "gov_reconciliation__consent.people_compared (reconciliation.consent_crm_vs_esp)"]


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory) -> Path:
    """``dbt docs generate`` on an empty warehouse in its raw tables' shape, without compiling: the manifest and the
    catalog (the raw sources' real columns) come out without building a model."""
    from dbt.cli.main import dbtRunner

    work = tmp_path_factory.mktemp("dbt-docs")
    wh = Warehouse(work / "docs.duckdb")
    ensure_raw_tables(wh)
    (work / "profiles.yml").write_text(
        "steward:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
        f"      path: {json.dumps(str(wh.path))}\n      schema: main\n      threads: 1\n", encoding="utf-8")
    common = ["--project-dir", str(PROJECT), "--profiles-dir", str(work), "--target-path", str(work / "target"),
              "--log-path", str(work / "logs"), "--log-level", "none", "--vars", json.dumps(load_policy().dbt_vars())]
    for command in (["parse"], ["docs", "generate", "--no-compile"]):  # parse writes manifest.json; docs the rest
        result = dbtRunner().invoke([*command, *common])
        assert result.success, (command, result.exception)
    return work / "target"


def test_dbt_docs_generate_builds_the_site(docs_site):
    assert (docs_site / "index.html").is_file()
    manifest = json.loads((docs_site / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((docs_site / "catalog.json").read_text(encoding="utf-8"))
    nodes = [*manifest["nodes"].values(), *(n for versions in manifest["disabled"].values() for n in versions)]
    # the launch__* models are disabled in a build without a launch spec; they are documented all the same
    models = {node["name"]: node for node in nodes if node["resource_type"] == "model"}
    assert len(models) == len(list((PROJECT / "models").rglob("*.sql")))
    described = {name: {"description": node["description"], "columns": list(node["columns"].values())}
                 for name, node in models.items()}
    assert undocumented(described, load_policy()) == []
    assert "source.steward.salesforce.contacts" in catalog["sources"]  # the catalog read the warehouse
