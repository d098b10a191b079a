"""The whole governance loop on PostgreSQL (issue #13, items 1 and 5): the demo workspace, every injection switch on,
governed into a server gives the findings the same workspace gives in a DuckDB file (check ids, subjects, severities,
observed values within 1e-9; tests/pg_scenarios.py), each switch's checks among them; an entity whose export lost its
primary key is refused and isolated there as on DuckDB; and ``steward demo --warehouse`` refuses a database that
already holds runs."""

from __future__ import annotations

import pandas as pd
import pytest

from pg_scenarios import Pair, assert_same_findings, govern_on_both, rerun_on_both
from steward.integrations.demo.injections import EXPECTED_CHECKS, Injections
from steward.integrations.warehouse import Warehouse


@pytest.fixture(scope="module")
def injected(tmp_path_factory, prefect_harness, pg_server) -> Pair:
    """The demo (every injection on) governed on DuckDB (the session's template) and on PostgreSQL (one run). The
    breaking-drift test runs again on both, so it comes after the tests that read the first runs."""
    return govern_on_both(tmp_path_factory, pg_server, "pg-demo")


@pytest.mark.slow
def test_the_demo_governed_into_postgres_gives_the_duckdb_findings(injected):
    got = assert_same_findings(injected)
    assert len(got) > 20
    assert Warehouse(injected.url).query_df("select status from ledger.runs")["status"].tolist() == ["completed"]


@pytest.mark.slow
def test_every_injection_switch_is_caught_on_postgres(injected):
    """One run with every switch on covers them all: each switch's checks (EXPECTED_CHECKS, the same table
    tests/dbt/test_injections.py holds DuckDB to, one switch at a time) alert on PostgreSQL."""
    assert Injections().enabled() == list(EXPECTED_CHECKS)  # the demo has every switch on
    alerting = {f.check_id for f in injected.pg.result.findings if f.severity in ("warn", "critical")}
    missed = {switch: sorted(set(checks) - alerting) for switch, checks in EXPECTED_CHECKS.items()
              if not set(checks) <= alerting}
    assert not missed, missed


@pytest.mark.slow
def test_every_command_that_opens_the_warehouse_works_on_postgres(injected, tmp_path):
    """Issue #13 item 1: the commands a team runs after a governance run read a PostgreSQL warehouse as they read a
    DuckDB file, and say the same (the campaigns paused, the report's counts, the health states, the evidence)."""
    import json

    from typer.testing import CliRunner

    from steward.flows.cli import app

    def steward(config, *args: str):
        result = CliRunner().invoke(app, [*args, "-c", str(config)])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    said = {}
    for side, run in (("duck", injected.duck), ("pg", injected.pg)):
        report = steward(run.config, "report", "--format", "json")
        campaigns = steward(run.config, "campaigns", "list")
        verify = steward(run.config, "audit", "log", "verify")
        alerts = steward(run.config, "alerts", "list", "--status", "all")
        health = steward(run.config, "health", "--latest", "--json")
        evidence = steward(run.config, "evidence", "--since", "2000-01-01", "--out", str(tmp_path / side))
        codes = [r.exit_code for r in (report, campaigns, verify, alerts, evidence)]
        assert codes == [0] * 5 and health.exit_code in (0, 1), (side, codes, health.output)
        doc = json.loads(report.output)
        said[side] = {"counts": doc["counts"], "paused": sorted(p["campaign_id"] for p in doc["paused"]),
                      "resume_lines": sum(line.startswith("to resume") for line in campaigns.output.splitlines()),
                      "health": sorted((h["integration"], h["state"]) for h in json.loads(health.output)
                                       ["integrations"]),
                      "obligations": len((tmp_path / side / "obligations.csv").read_text().splitlines())}
    assert said["pg"] == said["duck"] and said["pg"]["paused"], said


