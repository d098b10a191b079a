"""Alerts as incidents, not messages: what each run tells Slack about each problem, decided from data alone.

A finding's fingerprint (same check, same subject) names its incident. Each run, ``plan`` compares the run's
alertable findings with the incidents on record and decides, per fingerprint::

    new, or resolved before ──▶ open      one parent message in the routed channel
    open, and worse than last told ──▶ worse      threaded reply + parent rewritten, whatever the quiet period
    open, quiet period over ──▶ repeat     threaded reply ("still open") + parent rewritten
    open, within the quiet period ──▶ suppress   nothing sent; last_seen_at moves
    open, absent from this run ──▶ resolve    threaded "resolved" reply + parent rewritten (only for checks this
                                              run evaluated: a check that did not run says nothing)

The quiet period is the check's ``suppress_hours``, else ``alerts.suppress_hours``. ``severity`` and ``observed``
on an incident are what people were last told, which is what "worse" and "was Y" compare against. Reading and
writing ``ledger.incidents`` and the Slack messages are ``integrations/notify/incidents.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from .finding import Finding, Severity
from .policy import Policy
from .routing import Route, route

__all__ = ["Incident", "Decision", "plan", "suppress_hours", "OPEN", "RESOLVED"]

OPEN, RESOLVED = "open", "resolved"


@dataclass(frozen=True)
class Incident:
    """One row of ``ledger.incidents``; ``finding`` is the finding as last notified."""

    fingerprint: str
    check_id: str
    subject: str
    channel: str
    status: str
    severity: Severity
    observed: float | None
    opened_at: datetime
    last_seen_at: datetime
    last_notified_at: datetime | None
    resolved_at: datetime | None
    thread_ts: str | None
    last_run_id: str | None
    parent_alert_id: str | None
    finding: Finding | None


@dataclass(frozen=True)
class Decision:
    """What this run does about one fingerprint: ``open``, ``repeat``, ``worse``, ``suppress`` or ``resolve``.

    ``finding`` is this run's finding (None when resolving), ``incident`` the record before this run (None for a
    fingerprint never seen), ``route`` where this run's finding would go (None when resolving).
    """

    kind: str
    fingerprint: str
    finding: Finding | None
    incident: Incident | None
    route: Route | None


def plan(findings: Iterable[Finding], known: Mapping[str, Incident], policy: Policy, evaluated: Iterable[str],
         now: datetime) -> list[Decision]:
    """Decide, per fingerprint, what this run tells Slack; pure, so the rules can be tested without a warehouse.

    Args:
        findings: This run's alertable findings (``contracts.actions.alertable``).
        known: Incidents on record, by fingerprint (``incidents`` gives them).
        policy: Routes, mentions and quiet periods.
        evaluated: Check ids this run evaluated; only their open incidents can be resolved by absence.
        now: The run's clock (tests pass their own).
    """
    decisions, seen = [], set()
    for f in findings:
        if f.fingerprint in seen:
            continue
        seen.add(f.fingerprint)
        decisions.append(Decision(_kind(f, known.get(f.fingerprint), policy, now), f.fingerprint, f,
                                  known.get(f.fingerprint), route(f, policy)))
    checks = set(evaluated)
    decisions += [Decision("resolve", i.fingerprint, None, i, None) for i in known.values()
                  if i.status == OPEN and i.fingerprint not in seen and i.check_id in checks]
    return decisions


def suppress_hours(check_id: str, policy: Policy) -> float:
    """The check's own quiet period, else the policy-wide one."""
    rule = policy.checks.get(check_id)
    return rule.suppress_hours if rule is not None and rule.suppress_hours is not None else policy.alerts.suppress_hours


def _kind(f: Finding, incident: Incident | None, policy: Policy, now: datetime) -> str:
    if incident is None or incident.status != OPEN:
        return "open"
    if f.severity.rank > incident.severity.rank:
        return "worse"
    quiet = timedelta(hours=suppress_hours(f.check_id, policy))
    if incident.last_notified_at is None or now - incident.last_notified_at >= quiet:
        return "repeat"
    return "suppress"
