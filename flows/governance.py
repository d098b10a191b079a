"""The governance run: pull, check, transform, judge, alert, act, report; one Prefect flow, one result.

The flow body reads as the loop in DESIGN.md and holds no logic of its own; every step records what it did in the
warehouse so the run can be explained afterwards.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Literal

import pandas as pd
from prefect import flow
from prefect.futures import wait
from prefect.utilities.annotations import opaque
from pydantic import BaseModel, Field

from ..contracts.actions import PlannedAction
from ..contracts.finding import Finding
from ..contracts.policy import Policy, load_policy
from ..integrations.warehouse import ledger
from ..integrations.transform.drift_gate import drift_gate
from ..integrations.transform.policy_marts import refuse_unknown_marts
from ..integrations.health import health_gate
from ..integrations.sources._stage import sweep_stages
from ..integrations.warehouse.refusals import refusals_for_run
from .stopping import stop_reason
from ..integrations.warehouse import Warehouse
from ..integrations.warehouse.writer_lock import hold

from . import steps
from .approval import collect_approvals, slack_announcer
from .audit_anchor import anchor_audit_log
from .alerts import dispatch_alerts
from .artifacts import publish_artifacts
from .config import StewardConfig, effective_policy, load_config
from .interrupt import BATCH_GRACE_SECONDS, active_run, clear_active_run, interrupted_by
from .progress import report
from .runtime import waiting_for
from .report import render_report

__all__ = ["RunParams", "RunResult", "FindingSummary", "governance_run"]


class RunParams(BaseModel):
    """What a governance run needs: the config file, and why it runs (shown in the run ledger)."""

    config: str = Field(description="Path to steward.yaml")
    kind: Literal["scheduled", "on_demand", "demo"] = "on_demand"
    dry_run: bool = Field(False, description="Decide and record actions, change nothing on the platforms")
    full_refresh: bool = Field(False, description="Rebuild the incremental (event and people) models from all of raw")


class FindingSummary(BaseModel):
    check_id: str
    family: str
    severity: str
    subject: str
    metric: str
    observed: float | None
    threshold: float | None
    action: str
    fingerprint: str


class RunResult(BaseModel):
    run_id: str
    status: str
    warehouse: str
    report: str
    seconds: float
    counts: dict[str, int]
    findings: list[FindingSummary]
    actions: list[dict]
    alerts: dict
    ingested: list[dict]
    # wall seconds per stage (health, ingest, drift, transform, judge, alert, act, anchor, report), so a slow run
    # says where its time went; benchmarks/bench_scale.py reads them from `steward run --json`
    timings: dict[str, float] = Field(default_factory=dict)
    # what the transform step's dbt build rebuilt and why (only what changed since the last complete build)
    transform: str = ""


def _ingest_concurrently(cfg, adapters: dict, wh: Warehouse, run_id: str) -> list[dict]:
    """Independent integrations pull at the same time (the network is the wait); every pull is allowed to finish
    and commit before the first failure is raised, so one broken platform never costs the others their batches.
    Interrupted, each pull stops at its next batch boundary, and the batch in flight is let land whole first."""
    futures = [steps.ingest_integration.submit(i, adapters[i.name], wh, run_id) for i in cfg.integrations]
    try:
        wait(futures)
    except BaseException as exc:
        if interrupted_by(exc):
            wait(futures, timeout=BATCH_GRACE_SECONDS)
        raise
    return [row for future in futures for row in future.result()]


@flow(name="governance-run", log_prints=False)
def governance_run(params: RunParams) -> RunResult:
    """One run holds the warehouse's writer lock from start to end: a second run, or the health monitor, waits its
    turn (up to ``lock_timeout_seconds``) instead of failing on DuckDB's own lock in the middle of this one."""
    cfg = load_config(params.config)
    policy = effective_policy(load_policy(cfg.policy), dry_run=params.dry_run)
    refuse_unknown_marts(policy)  # a check naming a mart the project has no model for: before anything is pulled
    ledger.audit_key()  # a bad audit key fails the run here, before anything is pulled, paused or audited
    run_id = f"run-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    with hold(cfg.warehouse, run_id, cfg.lock_timeout_seconds, waiting_for(cfg.lock_timeout_seconds, report)):
        wh = Warehouse(cfg.warehouse, cfg.lock_timeout_seconds, cfg.duckdb.settings(cfg.warehouse))
        # the DuckDB file is opened once for the run's steps before dbt and once after (dbt's stretches close it:
        # connection.released), not once per step: each open loads the catalog, each close checkpoints
        with wh.pinned():
            for stale in ledger.mark_abandoned(wh):
                report("start", f"run {stale} was left running by a process that is gone: marked abandoned")
            for folder in sweep_stages():  # a killed run's staged exports: its process cannot remove them
                report("start", f"removed {folder}: staging left by a process that is gone")
            active_run(wh, run_id)
            try:
                return _govern(cfg, policy, wh, run_id, params.kind, params.full_refresh)
            finally:
                clear_active_run()


