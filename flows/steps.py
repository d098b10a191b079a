"""The governance run's tasks. Each one only wires a room of the house to the next; none holds a rule or SQL.

Tasks pass small, serialisable things (paths, ids, findings), never connections: DuckDB and dbt open the warehouse
in turn, one at a time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from ..contracts.actions import PlannedAction, plan_actions
from ..contracts.campaigns import name_findings
from ..contracts.finding import Finding
from ..contracts.governance import evaluate, findings_from_dbt_tests
from ..contracts.policy import Policy
from ..integrations.transform import changes, dbt_build
from ..integrations.warehouse import ledger, pii_scan
from ..contracts.errors import SourceError
from .pull import Landed, pull_integration
from ..integrations.sources import SourceAdapter, build_adapter
from ..integrations.sources._protocol import CampaignStates, CampaignStatus
from ..contracts.errors import StewardError
from ..integrations.sources.http import RetryPolicy
from ..integrations.warehouse import Warehouse

from .approval import Decision
from .config import IntegrationConfig, StewardConfig
from .progress import report
from ..integrations.warehouse.sample_queries import governance_sample_query
from ..integrations.warehouse.reads import campaign_refs

__all__ = ["adapters_for", "preflight", "ingest_integration", "transform", "judge", "plan", "act",
           "reconcile_controls"]


def adapters_for(cfg: StewardConfig, wh: Warehouse | None) -> dict[str, SourceAdapter]:
    """The configured integrations' adapters; ``wh`` None only to ask export-file adapters for their files
    (``steward run``'s refusal of a missing export, before it takes the warehouse)."""
    return {i.name: build_adapter(i.name, i.platform, i.kind, i.path, wh, i.entities, base_url=i.base_url,
                                  credentials=i.credentials, options=i.options, batch_rows=i.batch_rows,
                                  policy=RetryPolicy(**i.retry.model_dump()), delivery=i.delivery,
                                  mappings=i.mappings)
            for i in cfg.integrations}


@task(name="preflight", cache_policy=NO_CACHE)
def preflight(adapters: dict[str, SourceAdapter]) -> None:
    """Refuse before loading anything when a configured export is missing, so a run never half-lands."""
    for name, adapter in adapters.items():
        missing = adapter.missing_files() if hasattr(adapter, "missing_files") else []
        if missing:
            raise SourceError(f"{missing[0]}: export file is missing for integration '{name}'"
                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))


@task(name="ingest", cache_policy=NO_CACHE, task_run_name="ingest-{integration.name}")
def ingest_integration(integration: IntegrationConfig, adapter: SourceAdapter, wh: Warehouse,
                       run_id: str) -> list[dict]:
    """Pull, check and land every entity of one integration; each batch commits on its own."""
    def said(item: Landed) -> None:
        result = item.result
        if item.refused:
            why = "unreadable" if item.refused_kind == "unreadable" else "breaking schema drift"
            report("ingest", f"{integration.name}.{result.entity}: refused, {why} ({item.refused})")
            return
        note = "unchanged, skipped" if result.skipped else f"{result.rows_loaded:,} rows"
        if result.rows_quarantined:
            note += f", {result.rows_quarantined:,} quarantined"
        if item.drift:
            note += ", schema drift"
        report("ingest", f"{integration.name}.{result.entity}: {note}")

    return [{**dataclasses.asdict(item.result), "drift": item.drift, "refused": item.refused}
            for item in pull_integration(adapter, wh, run_id, on_batch=said,
                                         keep_max=integration.quarantine_keep_max)]


@task(name="transform", cache_policy=NO_CACHE)
def transform(wh: Warehouse, work_dir: Path, policy: Policy, as_of: pd.Timestamp, run_id: str | None = None,
              exclude: list[str] | None = None, full_refresh: bool = False) -> dbt_build.BuildOutcome:
    """Build the dbt project; ``exclude`` leaves out what a refused batch feeds (see ``drift_gate``);
    ``full_refresh`` rebuilds the incremental (event and people) models from all of raw. dbt's unit tests are left
    out: they check Steward's SQL on fixed fixture rows, the same at every run and for every team (the test suite
    runs them), and cost as much as a fifth of a demo build; the data tests, which judge the team's data, all run.
    Only what changed since the last complete build is rebuilt (``changes.governed_build``; ``full_refresh``:
    everything). The ingest's writes are checkpointed while dbt starts, not by the PII scan's commit
    (``Warehouse.defer_checkpoint``)."""
    wh.defer_checkpoint()
    pii_scan.scan_pii(wh, policy.scope.pii_scan_schemas, policy.scope.pii_sample_rows)
    dbt_vars = {**policy.dbt_vars(), "as_of": as_of.isoformat(), **({"run_id": run_id} if run_id else {})}
    outcome = changes.governed_build(wh, work_dir / "dbt", dbt_vars, run_id, exclude=exclude,
                                     full_refresh=full_refresh)
    report("transform", f"dbt built {outcome.models} models, {outcome.tests_passed + outcome.unit_tests} tests passed"
           + (f", {len(outcome.test_failures)} failed" if outcome.test_failures else "")
           + (f"; left out {', '.join(exclude)} (breaking schema drift)" if exclude else ""))
    report("transform", f"dbt {outcome.note}")
    return outcome


