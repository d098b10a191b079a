"""The whole governance loop on PostgreSQL (issue #13, items 1 and 5): the demo workspace governed into a server
gives the findings the same workspace gives in a DuckDB file (check ids, subjects, severities, observed values
within 1e-9), and ``steward demo --warehouse`` refuses a database that already holds runs."""

from __future__ import annotations

from datetime import datetime, timezone

import yaml

from governed import demo_run_copy
from steward.flows.governance import RunParams, governance_run
from steward.integrations.warehouse import Warehouse

# hours since the newest batch of a stale source: measured against the clock, so it grows between the two runs
CLOCK_BOUND = {"integration_health.stale_source"}


def _findings(wh: Warehouse, run_id: str) -> list[tuple]:
    return sorted(wh.query_df("select check_id, subject, severity, observed from ledger.findings where run_id = ?",
                              [run_id]).itertuples(index=False, name=None))


def test_the_demo_governed_into_postgres_gives_the_duckdb_findings(tmp_path_factory, prefect_harness, pg_server):
    duck = demo_run_copy(tmp_path_factory, "pg-demo")
    url = pg_server.fresh_database("demo")
    config = duck.config.with_name("steward.pg.yaml")
    config.write_text(yaml.safe_dump({**yaml.safe_load(duck.config.read_text()), "warehouse": url}))
    started = datetime.now(timezone.utc)
    result = governance_run(RunParams(config=str(config), kind="demo"))
    assert result.status == "completed" and result.warehouse == url
    want = _findings(Warehouse(duck.result.warehouse), duck.result.run_id)
    got = _findings(Warehouse(url), result.run_id)
    assert len(want) > 20 and [f[:3] for f in got] == [f[:3] for f in want]
    hours = (datetime.now(timezone.utc) - started).total_seconds() / 3600 + 24  # the template may be a day old
    for (check_id, subject, _, observed), (_, _, _, expected) in zip(got, want):
        tolerance = hours if check_id in CLOCK_BOUND else 1e-9
        assert (observed is None) == (expected is None), (check_id, subject)
        assert observed is None or abs(observed - expected) <= tolerance, (check_id, subject, observed, expected)
    assert Warehouse(url).query_df("select status from ledger.runs")["status"].tolist() == ["completed"]


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