@pytest.mark.slow
def test_an_entity_that_lost_its_primary_key_is_refused_and_isolated_on_postgres(injected):
    """tests/flows/test_breaking_drift.py on PostgreSQL: the same refusal, nothing landed for the entity moves, its
    downstream checks are not evaluated, every other check judges what DuckDB judges."""
    wh = Warehouse(injected.url)
    landed = wh.query_df('select * from raw."salesforce__opportunities" order by "Id"')
    batches = wh.query_df("select * from ledger.batches where entity = 'opportunities' order by 1")

    def lose_the_key(root):
        path = root / "exports" / "salesforce" / "opportunities.csv"
        pd.read_csv(path, dtype=str).drop(columns=["Id"]).to_csv(path, index=False)

    after = rerun_on_both(injected, lose_the_key)
    refused = {side: [(r["integration"], r["entity"], r["rows_loaded"], r["refused"].split(": ", 1)[1])
                      for r in run.result.ingested if r["refused"]] for side, run in (("duck", after.duck),
                                                                                    ("pg", after.pg))}
    assert refused["pg"] == refused["duck"] == [
        ("salesforce", "opportunities", 0,
         "primary key column 'Id' of salesforce.opportunities is missing; cannot land without it")]
    assert wh.query_df('select * from raw."salesforce__opportunities" order by "Id"').equals(landed)
    assert wh.query_df("select * from ledger.batches where entity = 'opportunities' order by 1").equals(batches)
    gated = "select check_id, reason from ledger.health_gate where run_id = ? order by check_id"
    assert wh.query_df(gated, [after.pg.result.run_id]).values.tolist() == \
        Warehouse(after.duck.result.warehouse).query_df(gated, [after.duck.result.run_id]).values.tolist() != []
    got = assert_same_findings(after)
    assert ("data_quality.breaking_schema_drift", "salesforce/opportunities", "critical", 1.0) in got


def test_steward_demo_refuses_a_database_that_holds_runs(tmp_path, pg_server):
    from typer.testing import CliRunner

    from steward.flows.cli import app
    from steward.integrations.warehouse import ledger

    url = pg_server.fresh_database("used")
    ledger.start_run(Warehouse(url), "run-old", "governance", None)
    result = CliRunner().invoke(app, ["demo", "--source", "files", "--scale", "0.05", "--workdir", str(tmp_path),
                                      "--warehouse", url])
    assert result.exit_code == 2
    assert "already holds Steward runs" in result.output and "give it an empty database" in result.output
    bad = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path), "--warehouse", "postgresql://u:pw@h/d"])
    assert bad.exit_code == 2 and "must not hold a password" in bad.output and "pw" not in bad.output.split("@")[0]


@pytest.mark.slow
def test_a_daily_change_tests_only_the_recomputed_people_on_both_warehouses(tmp_path_factory, prefect_harness,
                                                                              pg_server):
    """dbt_project/macros/per_key_tests.sql on PostgreSQL as on DuckDB: after a complete run, a run that lands one
    more CDP profile runs the per-key model's key test on the people it recomputed (their keys table), and both
    warehouses still find the same."""
    import json

    from steward.flows.config import load_config

    pair = govern_on_both(tmp_path_factory, pg_server, "pg-vouched")

    def one_more_profile(root):
        path = root / "exports" / "cdp" / "profiles.parquet"
        frame = pd.read_parquet(path)
        pd.concat([frame, frame.tail(1).assign(profile_id="profile-vouched-pg", email="vouched-pg@example.com")],
                  ignore_index=True).to_parquet(path, index=False)

    after = rerun_on_both(pair, one_more_profile)
    for side in (after.duck, after.pg):
        results = load_config(side.config).work_dir / "dbt" / "target" / "run_results.json"
        ran = {r["unique_id"].split(".")[2]: r["compiled_code"] for r in json.loads(results.read_text())["results"]}
        assert "int_customers__unified__keys" in ran["primary_key_int_customers__unified_email_key"], side.config
    assert_same_findings(after)
