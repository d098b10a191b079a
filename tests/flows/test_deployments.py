"""Steward's deployments on a real Prefect server (the session's, on loopback), `steward deploy`'s function, a
process worker, and the governance and pre-launch deployments triggered through the API. Everything this test
starts, it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from governed import demo_run_copy

pytestmark = pytest.mark.slow

PREFECT = str(Path(sys.executable).with_name("prefect"))
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "launches"
POOL = "steward-test"


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group (the worker and its flow-run children), SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture
def server(prefect_api):
    """The session's Prefect server (``prefect_harness``: Prefect's own server app in a uvicorn process on loopback,
    as ``prefect server start`` runs it) and the environment a worker needs to reach it. The deployments are
    registered paused and triggered through the API, so no server-side scheduler is involved; sharing the session's
    server saves starting another one."""
    url = prefect_api["PREFECT_API_URL"]
    env = {**os.environ, **prefect_api, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_LOGGING_LEVEL": "INFO"}
    return url, env


def test_deploy_trigger_and_find_the_artifacts(server, tmp_path, tmp_path_factory):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from steward.flows.deploy import deploy_all

    url, env = server
    # a copy of the session's governed demo (tests/governed.py): the deployment's run is its scheduled next run
    config = demo_run_copy(tmp_path_factory, "deploy", scale=0.2).config
    with temporary_settings(updates={PREFECT_API_URL: url}):
        ids = deploy_all(config, pool=POOL, paused=True)
        assert set(ids) == {"governance-run/steward-governance", "integration-health/steward-health",
                            "prelaunch-audit/steward-prelaunch"}
        worker = start([PREFECT, "worker", "start", "--pool", POOL, "--limit", "1"], env, tmp_path / "worker.log")
        try:
            # polled each second, not Prefect's default 5: a run that ended is seen ended at once, not up to 5 s on
            governance = run_deployment("governance-run/steward-governance", timeout=900, poll_interval=1)
            launch = run_deployment("prelaunch-audit/steward-prelaunch", timeout=900, poll_interval=1,
                                    parameters={"params": {"config": str(config),
                                                           "spec": str(EXAMPLES / "nogo-priority-leads.yaml")}})
        finally:
            stop(worker)
        log = (tmp_path / "worker.log").read_text()
        assert governance.state.is_completed(), log[-3000:]
        assert launch.state.is_completed(), log[-3000:]

        with get_client(sync_client=True) as client:
            def artifact_keys(flow_run_id) -> set[str]:
                return {a.key for a in client.read_artifacts(artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))}

            assert {"steward-run-summary", "steward-findings", "steward-run-report"} <= artifact_keys(governance.id)
            assert {"steward-launch-verdict", "steward-launch-reasons", "steward-launch-export"} <= \
                artifact_keys(launch.id)
            gov = client.read_deployment_by_name("governance-run/steward-governance")
            health = client.read_deployment_by_name("integration-health/steward-health")
            assert [(s.schedule.cron, s.schedule.timezone) for s in gov.schedules] == [("0 6 * * *", "UTC")]
            assert health.schedules[0].schedule.interval.total_seconds() >= 60
            assert gov.paused and health.paused  # registered paused here, so no scheduled run races the test
            assert gov.parameters == {"params": {"config": str(config.resolve()), "kind": "scheduled"}}
            for name in ids:
                assert client.read_deployment_by_name(name).global_concurrency_limit.limit == 1
    assert worker.poll() is not None
