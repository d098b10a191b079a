"""examples/own-stack (#14): a foreign stack governed with mappings and codings alone.

The committed example is the generator's output; its planted problems are in the data (and absent from the clean
twin's), checked here in plain SQL over the files; a real governance run from the files, and one from the team's
warehouse tables, finds each planted problem and nothing else at warn or above; the clean twin's run finds nothing.
docs/your-own-stack.md's entity tables are generated from the contracts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from steward.contracts.docs import entities_markdown
from steward.contracts.frames.custom import CUSTOM_FRAMES
from steward.integrations.demo.own_stack import (PLANTED, example_policy, generate_own_stack, warehouse_config,
                                                 write_their_warehouse)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE, CLEAN = ROOT / "examples" / "own-stack", ROOT / "examples" / "own-stack-clean"
PAGE = ROOT / "docs" / "your-own-stack.md"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("folder,clean", [(EXAMPLE, False), (CLEAN, True)], ids=["planted", "clean"])
def test_the_committed_example_is_the_generators_output(tmp_path, folder, clean):
    generate_own_stack(tmp_path, clean=clean)
    assert _files(folder / "exports") == _files(tmp_path / "exports")
    config = (folder / "steward.yaml").read_text(encoding="utf-8")
    assert (folder / "steward-warehouse.yaml").read_text(encoding="utf-8") == warehouse_config(config)
    if not clean:
        assert (folder / "policy.yaml").read_text(encoding="utf-8") == example_policy()
    else:  # the twin maps the same systems the same way
        twin = yaml.safe_load(config)
        assert twin["integrations"] == yaml.safe_load((EXAMPLE / "steward.yaml").read_text())["integrations"]
        assert twin["policy"] == "../own-stack/policy.yaml"


@pytest.mark.parametrize("config", ["own-stack/steward.yaml", "own-stack/steward-warehouse.yaml",
                                    "own-stack-clean/steward.yaml", "own-stack-clean/steward-warehouse.yaml"])
def test_the_example_configs_load_with_their_mappings(config):
    from steward.flows.config import load_config

    cfg = load_config(ROOT / "examples" / config)
    assert {i.name: sorted(i.mappings) for i in cfg.integrations} == {
        "klaviyo": ["campaigns", "engagement_events", "people", "touches"], "meta_ads": ["ad_spend", "campaigns"],
        "crm": ["erasure_requests", "people"], "ml": ["decisions"]}
    assert {i.kind for i in cfg.integrations} == {"warehouse_tables" if "warehouse" in config else "export_files"}


def test_every_planted_problem_is_documented_in_the_readme():
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    for name, planted in PLANTED.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
        assert all(f"`{check}` (`{subject}`)" in row for check, subject in planted.checks.items()), name


# ------------------------------------------------------------------ the problems are in the data, not in the clean twin
def _measures(tmp_path: Path, clean: bool) -> dict[str, object]:
    """Each planted problem measured straight from the generated files, as a reader of the exports would."""
    root = tmp_path / ("clean" if clean else "planted")
    files = generate_own_stack(root, clean=clean, as_of=pd.Timestamp("2026-12-05T12:00:00Z"))
    f = {name.split("/")[1].split(".")[0]: str(path) for name, path in files.items()}
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    for name, path in f.items():
        reader = "read_json_auto" if path.endswith(".jsonl") else "read_csv_auto"
        con.execute(f"create view {name} as select * from {reader}('{path}')")
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "sends_after_crm_opt_out": one(
            "select count(distinct s.Email) from received_email s join customers c on c.email_address = s.Email "
            "where c.marketing_opt_out = 'Y' and s.Timestamp > cast(c.opt_out_date as timestamp)"),
        "people_over_weekly_cap": one(
            "select count(*) from (select Email from received_email where Timestamp >= timestamp '2026-11-28' "
            "group by Email having count(*) > 5)"),
        "erased_still_in_klaviyo": one(
            "select count(*) from profiles p join dsar_log d on d.email_sha256 = sha256(p.Email) "
            "where d.state = 'Closed'"),
        "spend_gaps": [r[0] for r in con.execute(
            "select cast(i.\"Campaign ID\" as varchar) from insights i join bookings b "
            "on b.\"Meta Campaign ID\" = i.\"Campaign ID\" "
            "group by 1 having abs(sum(\"Amount spent (EUR)\") - any_value(\"Booked cost\")) "
            "> 0.05 * sum(\"Amount spent (EUR)\") order by 1").fetchall()],
        "spend_after_flight": [r[0] for r in con.execute(
            "select distinct cast(i.\"Campaign ID\" as varchar) from insights i join bookings b "
            "on b.\"Meta Campaign ID\" = i.\"Campaign ID\" "
            "where i.Day > strptime(b.\"Flight end\", '%d %b %Y') + interval 1 day order by 1").fetchall()],
        "unreviewed_65_plus": one(
            "select count(*) from decision_log d join customers c on c.customer_ref = d.customer_ref "
            "where c.age >= 65 and d.reviewer is null"),
        "offer_rate_ratio_f_m": one(
            "select avg(case when c.sex = 'F' then (action = 'offer_discount')::int end) "
            "/ avg(case when c.sex = 'M' then (action = 'offer_discount')::int end) "
            "from decision_log d join customers c on c.customer_ref = d.customer_ref"),
        "sex_codes": sorted(r[0] for r in con.execute("select distinct sex from customers").fetchall()),
    }


def test_the_planted_problems_are_in_the_data_and_absent_from_the_clean_twin(tmp_path):
    planted, clean = _measures(tmp_path, clean=False), _measures(tmp_path, clean=True)
    assert planted["sends_after_crm_opt_out"] == 6 and clean["sends_after_crm_opt_out"] == 0
    assert planted["people_over_weekly_cap"] >= 100 and clean["people_over_weekly_cap"] == 0
    assert planted["erased_still_in_klaviyo"] == 3 and clean["erased_still_in_klaviyo"] == 0
    assert planted["spend_gaps"] == ["23850000000000002"] and clean["spend_gaps"] == []
    assert planted["spend_after_flight"] == ["23850000000000003"] and clean["spend_after_flight"] == []
    assert planted["unreviewed_65_plus"] > 20 and clean["unreviewed_65_plus"] == 0
    assert planted["offer_rate_ratio_f_m"] < 0.7 and 0.85 < clean["offer_rate_ratio_f_m"] < 1.15
    assert planted["sex_codes"] == ["F", "M", "U", "X"] and clean["sex_codes"] == ["F", "M", "U"]


def test_their_warehouse_holds_the_exports_as_tables_and_a_view(tmp_path):
    generate_own_stack(tmp_path)
    db = write_their_warehouse(tmp_path, tmp_path / "their.duckdb")
    with duckdb.connect(str(db), read_only=True) as con:
        kinds = dict(con.execute("select table_schema || '.' || table_name, table_type "
                                 "from information_schema.tables").fetchall())
        assert kinds["analytics.email_engagement"] == "VIEW" and kinds["klaviyo.profiles"] == "BASE TABLE"
        metrics = {r[0] for r in con.execute('select distinct "Metric Name" from analytics.email_engagement')
                   .fetchall()}
        assert metrics == {"Opened Email", "Clicked Email", "Unsubscribed"}
        assert con.execute("select count(*) from crm.customers").fetchone()[0] == 397  # 3 erased by the CRM


# ------------------------------------------------------------------------------------------------ the generated docs
def test_the_entity_tables_in_the_walk_through_are_current():
    from steward.flows.cli import app

    result = CliRunner().invoke(app, ["contracts", "entities", "--check", "-o", str(PAGE)])
    assert result.exit_code == 0, result.output


def test_every_entity_and_column_is_listed_and_staleness_is_caught(tmp_path):
    from steward.contracts.registry import SOURCE_CONTRACTS
    from steward.flows.cli import app

    tables = entities_markdown()
    for entity in CUSTOM_FRAMES:
        assert f"\n### {entity}\n" in tables
        assert all(f"| `{column}` |" in tables for column in SOURCE_CONTRACTS[f"custom.{entity}"].columns())
    assert "| `updated_at` | yes | timestamp |" in tables and "| `age` | no | number | >= 0, <= 130 |" in tables
    stale = tmp_path / "page.md"
    stale.write_text(PAGE.read_text(encoding="utf-8").replace("| `touch_id` | yes |", "| `touch_id` | no |", 1))
    result = CliRunner().invoke(app, ["contracts", "entities", "--check", "-o", str(stale)])
    assert result.exit_code == 1 and "out of date" in result.output
    assert CliRunner().invoke(app, ["contracts", "entities", "-o", str(stale)]).exit_code == 0
    assert stale.read_text(encoding="utf-8") == PAGE.read_text(encoding="utf-8")
    bare = tmp_path / "bare.md"
    bare.write_text("# no markers\n")
    result = CliRunner().invoke(app, ["contracts", "entities", "-o", str(bare)])
    assert result.exit_code == 2 and "bare.md" in result.output


# ------------------------------------------------------------------------------------- governance runs, end to end
def _governed(tmp_path_factory, name: str, config: str, clean: bool = False):
    """A real governance run of a copy of the example, re-dated to now (the checks judge recent weeks)."""
    from steward.flows.governance import RunParams, governance_run

    root = tmp_path_factory.mktemp(name)
    for folder in (EXAMPLE, CLEAN):  # the clean twin reads ../own-stack/policy.yaml
        shutil.copytree(folder, root / folder.name, ignore=shutil.ignore_patterns("exports"))
    work = root / (CLEAN if clean else EXAMPLE).name
    generate_own_stack(work, clean=clean, as_of=pd.Timestamp.now(tz="UTC"))
    if config == "steward-warehouse.yaml":
        write_their_warehouse(work, work / "their-warehouse.duckdb")
    result = governance_run(RunParams(config=str(work / config)))
    assert result.status == "completed", result.status
    return result


def _alerting(result) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in result.findings:
        if f.severity in ("warn", "critical"):
            found.setdefault(f.check_id, []).append(f.subject)
    return found


def _finds_exactly_the_planted_problems(result) -> None:
    found = _alerting(result)
    expected = {check for planted in PLANTED.values() for check in planted.checks}
    assert set(found) == expected, {"unexpected": {c: found[c] for c in set(found) - expected},
                                    "missed": sorted(expected - set(found))}
    for name, planted in PLANTED.items():  # each problem is named by the subject of each of its checks
        for check, fragment in planted.checks.items():
            assert any(fragment in subject for subject in found[check]), (name, check, found[check])


@pytest.fixture(scope="module")
def from_files(prefect_harness, tmp_path_factory):
    return _governed(tmp_path_factory, "own-stack-files", "steward.yaml")


@pytest.fixture(scope="module")
def clean_twin(prefect_harness, tmp_path_factory):
    return _governed(tmp_path_factory, "own-stack-clean", "steward.yaml", clean=True)


@pytest.fixture(scope="module")
def from_warehouse(prefect_harness, tmp_path_factory):
    return _governed(tmp_path_factory, "own-stack-warehouse", "steward-warehouse.yaml")


@pytest.fixture(scope="module")
def clean_twin_from_warehouse(prefect_harness, tmp_path_factory):
    return _governed(tmp_path_factory, "own-stack-clean-warehouse", "steward-warehouse.yaml", clean=True)


def test_a_run_from_the_files_finds_each_planted_problem_and_nothing_else(from_files):
    _finds_exactly_the_planted_problems(from_files)
    landed = {(i["integration"], i["entity"]) for i in from_files.ingested}
    assert {("klaviyo", "touches"), ("meta_ads", "ad_spend"), ("crm", "people"), ("ml", "decisions")} <= landed


def test_the_clean_twin_finds_nothing_at_warn_or_above(clean_twin):
    assert _alerting(clean_twin) == {}


def test_a_run_from_their_warehouse_finds_the_same(from_warehouse, from_files):
    _finds_exactly_the_planted_problems(from_warehouse)
    subjects = lambda r: sorted((f.check_id, f.subject, f.severity) for f in r.findings)  # noqa: E731
    assert subjects(from_warehouse) == subjects(from_files)


def test_the_clean_twin_from_their_warehouse_finds_nothing_either(clean_twin_from_warehouse, clean_twin):
    assert _alerting(clean_twin_from_warehouse) == {}
    subjects = lambda r: sorted((f.check_id, f.subject, f.severity) for f in r.findings)  # noqa: E731
    assert subjects(clean_twin_from_warehouse) == subjects(clean_twin)