def _govern(cfg, policy, wh: Warehouse, run_id: str, kind: str, full_refresh: bool = False) -> RunResult:
    started = ledger.start_run(wh, run_id, kind, str(cfg.source))
    report("start", f"run {run_id} -> {wh.path}")
    lap = _Laps()
    try:
        gate = health_gate(wh, policy, cfg.integrations, run_id)  # checks fed by a down source: not evaluated
        policy = gate.policy
        lap("health")
        adapters = steps.adapters_for(cfg, wh)
        # The tasks' big inputs (the policy, the build's outcome, hundreds of findings at 1M
        # contacts) are ``opaque``: Prefect still records which task produced each one, but no longer walks and
        # copies every nested model and dict of it twice per task call (a few tenths of a CPU second per run).
        steps.preflight(opaque(adapters))
        ingested = _ingest_concurrently(gate.ingest_config(cfg), adapters, wh, run_id)  # a down source is not pulled
        lap("ingest")
        drift = drift_gate(wh, policy, refusals_for_run(wh, run_id), run_id)  # a refused batch's marts: left out
        policy = drift.policy
        lap("drift")
        outcome = steps.transform(wh, cfg.work_dir, opaque(policy), pd.Timestamp(started), run_id, drift.exclude,
                                  full_refresh)
        lap("transform")
        with wh.pinned():  # dbt is done: from here on, hundreds of short connections share one open file
            findings = steps.judge(wh, opaque(policy), opaque(outcome), run_id)
            lap("judge")
            report_path = cfg.report_dir / f"{run_id}.html"
            plans = steps.plan(opaque(findings), opaque(policy))
            alerts, actions = respond(wh, cfg, policy, findings, plans, adapters, run_id, report_path, lap)
            anchor_audit_log(wh, cfg, run_id)  # the head leaves the warehouse: report, anchor file
            lap("anchor")
    except BaseException as exc:
        if interrupted_by(exc):  # Ctrl-C, SIGTERM: whatever layer the signal surfaced in
            ledger.finish_run(wh, run_id, "interrupted", {"error": f"interrupted: {stop_reason()}"})
        elif isinstance(exc, Exception):
            ledger.finish_run(wh, run_id, "failed", {"error": str(exc).splitlines()[0] if str(exc) else repr(exc)})
        raise
    result = RunResult(
        run_id=run_id, status="completed", warehouse=str(wh.path), report=str(report_path),
        seconds=round((datetime.now(timezone.utc) - started).total_seconds(), 2),
        counts={s: sum(f.severity.value == s for f in findings) for s in ("critical", "warn", "info")},
        findings=[FindingSummary(**f.model_dump(mode="json", include=set(FindingSummary.model_fields)))
                  for f in findings],
        actions=actions, alerts=alerts, ingested=ingested, timings=lap.seconds, transform=outcome.note)
    with wh.pinned():
        ledger.finish_run(wh, run_id, "completed", result.model_dump(exclude={"findings", "ingested"}))
        render_report(wh, run_id, report_path)
    publish_artifacts(result)
    result.timings["report"] = lap("report")  # after the ledger row, which the report shows
    return result


def respond(wh: Warehouse, cfg: StewardConfig, policy: Policy, findings: list[Finding], plans: list[PlannedAction],
            adapters: dict, run_id: str, report_path: Path,
            lap: Callable[[str], float] | None = None) -> tuple[dict, list[dict]]:
    """Alert, then act: the run's incidents are opened (their Slack threads posted) before any action, so a
    ``request_approval`` on a finding's very first sighting posts its Approve / Reject buttons into the thread this
    run just opened, not as a stray top-level message. The alerts do not depend on what the actions did; a person
    learns of a finding before the run waits on them for it."""
    lap = lap or (lambda stage: 0.0)
    alerts = dispatch_alerts(wh, findings, policy, cfg, run_id, report_path)
    lap("alert")
    decisions = collect_approvals(plans, policy, slack_announcer(cfg, wh, policy))
    # ``plans`` walked as before: it links the act to the judge too (through each plan's finding), not only to plan
    actions = steps.act(wh, plans, opaque(decisions), opaque(adapters), run_id)
    lap("act")
    return alerts, actions


class _Laps:
    """Wall seconds since the previous lap, per stage: ``lap("judge")`` closes the judge stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, stage: str) -> float:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 3)
        self._last = now
        return self.seconds[stage]
