"""The alert outbox: an alert is written to the warehouse before anyone tries to send it, so none is ever lost.

Life of a row in ``ledger.alert_outbox``::

    enqueue ──▶ queued ──deliver, Slack ok──▶ sent
                  │  └──deliver, transient failure──▶ queued (attempts + 1, last_error)
                  ├──deliver, Slack refuses the payload──▶ rejected (kept, never resent)
                  └──mark_printed (no Slack configured)──▶ local

``deliver`` only ever sends ``queued`` rows, so running it twice, or in a new process after a crash, never sends a
sent alert again. A crash between Slack's ok and the status update can still resend one alert: at-least-once is the
price of never losing one. Connections are short-lived and never held across an HTTP call.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol, Sequence

from ...contracts.finding import Finding
from ..errors import NotifyError
from ..warehouse import Warehouse

__all__ = ["Sender", "SendOutcome", "Alert", "DeliveryReport", "enqueue", "deliver", "mark_printed", "alerts",
           "QUEUED", "SENT", "LOCAL", "REJECTED"]

QUEUED, SENT, LOCAL, REJECTED = "queued", "sent", "local", "rejected"
_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+|Bearer\s+\S+")


class SendOutcome(Protocol):
    """What a sender returns (``notify.slack.SendResult`` fits)."""

    ok: bool
    error: str | None


class Sender(Protocol):
    """Anything that posts a payload to one channel (``notify.slack.SlackNotifier`` fits)."""

    channel: str

    def send(self, payload: Mapping[str, Any], thread_ts: str | None = None) -> SendOutcome: ...


@dataclass(frozen=True)
class Alert:
    """One outbox row."""

    alert_id: str
    run_id: str
    channel: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class DeliveryReport:
    """What one ``deliver`` call did: ``pending`` counts rows still queued for the channel afterwards."""

    sent: int
    failed: int
    pending: int


def enqueue(warehouse: Warehouse, run_id: str, findings: Sequence[Finding], channel: str,
            payload: Mapping[str, Any]) -> str:
    """Store an alert as ``queued`` and return its id; the same run, channel and findings give the same id.

    A retried flow task therefore enqueues nothing twice: the second call finds the row and returns its id.
    """
    fingerprints = ",".join(sorted({f.fingerprint for f in findings}))
    alert_id = "al-" + hashlib.sha256(f"{run_id}|{channel}|{fingerprints}".encode()).hexdigest()[:16]
    with warehouse.connect() as con:
        con.execute(
            "insert into ledger.alert_outbox (alert_id, run_id, fingerprint, channel, payload, status, attempts, "
            "created_at) values (?, ?, ?, ?, ?, ?, 0, ?) on conflict (alert_id) do nothing",
            [alert_id, run_id, fingerprints, channel, json.dumps(payload), QUEUED, _now()])
    return alert_id


def deliver(warehouse: Warehouse, sender: Sender) -> DeliveryReport:
    """Send every queued alert for ``sender.channel``, oldest first, and record each outcome.

    Stops at the first transient failure (Slack down or still throttling after the client's own retries): the rest
    stay queued for the next call instead of each waiting out the same outage. A ``NotifyError`` (bad token, unknown
    channel) is recorded on the alert and re-raised, since every other alert would fail the same way.
    """
    sent = failed = 0
    for alert in alerts(warehouse, status=QUEUED, channel=sender.channel):
        try:
            outcome = sender.send(alert.payload)
        except NotifyError as exc:
            _record_failure(warehouse, alert.alert_id, str(exc), QUEUED)
            raise
        if outcome.ok:
            _mark(warehouse, alert.alert_id, SENT)
            sent += 1
            continue
        failed += 1
        retryable = getattr(outcome, "retryable", True)
        _record_failure(warehouse, alert.alert_id, outcome.error or "unknown error", QUEUED if retryable else REJECTED)
        if retryable:
            break
    pending = len(alerts(warehouse, status=QUEUED, channel=sender.channel))
    return DeliveryReport(sent=sent, failed=failed, pending=pending)


def mark_printed(warehouse: Warehouse, alert_id: str) -> None:
    """Record that a queued alert went to the console because no Slack is configured; it will not be sent later."""
    _mark(warehouse, alert_id, LOCAL)


def alerts(warehouse: Warehouse, status: str | None = None, channel: str | None = None) -> list[Alert]:
    """Outbox rows, oldest first, optionally only one status and one channel."""
    sql = ("select alert_id, run_id, channel, payload, status, attempts, last_error, created_at, sent_at "
           "from ledger.alert_outbox where (? is null or status = ?) and (? is null or channel = ?) "
           "order by created_at, alert_id")
    with warehouse.connect() as con:
        rows = con.execute(sql, [status, status, channel, channel]).fetchall()
    return [Alert(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5] or 0, r[6], r[7], r[8]) for r in rows]


def _mark(warehouse: Warehouse, alert_id: str, status: str) -> None:
    """Moves a queued alert to a final status; a row that is no longer queued is left as it is."""
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
