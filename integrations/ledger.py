"""Steward's own records in the warehouse: runs, findings across runs, and the append-only, hash-chained audit log.

Transparency applies to us too: every run, every finding and every action can be explained afterwards from these
tables alone. Each audit row carries the hash of the previous one, so an edited or deleted row breaks the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from .warehouse import Warehouse

__all__ = ["start_run", "finish_run", "record_findings", "append_audit", "verify_audit_log", "campaign_controls", "record_control",
           "AUDIT_FIELDS"]

AUDIT_FIELDS = ("seq", "logged_at", "run_id", "fingerprint", "check_id", "action", "target", "decided_by", "reason",
                "outcome")


def start_run(wh: Warehouse, run_id: str, kind: str, config_path: str | None) -> datetime:
    now = datetime.now(timezone.utc)
    with wh.connect() as con:
        con.execute("insert into ledger.runs values (?, ?, ?, null, 'running', ?, null)", [run_id, kind, now, config_path])
    return now


def finish_run(wh: Warehouse, run_id: str, status: str, summary: dict[str, Any]) -> None:
    with wh.connect() as con:
        con.execute("update ledger.runs set finished_at = ?, status = ?, summary = ? where run_id = ?",
                    [datetime.now(timezone.utc), status, json.dumps(summary, default=str), run_id])


def campaign_controls(wh: Warehouse):
    """Every campaign Steward has paused or resumed, oldest change first."""
    return wh.query_df("select integration, campaign_id, state, changed_at, reason from ledger.campaign_controls "
                       "order by changed_at, integration, campaign_id")


def record_control(wh: Warehouse, integration: str, campaign_id: str, state: str, reason: str) -> None:
    """The campaign's state as Steward last set it, whichever platform holds the campaign (clears any intent)."""
    with wh.connect() as con:
        con.execute("insert or replace into ledger.campaign_controls (integration, campaign_id, state, reason, "
                    "changed_at, intent) values (?, ?, ?, ?, ?, null)",
                    [integration, campaign_id, state, reason, datetime.now(timezone.utc)])


__all__ += ["ControlIntent", "begin_control", "end_control", "open_intents", "confirmed_state", "IN_FLIGHT"]

# The state a campaign_controls row holds between "about to call the platform" and "the platform answered".
IN_FLIGHT = {"pause": "pausing", "resume": "resuming"}


@dataclass(frozen=True)
class ControlIntent:
    """A pause or resume Steward is about to send to a platform, written down before the call (``begin_control``).

    ``prior`` is the campaign_controls row it replaced (state, reason, changed_at), put back when the action turns
    out not to have happened (``end_control(..., None)``).
    """

    integration: str
    campaign_id: str
    action: str  # pause | resume
    run_id: str
    decided_by: str
    reason: str
    fingerprint: str | None = None
    check_id: str | None = None
    target: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    prior: dict[str, Any] | None = None


def begin_control(wh: Warehouse, intent: ControlIntent) -> ControlIntent:
    """Write the intent before the platform is called: the row turns ``pausing``/``resuming`` (committed), then an
    audit row ``<action>-intent``. A process killed after the platform call and before ``end_control`` therefore
    leaves a row that the next run resolves (``flows.steps.reconcile_controls``) instead of a pause nobody knows of.
    Returns the intent with the replaced row kept in ``prior``."""
    with wh.connect() as con:
        con.execute("begin")
        row = con.execute("select state, reason, changed_at from ledger.campaign_controls where integration = ? "
                          "and campaign_id = ?", [intent.integration, intent.campaign_id]).fetchone()
        if row is not None and row[0] not in IN_FLIGHT.values():
            prior = {"state": row[0], "reason": row[1], "changed_at": row[2].isoformat() if row[2] else None}
            intent = ControlIntent(**{**asdict(intent), "prior": prior})
        elif row is not None:  # an older intent still open: keep what it would restore
            intent = ControlIntent(**{**asdict(intent), "prior": _intent(con, intent).prior})
        con.execute("insert or replace into ledger.campaign_controls (integration, campaign_id, state, reason, "
                    "changed_at, intent) values (?, ?, ?, ?, ?, ?)",
                    [intent.integration, intent.campaign_id, IN_FLIGHT[intent.action], intent.reason,
                     datetime.now(timezone.utc), json.dumps(asdict(intent))])
        con.execute("commit")
    append_audit(wh, run_id=intent.run_id, fingerprint=intent.fingerprint, check_id=intent.check_id,
                 action=f"{intent.action}-intent", target=intent.target, decided_by=intent.decided_by,
                 reason=intent.reason, outcome=f"{IN_FLIGHT[intent.action]}: about to call {intent.integration}")
    return intent