@task(name="judge", cache_policy=NO_CACHE)
def judge(wh: Warehouse, policy: Policy, outcome: dbt_build.BuildOutcome, run_id: str) -> list[Finding]:
    with wh.pinned():  # a read per mart and the findings' writes: one open of the file (a run pins already)
        findings = evaluate(policy, wh.mart, run_id, governance_sample_query)
        findings = name_findings(findings, campaign_refs(wh))  # campaigns by name, in their one id form
        findings += findings_from_dbt_tests(outcome.test_failures, run_id, policy)
        findings = ledger.record_findings(wh, findings)
    counts = pd.Series([f.severity.value for f in findings]).value_counts().to_dict() if findings else {}
    report("judge", f"{len(findings)} findings ({counts.get('critical', 0)} critical, {counts.get('warn', 0)} warn)")
    return findings


@task(name="plan-actions", cache_policy=NO_CACHE)
def plan(findings: list[Finding], policy: Policy) -> list[PlannedAction]:
    return plan_actions(findings, policy)


@task(name="act", cache_policy=NO_CACHE)
def act(wh: Warehouse, plans: list[PlannedAction], decisions: dict[int, Decision],
        adapters: dict[str, SourceAdapter], run_id: str) -> list[dict]:
    """Carry out the pauses policy (and, where it asks, a person) decided, through the platform's own adapter.

    An earlier run's action left unconfirmed by a crash is settled first (``reconcile_controls``), so a pause this
    run plans again for the same campaign reads the settled state and is not sent twice.
    """
    done = [{"check_id": r["check_id"], "action": f"{r['action']}-reconcile", "target": r["target"],
             "outcome": r["outcome"], "decided_by": r["decided_by"]} for r in reconcile_controls(wh, adapters, run_id)]
    states = _states_before(plans, decisions, adapters)
    for i, plan_ in enumerate(plans):
        decision = decisions.get(i)
        decided_by = decision.decided_by if decision else f"policy:{plan_.finding.check_id}"
        reason = plan_.reason + (f"; {decision.how}: {decision.comment}" if decision else "")
        outcome, close = _execute(wh, plan_, decision, adapters, run_id, decided_by, states)
        audit = {"run_id": run_id, "fingerprint": plan_.finding.fingerprint, "check_id": plan_.finding.check_id,
                 "action": plan_.action, "target": plan_.target, "decided_by": decided_by, "reason": reason,
                 "outcome": outcome}
        if close is not None:  # the outcome row and the closed intent in one commit: a crash before it leaves the
            close(audit)  # intent open and no outcome row, for reconciliation to settle
        else:
            ledger.append_audit(wh, **audit)
        done.append({"check_id": plan_.finding.check_id, "action": plan_.action, "target": plan_.target,
                     "outcome": outcome, "decided_by": decided_by})
        report("act", f"{plan_.action} {plan_.target or plan_.finding.subject}: {outcome}")
    return done


def _adapter_for(plan_: PlannedAction, adapters: dict[str, SourceAdapter]) -> SourceAdapter | None:
    return next((a for a in adapters.values() if a.platform == plan_.platform), None)


def _states_before(plans: list[PlannedAction], decisions: dict[int, Decision],
                   adapters: dict[str, SourceAdapter]) -> dict[tuple[str, str], str]:
    """The state of every campaign this step will pause, read in one request per integration that can
    (``CampaignStates``), keyed by (integration, campaign id). A scheduled run plans again the pauses of every open
    finding, and most of those campaigns are still paused since an earlier run: one read instead of a status
    request (and an intent row) for each. A failed read costs nothing but the saving: each pause then reads its
    campaign itself, and reports its own error."""
    wanted: dict[str, list[str]] = {}
    for i, plan_ in enumerate(plans):
        decision = decisions.get(i)
        adapter = _adapter_for(plan_, adapters)
        if plan_.execute and plan_.campaign_id and (decision is None or decision.approved) \
                and isinstance(adapter, CampaignStates):
            wanted.setdefault(adapter.name, []).append(plan_.campaign_id)
    states: dict[tuple[str, str], str] = {}
    for name, ids in wanted.items():
        try:
            read = adapters[name].campaign_states(sorted(set(ids)))  # type: ignore[attr-defined]
        except StewardError:
            continue
        states.update({(name, cid): state for cid, state in read.items()})
    return states


