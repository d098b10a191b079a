"""The governance flow as Prefect runs it: a completed flow run, its artifacts, and the run ledger."""

from __future__ import annotations

import pytest

from steward.flows.demo import prepare_demo
from steward.flows.governance import RunParams, governance_run
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow


def test_flow_run_completes_with_artifacts_and_a_ledger_row(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    config, _ = prepare_demo(tmp_path / "ws", scale=0.2)
    result = governance_run(RunParams(config=str(config), kind="demo"))

    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs()
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["steward-findings", "steward-run-summary"])))
    assert any(r.state and r.state.is_completed() and r.name for r in flow_runs)
    assert {a.key for a in artifacts} == {"steward-findings", "steward-run-summary"}
    # the session's Prefect server keeps every run's artifacts under these keys: this run's summary is among them
    assert any(result.run_id in str(a.data) for a in artifacts if a.key == "steward-run-summary")

    runs = Warehouse(result.warehouse).query_df("select run_id, kind, status from ledger.runs")
    assert runs.to_dict("records") == [{"run_id": result.run_id, "kind": "demo", "status": "completed"}]
    # every stage reports its wall seconds (benchmarks/bench_scale.py reads them), and they add up to the run
    stages = ["health", "ingest", "drift", "transform", "judge", "alert", "act", "anchor", "report"]
    assert list(result.timings) == stages and all(s >= 0 for s in result.timings.values())
    assert result.timings["transform"] > 0
    assert sum(result.timings.values()) <= result.seconds + result.timings["report"] + 1