def end_control(wh: Warehouse, intent: ControlIntent, state: str | None, campaign_id: str | None = None) -> None:
    """Close an intent: ``state`` is what the platform now holds because of it (``paused``/``active``), or None
    when nothing changed, which puts the replaced row back (or removes the row if there was none). ``campaign_id``
    is the platform's own spelling of the id when it differs from the intent's (Google Ads strips to digits)."""
    final_id = campaign_id or intent.campaign_id
    with wh.connect() as con:
        con.execute("begin")
        con.execute("delete from ledger.campaign_controls where integration = ? and campaign_id in (?, ?) "
                    "and state in (?, ?)", [intent.integration, intent.campaign_id, final_id, *IN_FLIGHT.values()])
        if state is not None:
            con.execute("insert or replace into ledger.campaign_controls (integration, campaign_id, state, reason, "
                        "changed_at, intent) values (?, ?, ?, ?, ?, null)",
                        [intent.integration, final_id, state, intent.reason, datetime.now(timezone.utc)])
        elif intent.prior is not None:
            con.execute("insert or ignore into ledger.campaign_controls (integration, campaign_id, state, reason, "
                        "changed_at) values (?, ?, ?, ?, ?)",
                        [intent.integration, intent.campaign_id, intent.prior["state"], intent.prior["reason"],
                         _instant(intent.prior.get("changed_at"))])
        con.execute("commit")


def open_intents(wh: Warehouse) -> list[ControlIntent]:
    """Pauses and resumes begun but never closed (the process died mid-action), oldest first."""
    with wh.connect() as con:
        rows = con.execute("select intent from ledger.campaign_controls where state in (?, ?) and intent is not null "
                           "order by changed_at, integration, campaign_id", list(IN_FLIGHT.values())).fetchall()
    return [ControlIntent(**json.loads(r[0])) for r in rows]


def confirmed_state(wh: Warehouse, integration: str, campaign_id: str) -> str | None:
    """The campaign's last confirmed state in the ledger, looking through an open intent to the row it replaced
    (for an export-files integration this ledger is the platform, and an intent is not yet a change)."""
    with wh.connect() as con:
        row = con.execute("select state, intent from ledger.campaign_controls where integration = ? and "
                          "campaign_id = ?", [integration, campaign_id]).fetchone()
    if row is None or row[0] not in IN_FLIGHT.values():
        return row[0] if row else None
    prior = json.loads(row[1]).get("prior") if row[1] else None
    return prior["state"] if prior else None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _intent(con: Any, intent: ControlIntent) -> ControlIntent:
    row = con.execute("select intent from ledger.campaign_controls where integration = ? and campaign_id = ?",
                      [intent.integration, intent.campaign_id]).fetchone()
    return ControlIntent(**json.loads(row[0])) if row and row[0] else intent


def record_findings(wh: Warehouse, findings: Iterable[Any]) -> list[Any]:
    """Store the run's findings; first_seen_at carries over from earlier runs with the same fingerprint."""
    now = datetime.now(timezone.utc)
    out = []
    with wh.connect() as con:
        con.execute("begin")
        for f in findings:
            row = con.execute("select min(first_seen_at) from ledger.findings where fingerprint = ?",
                              [f.fingerprint]).fetchone()
            f = f.model_copy(update={"first_seen_at": (row[0] if row and row[0] else now), "last_seen_at": now})
            con.execute(
                "insert or replace into ledger.findings values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [f.run_id, f.fingerprint, f.check_id, f.family, f.severity.value, f.subject_type, f.subject, f.metric,
                 f.observed, f.threshold, json.dumps(f.evidence, default=str), f.explanation, f.sample_query, f.owner,
                 f.action, f.first_seen_at, f.last_seen_at])
            out.append(f)
        con.execute("commit")
    return out


def _digest(prev_hash: str, row: dict[str, Any]) -> str:
    body = json.dumps({k: (str(row[k]) if row[k] is not None else None) for k in AUDIT_FIELDS}, sort_keys=True)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append_audit(wh: Warehouse, *, run_id: str, fingerprint: str | None, check_id: str | None, action: str,
                 target: str | None, decided_by: str, reason: str, outcome: str) -> int:
    """Append one decision to the audit log and return its sequence number."""
    with wh.connect() as con:
        con.execute("begin")
        last = con.execute("select seq, hash from ledger.audit_log order by seq desc limit 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, "")
        now = datetime.now(timezone.utc)
        row = {"seq": seq, "logged_at": now.isoformat(), "run_id": run_id, "fingerprint": fingerprint,
               "check_id": check_id, "action": action, "target": target, "decided_by": decided_by, "reason": reason,
               "outcome": outcome}
        con.execute("insert into ledger.audit_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [seq, now, run_id, fingerprint, check_id, action, target, decided_by, reason, outcome, prev,
                     _digest(prev, row)])
        con.execute("commit")
    return seq


def verify_audit_log(wh: Warehouse) -> int | None:
    """The sequence number of the first row whose hash does not match its content, or None when intact."""
    with wh.connect() as con:
        rows = con.execute(f"select {', '.join(AUDIT_FIELDS)}, prev_hash, hash from ledger.audit_log order by seq").fetchall()
    prev = ""
    for values in rows:
        row = dict(zip(AUDIT_FIELDS, values))
        row["logged_at"] = row["logged_at"].astimezone(timezone.utc).isoformat()
        stored_prev, stored_hash = values[-2], values[-1]
        if stored_prev != prev or _digest(prev, row) != stored_hash:
            return int(row["seq"])
        prev = stored_hash
    return None