def _execute(wh: Warehouse, plan_: PlannedAction, decision: Decision | None, adapters: dict[str, SourceAdapter],
             run_id: str, decided_by: str, states: dict[tuple[str, str], str] | None = None
             ) -> tuple[str, Callable[[dict], None] | None]:
    """The outcome, and what closes the intent written before the platform call, with the outcome's audit row
    (``append_audit``'s arguments) in the same commit (None when nothing was called).

    A platform call that raises leaves its intent open: whether the platform applied it is unknown until its
    status is read, which the next run (or ``steward campaigns reconcile``) does. A campaign ``states`` (read just
    before, ``_states_before``) says is paused already is not called at all, so it needs no intent."""
    if not plan_.execute:
        return "not executed: " + plan_.reason.rsplit("; ", 1)[-1], None
    if decision is not None and not decision.approved:
        return f"not executed: {decision.how}", None
    adapter = _adapter_for(plan_, adapters)
    if adapter is None:
        return f"not executed: no integration for platform {plan_.platform}", None
    if (states or {}).get((adapter.name, plan_.campaign_id or "")) == "paused":
        return "unchanged: already paused", None
    intent = ledger.begin_control(wh, ledger.ControlIntent(
        adapter.name, plan_.campaign_id or "", "pause", run_id, decided_by, plan_.reason,
        plan_.finding.fingerprint, plan_.finding.check_id, plan_.target))
    result = adapter.pause(intent.campaign_id, plan_.reason)
    state = "paused" if result.changed else None
    return ("paused" if result.changed else f"unchanged: {result.detail}",
            lambda audit: ledger.end_control(wh, intent, state, result.campaign_id, audit=audit))


def reconcile_controls(wh: Warehouse, adapters: dict[str, SourceAdapter], run_id: str) -> list[dict]:
    """Settle every pause or resume a killed process began but never confirmed, by reading the campaign's status
    on its platform: found in the intended state, it is recorded as Steward's doing (audit outcome ``reconciled``);
    found otherwise, the intent is abandoned and the row goes back to what it was. An intent whose platform cannot
    be read now stays open and is tried again next time; one whose adapter has no status read (a read-only
    integration, whose pause raises before any call) is abandoned."""
    settled = []
    for intent in ledger.open_intents(wh):
        adapter = adapters.get(intent.integration)
        want = "paused" if intent.action == "pause" else "active"
        if adapter is None:
            report("act", f"{intent.action} {intent.target or intent.campaign_id}: left open, integration "
                          f"'{intent.integration}' is not configured")
            continue
        try:
            found = adapter.campaign_state(intent.campaign_id) if isinstance(adapter, CampaignStatus) else None
        except StewardError as exc:
            report("act", f"{intent.action} {intent.target or intent.campaign_id}: left open, cannot read its "
                          f"status ({exc})")
            continue
        outcome = (f"reconciled: found {found} on {intent.integration}, recorded as {want} by Steward"
                   if found == want else
                   f"abandoned: found {found or 'no status read'} on {intent.integration}; the interrupted "
                   f"{intent.action} never took effect")
        ledger.append_audit(wh, run_id=run_id, fingerprint=intent.fingerprint, check_id=intent.check_id,
                            action=f"{intent.action}-reconcile", target=intent.target, decided_by=intent.decided_by,
                            reason=f"{intent.action} begun by run {intent.run_id} at {intent.started_at[:19]} and "
                                   f"never confirmed: {intent.reason}", outcome=outcome)
        ledger.end_control(wh, intent, want if found == want else None)
        report("act", f"{intent.action} {intent.target or intent.campaign_id} (run {intent.run_id}): {outcome}")
        settled.append({"integration": intent.integration, "campaign_id": intent.campaign_id,
                        "target": intent.target or f"{intent.integration}:{intent.campaign_id}",
                        "check_id": intent.check_id, "decided_by": intent.decided_by, "action": intent.action,
                        "run_id": intent.run_id, "outcome": outcome})
    return settled
