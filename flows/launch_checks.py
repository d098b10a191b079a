"""The pre-launch audit's steps: measure the launch in dbt, judge it with the policy's ``launch`` checks, decide the
verdict, keep it in the ledger and tell Slack.

Measuring is SQL (``dbt_project/models/launch/``, built with the spec as the ``launch`` var); judging the marts and
deciding the verdict are ``contracts.launch`` (the governance judge on the launch marts; ``warn`` becomes a
condition, ``critical`` a blocking reason).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..contracts.errors import ConfigError, QueryFailed, WarehouseError
from ..contracts.finding import Finding
from ..contracts.launch import LAUNCH_MARTS, Verdict, judge_marts, launch_policy
from ..contracts.policy import Policy
from ..integrations.notify import launch_message
from ..integrations.warehouse.sample_queries import launch_sample_query
from ..integrations.transform import dbt_build
from ..integrations.warehouse import Warehouse, confined_sql, ledger, outbox, reads

from .launch_spec import LaunchSpec

__all__ = ["launch_vars", "confine_queries", "measure", "judge_launch", "record_audit", "verdict_payload",
           "enqueue_verdict", "audit_id_for"]

_AUDIT_ID = re.compile(r"^[A-Za-z0-9_-]+$")  # becomes a SQL literal in launch__audience


def audit_id_for(spec: LaunchSpec, now: datetime) -> str:
    return f"launch-{spec.id}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}"


def launch_vars(spec: LaunchSpec, policy: Policy, as_of: pd.Timestamp, audit_id: str) -> dict[str, Any]:
    """What the launch marts need: the policy's scope, the reference time and the spec, flattened for Jinja.

    An audience query is not among them: ``confine_queries`` has run it and kept the emails it returned under
    ``audit_id``, and the marts read them from there (``*_from_query``)."""
    if not _AUDIT_ID.match(audit_id):
        raise ValueError(f"audit id {audit_id!r} is not a plain word")
    audience, eligible = spec.audience, spec.audience.eligible
    return {**policy.dbt_vars(), "as_of": as_of.isoformat(), "launch": {
        "launch_id": spec.id, "audit_id": audit_id, "channels": list(spec.channels), "platforms": spec.platforms,
        "audience_segment": audience.segment, "audience_from_query": audience.query is not None,
        "eligible_segment": eligible.segment if eligible else None,
        "eligible_from_query": bool(eligible and eligible.query is not None),
        "intended_dimensions": audience.intended_dimensions,
        "selection_favourable": audience.favourable,
        "emails_per_week": spec.planned.emails_per_week if "email" in spec.channels else 0,
        "planned_people": spec.planned.people, "daily_budget": spec.daily_budget(),
        "models": [m.model_dump() for m in spec.models],
        "health_max_age_hours": launch_policy(policy).health_max_age_hours}}


def confine_queries(wh: Warehouse, spec: LaunchSpec, audit_id: str, source: str) -> dict[str, int]:
    """Run the spec's audience queries confined (``integrations.warehouse.confined_sql``) and keep the people they
    return for this audit; returns the people per part. A query that is refused or fails is a ``ConfigError``
    naming the spec file and the field, with no value the query read."""
    _require_governance_build(wh)
    fields = {"audience": "audience.query", "eligible": "audience.eligible.query"}
    queries = {"audience": spec.audience.query,
               "eligible": spec.audience.eligible.query if spec.audience.eligible else None}
    failure = None
    try:
        return confined_sql.materialise_audience(wh.path, audit_id, {k: q for k, q in queries.items() if q})
    except QueryFailed as exc:
        failure = f"{source}: {fields[exc.part]}: {exc}"
    except confined_sql.RefusedQuery as exc:  # pragma: no cover - the spec's own validation refuses it first
        failure = f"{source}: audience query: {exc}"
    raise ConfigError(failure)  # outside the except blocks: no chained DuckDB error in a traceback or Prefect state


def measure(wh: Warehouse, work_dir: Path, dbt_vars: dict[str, Any]) -> None:
    """Build the launch marts; they read the staging models and marts of the last governance build."""
    _require_governance_build(wh)
    dbt_build.build(wh.path, work_dir / "dbt-launch", dbt_vars, select=["path:models/launch"], settings=wh.settings)


def _require_governance_build(wh: Warehouse) -> None:
    if not wh.table_exists("governance", "gov_integration_health__freshness"):
        raise WarehouseError(f"{wh.path}: no governance build yet; run `steward run` (or audit with --refresh) first")


def judge_launch(wh: Warehouse, policy: Policy, audit_id: str) -> tuple[list[Finding], dict[str, str], dict]:
    """Every launch check over its mart, read from ``launch.*`` (``contracts.launch.judge_marts`` judges them)."""
    marts = {name: reads.launch_mart(wh, name) for name in LAUNCH_MARTS}
    return judge_marts(marts, policy, audit_id, launch_sample_query)


def record_audit(wh: Warehouse, audit_id: str, spec: LaunchSpec, verdict: Verdict, evidence: dict, started: datetime,
                 config_path: str | None) -> None:
    """The verdict, its reasons and every launch mart's rows, in ``ledger.launch_audits``: the launch tables are
    rebuilt by the next audit, this row is what stays."""
    reasons = [r.model_dump(mode="json") for r in verdict.blocking + verdict.conditions]
    ledger.record_launch_audit(wh, audit_id=audit_id, launch_id=spec.id, launch_name=spec.name,
                               verdict=verdict.verdict, started=started, spec_json=spec.model_dump_json(),
                               reasons=reasons, evidence=evidence, checks_evaluated=verdict.checks_evaluated,
                               config_path=config_path)


def verdict_payload(spec: LaunchSpec, verdict: Verdict, audit_id: str, export: str | None) -> dict[str, Any]:
    """The Slack message: verdict, then each reason with its numbers and masked ids only (built in
    ``integrations.notify.launch_message``, the room that builds every Slack message)."""
    return launch_message.verdict_payload(spec, verdict, audit_id, export)


def enqueue_verdict(wh: Warehouse, audit_id: str, channel: str, payload: dict[str, Any]) -> list[str]:
    """Into the alert outbox first, like every Slack message; ``flows.alerts.flush`` delivers or prints it."""
    return outbox.enqueue(wh, audit_id, outbox.OutboxMessage(kind=outbox.POST, channel=channel, payload=payload,
                                                              fingerprint=f"launch:{audit_id}"))
