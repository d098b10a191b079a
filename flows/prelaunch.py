"""The pre-launch audit: one launch spec in, GO / GO WITH CONDITIONS / NO-GO out, each reason with its evidence.

It reads the warehouse the last governance run built (or refreshes it first with ``refresh``: ingest and dbt build,
no judging, no pauses, no alerts), builds the launch marts for this spec, judges them with the policy's ``launch``
checks, stores the verdict in ``ledger.launch_audits``, posts it to Slack through the alert outbox, writes a
Markdown export for tickets and publishes Prefect artifacts. Like ``governance-run``, the flow body holds no logic.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from ..contracts.launch import Reason, Verdict, decide, launch_policy
from ..contracts.policy import Policy, load_policy
from ..integrations.warehouse import Warehouse
from ..integrations.warehouse.writer_lock import hold

from . import launch_checks as checks
from . import steps
from .alerts import alert_policy, flush
from .artifacts import launch_markdown, publish_launch_artifacts
from .config import StewardConfig, load_config
from .launch_spec import LaunchSpec, load_launch_spec
from .progress import report
from .runtime import waiting_for

__all__ = ["LaunchParams", "LaunchAuditResult", "prelaunch_audit"]


class LaunchParams(BaseModel):
    """What a pre-launch audit needs; in a deployment these are the run's parameters (use absolute paths)."""

    config: str = Field(description="Path to steward.yaml")
    spec: str = Field(description="Path to the launch spec YAML")
    refresh: bool = Field(False, description="Ingest and rebuild the warehouse before auditing")
    notify: bool = Field(True, description="Post the verdict to Slack (or print it when Slack is not set up)")


class LaunchAuditResult(BaseModel):
    audit_id: str
    launch_id: str
    name: str
    verdict: str
    blocking: list[Reason]
    conditions: list[Reason]
    checks_evaluated: list[str]
    warehouse: str
    export: str
    alerts: dict
    seconds: float

    @property
    def exit_code(self) -> int:
        """0 for GO and GO WITH CONDITIONS, 1 for NO-GO: a release pipeline can gate on it."""
        return 1 if self.verdict == "NO-GO" else 0


def refresh(cfg: StewardConfig, wh: Warehouse, policy: Policy, audit_id: str) -> None:
    """Ingest and rebuild with the governance run's own tasks; judging, pausing and alerting stay with that run."""
    adapters = steps.adapters_for(cfg, wh)
    steps.preflight(adapters)
    for integration in cfg.integrations:
        steps.ingest_integration(integration, adapters[integration.name], wh, audit_id)
    steps.transform(wh, cfg.work_dir, policy, pd.Timestamp.now(tz="UTC"))


@task(name="measure-launch", cache_policy=NO_CACHE)
def measure(cfg: StewardConfig, wh: Warehouse, policy: Policy, spec: LaunchSpec, audit_id: str, source: str) -> None:
    people = checks.confine_queries(wh, spec, audit_id, source)
    if people:
        report("confine", ", ".join(f"{part} query: {n} people" for part, n in people.items()))
    checks.measure(wh, cfg.work_dir, checks.launch_vars(spec, policy, pd.Timestamp.now(tz="UTC"), audit_id))
    report("measure", f"launch marts built for {spec.id}")


@task(name="judge-launch", cache_policy=NO_CACHE)
def judge(wh: Warehouse, policy: Policy, audit_id: str) -> tuple[Verdict, dict]:
    findings, conditions, evidence = checks.judge_launch(wh, policy, audit_id)
    verdict = decide(findings, conditions, policy)
    report("judge", f"{verdict.verdict}: {len(verdict.blocking)} blocking, {len(verdict.conditions)} conditions")
    return verdict, evidence


@task(name="announce-verdict", cache_policy=NO_CACHE)
def announce(wh: Warehouse, cfg: StewardConfig, policy: Policy, spec: LaunchSpec, verdict: Verdict,
             audit_id: str, export: Path) -> dict:
    channel = launch_policy(policy).channel or alert_policy(policy, cfg).alerts.channel
    ids = checks.enqueue_verdict(wh, audit_id, channel, checks.verdict_payload(spec, verdict, audit_id, str(export)))
    return {"channel": channel, "outcome": flush(wh, cfg, ids, channel), "messages": len(ids)}


@flow(name="prelaunch-audit", log_prints=False)
def prelaunch_audit(params: LaunchParams) -> LaunchAuditResult:
    cfg = load_config(params.config)
    policy = load_policy(cfg.policy)
    spec = load_launch_spec(params.spec)
    started = datetime.now(timezone.utc)
    audit_id = checks.audit_id_for(spec, started)
    # an audit builds dbt models and writes the ledger: it takes its turn with governance runs and the monitor
    with hold(cfg.warehouse, audit_id, cfg.lock_timeout_seconds, waiting_for(cfg.lock_timeout_seconds, report)):
        return _audit(cfg, policy, spec, params, audit_id, started)


def _audit(cfg: StewardConfig, policy: Policy, spec: LaunchSpec, params: LaunchParams, audit_id: str,
           started: datetime) -> LaunchAuditResult:
    wh = Warehouse(cfg.warehouse, cfg.lock_timeout_seconds, cfg.duckdb.settings(cfg.warehouse))
    report("start", f"pre-launch audit {audit_id} -> {wh.path}")
    if params.refresh:
        refresh(cfg, wh, policy, audit_id)
    measure(cfg, wh, policy, spec, audit_id, params.spec)
    export = cfg.report_dir / f"{audit_id}.md"
    with wh.pinned():  # dbt is done: the verdict's reads and writes share one open of the file, as a run's judge does
        verdict, evidence = judge(wh, policy, audit_id)
        checks.record_audit(wh, audit_id, spec, verdict, evidence, started, str(cfg.source))
        alerts = announce(wh, cfg, policy, spec, verdict, audit_id, export) if params.notify else {"outcome": "off"}
    result = LaunchAuditResult(
        audit_id=audit_id, launch_id=spec.id, name=spec.name, verdict=verdict.verdict, blocking=verdict.blocking,
        conditions=verdict.conditions, checks_evaluated=verdict.checks_evaluated, warehouse=str(wh.path),
        export=str(export), alerts=alerts, seconds=round((datetime.now(timezone.utc) - started).total_seconds(), 2))
    export.parent.mkdir(parents=True, exist_ok=True)
    export.write_text(launch_markdown(result), encoding="utf-8")
    publish_launch_artifacts(result)
    return result
