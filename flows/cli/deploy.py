"""``steward deploy``: register Steward's three flows as deployments on a Prefect server (flows/deploy.py does it)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..deploy import DEFAULT_GOVERNANCE_CRON, DEFAULT_POOL
from ._console import err, one_line_errors

__all__ = ["deploy"]


def deploy(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml."),
           pool: str = typer.Option(DEFAULT_POOL, help="Process work pool (created when missing)."),
           cron: str = typer.Option(DEFAULT_GOVERNANCE_CRON, help="Governance run schedule (cron, UTC)."),
           health_every: float = typer.Option(0, min=0, help="Health monitor interval in seconds "
                                                              "(default: policy health.interval_seconds)."),
           paused: bool = typer.Option(False, help="Register the schedules paused.")) -> None:
    """Register the governance run (daily), the health monitor and the pre-launch audit on a Prefect server."""
    from ..deploy import deploy_all

    with one_line_errors():
        ids = deploy_all(config, pool, cron, health_every or None, paused)
    for name, deployment_id in ids.items():
        err.print(f"deployed [bold]{name}[/] ({deployment_id}) to work pool {pool}")
    err.print(f"start a worker: prefect worker start --pool {pool}")
