"""A second governance run with nothing new rebuilds only what reads the run's time, says so, and judges the same
findings as the first run, which built everything (flows/steps.py ``transform``, integrations/transform/changes.py).

The first run is the session's governed demo (tests/governed.py ``demo_run_copy``); its folder is copied to another
path, which keeps its build state: the state's key is the project and the policy, not where the warehouse lives."""

from __future__ import annotations

import json

import pytest

from governed import demo_run_copy
from steward.flows.governance import RunParams, governance_run
from steward.flows.progress import set_reporter
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow


def test_a_run_with_nothing_new_rebuilds_only_time_dependent_nodes(prefect_harness, tmp_path_factory):
    demo = demo_run_copy(tmp_path_factory, "changed", scale=0.2)
    first = demo.result
    said: list[tuple[str, str]] = []
    set_reporter(lambda stage, detail: said.append((stage, detail)))
    try:
        second = governance_run(RunParams(config=str(demo.config), kind="demo"))
    finally:
        set_reporter(None)
    assert first.transform.startswith("all models rebuilt")
    assert second.transform.startswith("built ") and f"unchanged since run {first.run_id}" in second.transform
    assert "time-dependent: " in second.transform
    # the PII scan rewrites its ledger table at every run: the only source that may count as changed
    assert "sources changed" not in second.transform or "sources changed: steward.pii_columns" in second.transform
    assert ("transform", f"dbt {second.transform}") in said
    built, total = (int(n) for n in second.transform.split()[1:4:2])
    assert 0 < built < total
    judged = {(f.check_id, f.subject, f.severity) for f in second.findings}
    assert judged == {(f.check_id, f.subject, f.severity) for f in first.findings}
    summary = Warehouse(second.warehouse).query_df("select summary from ledger.runs where run_id = ?",
                                                   [second.run_id])["summary"][0]
    assert json.loads(summary)["transform"] == second.transform  # the run's ledger row says what was rebuilt
