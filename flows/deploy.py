"""``steward deploy``: Steward's three flows as deployments on a Prefect server, run by a process work pool.

| deployment | flow | when |
|---|---|---|
| ``governance-run/steward-governance`` | ``governance_run`` | daily cron (default 06:00 UTC) |
| ``integration-health/steward-health`` | ``integration_health`` | every ``policy.health.interval_seconds`` (at least 60 s) |
| ``prelaunch-audit/steward-prelaunch`` | ``prelaunch_audit`` | on demand, with the launch spec as a parameter |

Entrypoints are module paths (``steward.flows.governance:governance_run``), so a worker in any folder of an
environment where Steward is installed can run them; nothing is uploaded or pulled. Each deployment runs one flow at a
time (``concurrency_limit=1``): runs of one warehouse must not overlap, because DuckDB has one writer. See
docs/deployments.md. The ``steward deploy`` command itself is in flows/cli/deploy.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contracts.errors import ConfigError

__all__ = ["DeploymentSpec", "deployment_specs", "deploy_all", "ensure_work_pool", "DEFAULT_POOL",
           "DEFAULT_GOVERNANCE_CRON"]

DEFAULT_POOL = "steward"
DEFAULT_GOVERNANCE_CRON = "0 6 * * *"


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment, as data: which flow, its name, schedule and default parameters."""

    flow: str  # module path of the flow object
    name: str
    description: str
    parameters: dict[str, Any]
    cron: str | None = None
    interval_seconds: float | None = None


def deployment_specs(config: Path, governance_cron: str = DEFAULT_GOVERNANCE_CRON,
                     health_interval_seconds: float | None = None) -> list[DeploymentSpec]:
    """The three deployments for one ``steward.yaml`` (its path is made absolute: a worker runs elsewhere)."""
    from ..contracts.policy import load_policy

    from .config import load_config  # here, not at import: `steward --help` imports this module for its defaults

    config = Path(config).resolve()
    cfg = load_config(config)  # refuse a bad config here, not in the first scheduled run
    interval = health_interval_seconds or max(load_policy(cfg.policy).health.interval_seconds, 60)
    return [
        DeploymentSpec("steward.flows.governance:governance_run", "steward-governance",
                       "The governance loop: pull, check, transform, judge, alert, act, report.",
                       {"params": {"config": str(config), "kind": "scheduled"}}, cron=governance_cron),
        DeploymentSpec("steward.flows.health:integration_health", "steward-health",
                       "Probe every integration; alert on health transitions.",
                       {"params": {"config": str(config)}}, interval_seconds=interval),
        DeploymentSpec("steward.flows.prelaunch:prelaunch_audit", "steward-prelaunch",
                       "A go / no-go for one launch spec: pass params.spec (an absolute path).",
                       {"params": {"config": str(config), "spec": "", "refresh": False, "notify": True}}),
    ]


def ensure_work_pool(name: str = DEFAULT_POOL) -> bool:
    """Create the process work pool if it does not exist; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


def deploy_all(config: Path, pool: str = DEFAULT_POOL, governance_cron: str = DEFAULT_GOVERNANCE_CRON,
               health_interval_seconds: float | None = None, paused: bool = False) -> dict[str, str]:
    """Register (or update) the three deployments on the server ``PREFECT_API_URL`` names; returns name -> id.

    Raises:
        ConfigError: no ``PREFECT_API_URL``: deployments on a temporary server would vanish with this process.
    """
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron, Interval
    from prefect.settings import PREFECT_API_URL
    from prefect.utilities.importtools import import_object

    if not PREFECT_API_URL.value():
        raise ConfigError("PREFECT_API_URL is not set: point it at your Prefect server (prefect server start, or "
                          "Prefect Cloud) so the deployments outlive this command")
    ensure_work_pool(pool)
    ids = {}
    for spec in deployment_specs(config, governance_cron, health_interval_seconds):
        flow = import_object(spec.flow)
        schedules = ([Cron(spec.cron, timezone="UTC")] if spec.cron else []) + (
            [Interval(spec.interval_seconds)] if spec.interval_seconds else [])
        deployment = flow.to_deployment(
            name=spec.name, description=spec.description, parameters=spec.parameters, schedules=schedules or None,
            paused=paused if schedules else None, concurrency_limit=1, tags=["steward"], work_pool_name=pool,
            entrypoint_type=EntrypointType.MODULE_PATH)
        ids[f"{flow.name}/{spec.name}"] = str(deployment.apply(work_pool_name=pool))
    return ids
