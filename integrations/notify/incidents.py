"""Alerts as incidents, not messages: one Slack thread per problem, for as long as the problem lasts.

A finding's fingerprint (same check, same subject) names its incident in ``ledger.incidents``. Each run, ``plan``
compares the run's alertable findings with the incidents on record and decides, per fingerprint::

    new, or resolved before ──▶ open      one parent message in the routed channel
    open, and worse than last told ──▶ worse      threaded reply + parent rewritten, whatever the quiet period
    open, quiet period over ──▶ repeat     threaded reply ("still open") + parent rewritten
    open, within the quiet period ──▶ suppress   nothing sent; last_seen_at moves
    open, absent from this run ──▶ resolve    threaded "resolved" reply + parent rewritten (only for checks this
                                              run evaluated: a check that did not run says nothing)

The quiet period is the check's ``suppress_hours``, else ``alerts.suppress_hours``. ``record`` then writes the
incident rows and the Slack messages to the outbox in one transaction, so a crash leaves either both or neither and
a retried run (same run id) finds its incidents already notified and enqueues nothing twice. ``severity`` and
``observed`` on an incident are what people were last told, which is what "worse" and "was Y" compare against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Mapping

import duckdb

from ...contracts.finding import Finding, Severity
from ...contracts.policy import Policy
from ...contracts.routing import Route, route
from ..warehouse import Warehouse
from ..warehouse import outbox
from .message import build_parent, build_reply, build_resolved_reply
from ..warehouse.outbox import OutboxMessage

__all__ = ["Incident", "Decision", "plan", "record", "incidents", "suppress_hours", "OPEN", "RESOLVED"]

OPEN, RESOLVED = "open", "resolved"
_COLUMNS = ("fingerprint, check_id, subject, channel, status, severity, observed, opened_at, last_seen_at, "
            "last_notified_at, resolved_at, thread_ts, last_run_id, parent_alert_id, finding")


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


def record(warehouse: Warehouse, run_id: str, decisions: Iterable[Decision], now: datetime,
           report: str | None = None, flow_run_url: str | None = None) -> list[str]:
    """Write the incidents and enqueue their Slack messages in one transaction; returns the outbox ids."""
    ids: list[str] = []
    with warehouse.connect() as con:
        con.execute("begin")
        for d in decisions:
            messages = _messages(run_id, d, now, report, flow_run_url)
            new_ids = [outbox.insert(con, run_id, m) for m in messages]
            _write(con, run_id, d, now, new_ids[0] if d.kind == "open" and new_ids else None)
            ids += new_ids
        con.execute("commit")
    return ids


def incidents(warehouse: Warehouse, status: str | None = None) -> list[Incident]:
    """Incidents on record, oldest first, optionally only ``open`` or ``resolved`` ones."""
    with warehouse.connect() as con:
        rows = con.execute(f"select {_COLUMNS} from ledger.incidents where (? is null or status = ?) "
                           f"order by opened_at, fingerprint", [status, status]).fetchall()
    return [Incident(*r[:5], Severity(r[5]), *r[6:14], Finding.model_validate(json.loads(r[14])) if r[14] else None)
            for r in rows]


def _kind(f: Finding, incident: Incident | None, policy: Policy, now: datetime) -> str:
    if incident is None or incident.status != OPEN:
        return "open"
    if f.severity.rank > incident.severity.rank:
        return "worse"
    quiet = timedelta(hours=suppress_hours(f.check_id, policy))
    if incident.last_notified_at is None or now - incident.last_notified_at >= quiet:
        return "repeat"
    return "suppress"


def _messages(run_id: str, d: Decision, now: datetime, report: str | None,
              flow_run_url: str | None = None) -> list[OutboxMessage]:
    """The Slack calls a decision needs: a parent post, or a threaded reply plus an update of the parent."""
    f, inc, fp = d.finding, d.incident, d.fingerprint
    if d.kind == "open" and f is not None and d.route is not None:
        parent = build_parent(f, run_id, opened_at=now, mention=d.route.mention, report=report, flow_run_url=flow_run_url)
        return [OutboxMessage(outbox.POST, d.route.channel, parent, fp)]
    if d.kind in ("repeat", "worse") and f is not None and inc is not None:
        mention = d.route.mention if d.route else None
        reply = build_reply(f, previous_severity=inc.severity, previous_observed=inc.observed,
                            opened_at=inc.opened_at, now=now, mention=mention)
        parent = build_parent(f, run_id, opened_at=inc.opened_at, now=now, mention=mention, report=report, flow_run_url=flow_run_url)
    elif d.kind == "resolve" and inc is not None and inc.finding is not None:
        reply = build_resolved_reply(inc.finding, opened_at=inc.opened_at, resolved_at=now, run_id=run_id)
        parent = build_parent(inc.finding, run_id, opened_at=inc.opened_at, resolved_at=now, report=report, flow_run_url=flow_run_url)
    else:
        return []
    return [OutboxMessage(outbox.REPLY, inc.channel, reply, fp, inc.parent_alert_id),
            OutboxMessage(outbox.UPDATE, inc.channel, parent, fp, inc.parent_alert_id)]


def _write(con: duckdb.DuckDBPyConnection, run_id: str, d: Decision, now: datetime, parent_id: str | None) -> None:
    """The incident row after this run's decision; a reopened incident starts a new thread."""
    f = d.finding
    if d.kind == "open" and f is not None and d.route is not None:
        con.execute(f"insert or replace into ledger.incidents ({_COLUMNS}) "
                    f"values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, null, ?, ?, ?)",
                    [d.fingerprint, f.check_id, f.subject, d.route.channel, OPEN, f.severity.value, f.observed, now,
                     now, now, run_id, parent_id, _json(f)])
    elif d.kind in ("repeat", "worse") and f is not None:
        con.execute("update ledger.incidents set severity = ?, observed = ?, last_seen_at = ?, last_notified_at = ?, "
                    "last_run_id = ?, finding = ? where fingerprint = ?",
                    [f.severity.value, f.observed, now, now, run_id, _json(f), d.fingerprint])
    elif d.kind == "suppress":
        con.execute("update ledger.incidents set last_seen_at = ?, last_run_id = ? where fingerprint = ?",
                    [now, run_id, d.fingerprint])
    elif d.kind == "resolve":
        con.execute("update ledger.incidents set status = ?, resolved_at = ?, last_notified_at = ?, last_run_id = ? "
                    "where fingerprint = ?", [RESOLVED, now, now, run_id, d.fingerprint])


def _json(f: Finding) -> str:
    return json.dumps(f.model_dump(mode="json"), default=str)
