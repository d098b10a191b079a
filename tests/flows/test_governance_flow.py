"""The governance flow as Prefect runs it: a completed flow run, its artifacts, and the run ledger.

The run is the session's governed demo (tests/governed.py ``demo_run_copy``: ``prepare_demo`` then
``governance_run(kind="demo")``, a real flow run on a Prefect server), paid once per session; what that server held
for it right after the run is recorded with the template, since another worker (and its own server) may have made it.
"""

from __future__ import annotations

import pytest

from governed import demo_run_copy
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow


def test_flow_run_completes_with_artifacts_and_a_ledger_row(prefect_harness, tmp_path_factory):
    demo = demo_run_copy(tmp_path_factory, "flow", scale=0.2)
    result, prefect = demo.result, demo.prefect

    flow_runs, artifacts = prefect["flow_runs"], prefect["artifacts"]
    assert any(r["completed"] and r["name"] for r in flow_runs)
    assert {a["key"] for a in artifacts} == {"steward-findings", "steward-run-summary"}
    # the session's Prefect server keeps every run's artifacts under these keys: this run's summary is among them
    assert any(result.run_id in a["data"] for a in artifacts if a["key"] == "steward-run-summary")

    runs = Warehouse(result.warehouse).query_df("select run_id, kind, status from ledger.runs")
    assert runs.to_dict("records") == [{"run_id": result.run_id, "kind": "demo", "status": "completed"}]
    # every stage reports its wall seconds (benchmarks/bench_scale.py reads them), and they add up to the run
    stages = ["health", "ingest", "drift", "transform", "judge", "alert", "act", "anchor", "report"]
    assert list(result.timings) == stages and all(s >= 0 for s in result.timings.values())
    assert result.timings["transform"] > 0
    assert sum(result.timings.values()) <= result.seconds + result.timings["report"] + 1
