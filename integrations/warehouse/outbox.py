"""The alert outbox: every Slack message is written to the warehouse before anyone tries to send it, so none is lost.

A row is one Slack call: a ``post`` (an incident's parent message, or a digest), a ``reply`` in a parent's thread,
or an ``update`` that rewrites a parent. Replies and updates name their parent row; the parent's Slack ``ts`` is
looked up when they are delivered, so a reply written while Slack was down still lands in the right thread, and it
waits while its parent is still queued. Life of a row in ``ledger.alert_outbox``::

    enqueue ──▶ queued ──deliver, Slack ok──▶ sent (ts and channel id kept for threads and updates)
                  │  └──deliver, transient failure──▶ queued (attempts + 1, last_error)
                  ├──deliver, Slack refuses it (or an update's parent never reached Slack)──▶ rejected
                  └──mark_printed (no Slack configured)──▶ local

``deliver`` only ever sends ``queued`` rows, so running it twice, or in a new process after a crash, never sends a
sent message again. A crash between Slack's ok and the status update can still resend one message: at-least-once is
the price of never losing one. Connections are short-lived and never held across an HTTP call.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol

import duckdb

from ...contracts.errors import ChannelError, NotifyError
from .connection import Warehouse

__all__ = ["Sender", "SendOutcome", "OutboxMessage", "Alert", "DeliveryReport", "enqueue", "insert", "deliver",
           "mark_printed", "alerts", "QUEUED", "SENT", "LOCAL", "REJECTED", "POST", "REPLY", "UPDATE"]

QUEUED, SENT, LOCAL, REJECTED = "queued", "sent", "local", "rejected"
POST, REPLY, UPDATE = "post", "reply", "update"
_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+|Bearer\s+\S+")
_COLUMNS = ("alert_id, run_id, kind, channel, fingerprint, parent_id, payload, status, attempts, last_error, "
            "created_at, sent_at, ts, channel_id")


class SendOutcome(Protocol):
    """What a sender returns (``notify.slack.SendResult`` fits)."""

    ok: bool
    error: str | None
    ts: str | None
    channel: str | None


class Sender(Protocol):
    """Anything that posts and updates Slack messages (``notify.slack.SlackNotifier`` fits)."""

    def send(self, payload: Mapping[str, Any], thread_ts: str | None = None,
             channel: str | None = None) -> SendOutcome: ...

    def update(self, ts: str, payload: Mapping[str, Any], channel: str | None = None) -> SendOutcome: ...


@dataclass(frozen=True)
class OutboxMessage:
    """A message to write: ``fingerprint`` names its incident, ``parent_id`` the post a reply or update belongs to."""

    kind: str
    channel: str
    payload: Mapping[str, Any]
    fingerprint: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True)
class Alert:
    """One outbox row."""

    alert_id: str
    run_id: str
    kind: str
    channel: str
    fingerprint: str | None
    parent_id: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    ts: str | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """What one ``deliver`` call did: ``pending`` counts rows still queued afterwards; ``blocked`` names channels
    that refused the bot (their rows stay queued until the channel is fixed); ``sent_ids`` are the rows Slack
    accepted, whichever run queued them, so a caller can say how many an earlier run had left behind."""

    sent: int
    failed: int
    pending: int
    blocked: tuple[str, ...] = ()
    sent_ids: tuple[str, ...] = field(default=(), compare=False)  # which rows; ``sent`` already says how many


def enqueue(warehouse: Warehouse, run_id: str, *messages: OutboxMessage) -> list[str]:
    """Store messages as ``queued``, in order, and return their ids (see ``insert``)."""
    with warehouse.connect() as con:
        con.execute("begin")
        ids = [insert(con, run_id, m) for m in messages]
        con.execute("commit")
    return ids


def insert(con: duckdb.DuckDBPyConnection, run_id: str, message: OutboxMessage) -> str:
    """Store one message inside the caller's transaction; the same run, incident and kind give the same id.

    A retried flow task therefore enqueues nothing twice: the second insert finds the row and returns its id.
    Messages without an incident (a digest) are told apart by channel instead.
    """
    key = message.fingerprint or f"channel:{message.channel}"
    alert_id = "al-" + hashlib.sha256(f"{run_id}|{key}|{message.kind}".encode()).hexdigest()[:16]
    con.execute(
        "insert into ledger.alert_outbox (alert_id, run_id, kind, channel, fingerprint, parent_id, payload, status, "
        "attempts, created_at, seq) values (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, nextval('ledger.alert_outbox_seq')) "
        "on conflict (alert_id) do nothing",
        [alert_id, run_id, message.kind, message.channel, message.fingerprint, message.parent_id,
         json.dumps(message.payload), QUEUED, _now()])
    return alert_id


def deliver(warehouse: Warehouse, sender: Sender, channel: str | None = None) -> DeliveryReport:
    """Send every queued message (of one channel, if given), oldest first, and record each outcome.

    Stops at the first transient failure (Slack down or still throttling after the client's own retries): the rest
    stay queued for the next call instead of each waiting out the same outage. A channel that refuses the bot is
    recorded on its rows and skipped for this call; a ``NotifyError`` about the token is recorded and re-raised,
    since every other message would fail the same way.
    """
    sent = failed = 0
    blocked: list[str] = []
    sent_ids: list[str] = []
    for alert in alerts(warehouse, status=QUEUED, channel=channel):
        parent = _parent(warehouse, alert)
        if alert.channel in blocked or (parent is not None and parent.status == QUEUED):
            continue  # its channel is refused, or its thread does not exist yet: wait
        try:
            outcome = _send(sender, alert, parent)
        except ChannelError as exc:
            _record_failure(warehouse, alert.alert_id, str(exc), QUEUED)
            blocked.append(alert.channel)
            continue
        except NotifyError as exc:
            _record_failure(warehouse, alert.alert_id, str(exc), QUEUED)
            raise
        if outcome.ok:
            _mark_sent(warehouse, alert, outcome)
            sent += 1
            sent_ids.append(alert.alert_id)
            continue
        failed += 1
        retryable = getattr(outcome, "retryable", True)
        _record_failure(warehouse, alert.alert_id, outcome.error or "unknown error", QUEUED if retryable else REJECTED)
        if retryable:
            break
    pending = len(alerts(warehouse, status=QUEUED, channel=channel))
    return DeliveryReport(sent=sent, failed=failed, pending=pending, blocked=tuple(blocked), sent_ids=tuple(sent_ids))


def mark_printed(warehouse: Warehouse, alert_id: str) -> None:
    """Record that a queued message went to the console because no Slack is configured; it will not be sent later."""
    _mark(warehouse, alert_id, LOCAL)


def alerts(warehouse: Warehouse, status: str | None = None, channel: str | None = None,
           ids: list[str] | None = None) -> list[Alert]:
    """Outbox rows, oldest first, optionally only one status, one channel, or the given ids."""
    sql = (f"select {_COLUMNS} from ledger.alert_outbox where (? is null or status = ?) and (? is null or channel = ?) "
           f"and (? is null or list_contains(?, alert_id)) order by created_at, seq nulls first, alert_id")
    with warehouse.connect() as con:
        rows = con.execute(sql, [status, status, channel, channel, ids, ids]).fetchall()
    return [_alert(r) for r in rows]


def _alert(row: tuple) -> Alert:
    return Alert(row[0], row[1], row[2] or POST, row[3], row[4], row[5], json.loads(row[6]), row[7], row[8] or 0,
                 row[9], row[10], row[11], row[12], row[13])


def _parent(warehouse: Warehouse, alert: Alert) -> Alert | None:
    if alert.kind == POST or alert.parent_id is None:
        return None
    found = alerts(warehouse, ids=[alert.parent_id])
    return found[0] if found else None


class _NeverPosted:
    """The outcome for an update whose parent never reached Slack (printed or refused): nothing to update."""

    ok, ts, channel, retryable = False, None, None, False
    error = "its parent message never reached Slack, so there is nothing to update"


def _send(sender: Sender, alert: Alert, parent: Alert | None) -> SendOutcome:
    """A reply goes into its parent's thread, or on its own if the parent never reached Slack; an update edits it."""
    parent_ts = parent.ts if parent is not None and parent.status == SENT else None
    if alert.kind == UPDATE:
        if parent_ts is None:
            return _NeverPosted()
        return sender.update(parent_ts, alert.payload, channel=parent.channel_id or parent.channel)
    return sender.send(alert.payload, thread_ts=parent_ts if alert.kind == REPLY else None, channel=alert.channel)


def _mark_sent(warehouse: Warehouse, alert: Alert, outcome: SendOutcome) -> None:
    """Sent, with Slack's ``ts`` and channel id; a sent incident parent also gives the incident its thread."""
    with warehouse.connect() as con:
        con.execute("update ledger.alert_outbox set status = ?, sent_at = ?, ts = ?, channel_id = ? "
                    "where alert_id = ? and status = ?",
                    [SENT, _now(), getattr(outcome, "ts", None), getattr(outcome, "channel", None), alert.alert_id,
                     QUEUED])
        if alert.kind == POST and alert.fingerprint:
            con.execute("update ledger.incidents set thread_ts = ? where parent_alert_id = ?",
                        [getattr(outcome, "ts", None), alert.alert_id])


def _mark(warehouse: Warehouse, alert_id: str, status: str) -> None:
    """Moves a queued message to a final status; a row that is no longer queued is left as it is."""
    with warehouse.connect() as con:
        con.execute("update ledger.alert_outbox set status = ?, sent_at = ? where alert_id = ? and status = ?",
                    [status, _now(), alert_id, QUEUED])


def _record_failure(warehouse: Warehouse, alert_id: str, error: str, status: str) -> None:
    with warehouse.connect() as con:
        con.execute("update ledger.alert_outbox set attempts = coalesce(attempts, 0) + 1, last_error = ?, "
                    "status = ? where alert_id = ? and status = ?",
                    [_TOKEN.sub("[token]", error)[:500], status, alert_id, QUEUED])


def _now() -> datetime:
    return datetime.now(timezone.utc)
