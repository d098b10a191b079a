"""The integration health monitor: a Prefect flow of its own, meant for a minutes schedule.

Each run probes every configured integration concurrently (one task each), records one ``ledger.integration_health``
row per probe, moves each integration's state with hysteresis, and announces only transitions, through the same
outbox and Slack client the governance alerts use. It is separate from ``governance-run`` on purpose: a platform
that goes down at 03:00 should be known at 03:01, not at the next nightly run, and the governance run reads the
state this flow keeps (``integrations.health.gate``) instead of trusting data from a source that is down.

Schedule it with Prefect (``integration_health.serve(interval=60, parameters=...)``), with cron and
``steward health``, or with ``run_monitor`` (the loop the benchmark drives).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Callable

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from pydantic import BaseModel, Field

from ..contracts.policy import HealthPolicy, load_policy
from ..integrations.warehouse import health_store as store
from ..integrations.health.monitor import check_integration
from ..integrations.sources import build_adapter
from ..integrations.sources.http import RetryPolicy
from ..integrations.warehouse import Warehouse
from ..contracts.errors import WarehouseBusy
from ..integrations.warehouse.writer_lock import hold

from .alerts import alert_policy, flush
from .config import IntegrationConfig, load_config
from .progress import report
from .runtime import waiting_for

__all__ = ["HealthParams", "HealthResult", "IntegrationState", "integration_health", "run_monitor", "probe_policy"]


class HealthParams(BaseModel):
    config: str = Field(description="Path to steward.yaml")


class IntegrationState(BaseModel):
    integration: str
    platform: str
    state: str
    previous_state: str
    changed: bool
    rule: str
    reason: str
    verdict: str
    probes: int
    in_maintenance: bool
    alert_id: str | None
    checked_at: datetime
    latency_ms: float | None
    headroom: float | None
    hours_since_sync: float | None


class HealthResult(BaseModel):
    run_id: str
    seconds: float
    integrations: list[IntegrationState]
    alerts: str  # none | sent | queued | printed


def probe_policy(health: HealthPolicy) -> RetryPolicy:
    """A probe does not wait out an outage: two attempts (the second only for a refreshed token or one blip),
    short waits, and the probe timeout per request. Hysteresis, not retrying, absorbs a flapping API."""
    return RetryPolicy(attempts=2, initial_wait=0.05, max_wait=0.25, timeout=health.probe_timeout_seconds)


@task(name="probe-integration", cache_policy=NO_CACHE, task_run_name="health-{integration.name}")
def probe_integration(integration: IntegrationConfig, health: HealthPolicy, wh: Warehouse, run_id: str,
                      channel: str) -> IntegrationState:
    def make():
        return build_adapter(integration.name, integration.platform, integration.kind, integration.path, wh,
                             integration.entities, base_url=integration.base_url,
                             credentials=integration.credentials, options=integration.options,
                             policy=probe_policy(health), batch_rows=integration.batch_rows,
                             delivery=integration.delivery, mappings=integration.mappings)

    probes = check_integration(wh, health, integration.name, integration.platform, make, run_id, channel)
    last = probes[-1]
    alert_id = next((p.alert_id for p in probes if p.alert_id), None)
    report("health", f"{integration.name}: {last.track.state} ({last.track.rule})"
           + (" [maintenance]" if last.silenced else ""))
    return IntegrationState(
        integration=integration.name, platform=integration.platform, state=last.track.state,
        previous_state=probes[0].previous.state, changed=probes[0].previous.state != last.track.state,
        rule=last.track.rule, reason=last.track.reason or last.verdict.reason, verdict=last.verdict.state,
        probes=len(probes), in_maintenance=last.silenced, alert_id=alert_id,
        checked_at=last.signals.checked_at, latency_ms=last.signals.probe.latency_ms,
        headroom=last.signals.probe.headroom, hours_since_sync=last.signals.ledger.hours_since_sync)


@flow(name="integration-health", log_prints=False)
def integration_health(params: HealthParams) -> HealthResult:
    """A health check writes the warehouse too, so it waits its turn for the writer lock while a governance run
    holds it (up to ``lock_timeout_seconds``) instead of breaking the run with DuckDB's own lock error."""
    started = time.perf_counter()
    cfg = load_config(params.config)
    policy = alert_policy(load_policy(cfg.policy), cfg)
    run_id = f"health-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    with hold(cfg.warehouse, run_id, cfg.lock_timeout_seconds, waiting_for(cfg.lock_timeout_seconds, report),
              monitor=True):
        wh = Warehouse(cfg.warehouse, cfg.lock_timeout_seconds)
        channel = policy.health.channel or policy.alerts.channel
        # one open of the DuckDB file for the tick's reads and writes (every integration's track, signals and
        # state), not one open and checkpoint each: the tick holds the writer lock throughout anyway, and runs no dbt
        with wh.pinned():
            futures = [probe_integration.submit(i, policy.health, wh, run_id, channel) for i in cfg.integrations]
            wait(futures)
            states = [f.result() for f in futures]
            ids = [s.alert_id for s in states if s.alert_id]
            outcome = flush(wh, cfg, ids, channel) if ids else "none"
    return HealthResult(run_id=run_id, seconds=round(time.perf_counter() - started, 3), integrations=states,
                        alerts=outcome)


def run_monitor(config: str, interval: float, stop: threading.Event, runs: int | None = None,
                on_result: Callable[[HealthResult], None] | None = None) -> int:
    """Run the flow every ``interval`` seconds (start to start) until ``stop`` is set or ``runs`` have run.

    A run that takes longer than the interval starts the next one at once; ticks are never queued up. A tick that
    waited ``lock_timeout_seconds`` for a governance run to let go of the warehouse is skipped, said, and the loop
    goes on: the monitor never fails because a run was long.
    """
    done, next_at = 0, time.monotonic()
    while not stop.is_set() and (runs is None or done < runs):
        try:
            result = integration_health(HealthParams(config=config))
        except WarehouseBusy as exc:
            report("health", f"skipped this tick: {exc}")
            result = None
        done += 1
        if on_result and result is not None:
            on_result(result)
        next_at = max(next_at + interval, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))
    return done


def latest_states(config: str):
    """The stored states without probing (``steward health --latest``)."""
    cfg = load_config(config)
    return store.latest(Warehouse(cfg.warehouse))
