"""The pre-launch audit on a PostgreSQL warehouse (issue #13): the injected demo governed into a server gives the
verdict and reasons, with their observed values and evidence, that the same workspace gives in a DuckDB file. Both
example specs used here select their audience with SQL, so this is also the confined query running on the server."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from governed import demo_run_copy
from pg_scenarios import pg_demo_run_copy
from steward.flows.prelaunch import LaunchParams, prelaunch_audit
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "launches"


@pytest.fixture(scope="module")
def governed(tmp_path_factory, prefect_harness, pg_server) -> tuple[Path, Path]:
    """The session's governed injected demo (DuckDB) and the same workspace governed once into PostgreSQL (the
    session's run there, cloned: tests/pg_scenarios.py ``pg_demo_run_copy``)."""
    duck = demo_run_copy(tmp_path_factory, "launch-pg")
    pg = pg_demo_run_copy(tmp_path_factory, pg_server, "launch-pg-postgres")
    assert pg.result.status == "completed"
    return duck.config, pg.config


# the age of the newest batch is measured against the clock, and the two audits run a few seconds apart
CLOCK_BOUND = {"launch.data_freshness"}


def _close(a, b, tol: float = 1e-9) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    return a == b


def _reasons(reasons: list[dict]) -> dict[tuple, dict]:
    return {(r["check_id"], r["subject"]): r for r in reasons}


def _same_reasons(pg: list[dict], duck: list[dict]) -> None:
    pg_by, duck_by = _reasons(pg), _reasons(duck)
    assert pg_by.keys() == duck_by.keys()
    for key, want in duck_by.items():
        got = pg_by[key]
        clock = key[0] in CLOCK_BOUND
        for field in ("kind", "observed", "threshold", "explanation", "condition", "evidence", "sample_query"):
            if clock and field == "explanation":
                continue  # it states the age, rounded
            assert _close(got.get(field), want.get(field), 1e-3 if clock else 1e-9), \
                (key, field, got.get(field), want.get(field))


def test_steward_audit_launch_on_postgres_gives_the_duckdb_no_go(governed):
    duck_config, pg_config = governed
    from steward.flows.cli import app

    spec = EXAMPLES / "nogo-priority-leads.yaml"
    run = CliRunner().invoke(app, ["audit", "launch", str(spec), "-c", str(pg_config), "--json", "--no-notify"])
    assert run.exit_code == 1, run.output  # NO-GO gates a release pipeline on a server warehouse too
    on_pg = json.loads(run.stdout.strip().splitlines()[-1])
    on_duck = prelaunch_audit(LaunchParams(config=str(duck_config), spec=str(spec), notify=False))
    assert on_pg["verdict"] == on_duck.verdict == "NO-GO"
    assert on_pg["checks_evaluated"] == on_duck.checks_evaluated
    duck = on_duck.model_dump(mode="json")
    _same_reasons(on_pg["blocking"], duck["blocking"])
    _same_reasons(on_pg["conditions"], duck["conditions"])
    assert ("launch.audience_bias", "age_band=55-64") in _reasons(on_pg["blocking"])
    stored = Warehouse(on_pg["warehouse"]).query_df(
        "select verdict, reasons from ledger.launch_audits where audit_id = ?", [on_pg["audit_id"]]).iloc[0]
    assert stored["verdict"] == "NO-GO" and len(json.loads(stored["reasons"])) == len(duck["blocking"]) + len(
        duck["conditions"])


def test_the_consented_query_launch_on_postgres_gives_the_duckdb_verdict(governed):
    duck_config, pg_config = governed
    spec = str(EXAMPLES / "go-consented-upgrade.yaml")
    on_pg, on_duck = (prelaunch_audit(LaunchParams(config=str(c), spec=spec, notify=False))
                      for c in (pg_config, duck_config))
    assert on_pg.verdict == on_duck.verdict
    dumped = [r.model_dump(mode="json") for r in (on_pg, on_duck)]
    _same_reasons(dumped[0]["blocking"], dumped[1]["blocking"])
    _same_reasons(dumped[0]["conditions"], dumped[1]["conditions"])
    audience = Warehouse(on_pg.warehouse).query_df("select count(*) as n from launch_input.audience")["n"][0]
    assert audience > 0  # the spec's own query chose these people, on the server
