"""Alerts as incidents, not messages: one Slack thread per problem, for as long as the problem lasts.

A finding's fingerprint (same check, same subject) names its incident in ``ledger.incidents``. Each run,
``contracts.incidents.plan`` decides per fingerprint: open, worse, repeat, suppress or resolve. ``record`` then
writes the incident rows and the Slack messages to the outbox in one transaction, so a crash leaves either both or
neither and a retried run (same run id) finds its incidents already notified and enqueues nothing twice.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable

import duckdb

from ...contracts.finding import Finding, Severity
from ...contracts.incidents import OPEN, RESOLVED, Decision, Incident
from ..warehouse import Warehouse
from ..warehouse import outbox
from .message import build_parent, build_reply, build_resolved_reply
from ..warehouse.outbox import OutboxMessage

__all__ = ["record", "incidents"]

_COLUMNS = ("fingerprint, check_id, subject, channel, status, severity, observed, opened_at, last_seen_at, "
            "last_notified_at, resolved_at, thread_ts, last_run_id, parent_alert_id, finding")


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
