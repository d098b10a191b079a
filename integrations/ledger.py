"""Steward's own records in the warehouse: runs, findings across runs, and the append-only, hash-chained audit log.

Transparency applies to us too: every run, every finding and every action can be explained afterwards from these
tables alone. Each audit row carries the hash of the previous one, so an edited or deleted row breaks the chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from datetime import datetime, timezone
from typing import Any, Iterable

from .warehouse import Warehouse

__all__ = ["start_run", "finish_run", "mark_abandoned", "record_findings", "append_audit", "verify_audit_log", "campaign_controls", "record_control",
           "AUDIT_FIELDS"]

AUDIT_FIELDS = ("seq", "logged_at", "run_id", "fingerprint", "check_id", "action", "target", "decided_by", "reason",
                "outcome")


def start_run(wh: Warehouse, run_id: str, kind: str, config_path: str | None) -> datetime:
    """Record a run as ``running``, with the process and host running it: if the process dies without finishing
    the run (``kill -9``, a lost machine), the next run can tell the row is stale (``mark_abandoned``)."""
    now = datetime.now(timezone.utc)
    with wh.connect() as con:
        con.execute("insert into ledger.runs (run_id, kind, started_at, finished_at, status, config_path, summary, "
                    "pid, host) values (?, ?, ?, null, 'running', ?, null, ?, ?)",
                    [run_id, kind, now, config_path, os.getpid(), socket.gethostname()])
    return now


def finish_run(wh: Warehouse, run_id: str, status: str, summary: dict[str, Any]) -> None:
    with wh.connect() as con:
        con.execute("update ledger.runs set finished_at = ?, status = ?, summary = ? where run_id = ?",
                    [datetime.now(timezone.utc), status, json.dumps(summary, default=str), run_id])


def mark_abandoned(wh: Warehouse) -> list[str]:
    """Runs left ``running`` by a process that is gone become ``abandoned``; returns their ids.

    Called by a run that holds the writer lock, so no other run on this warehouse can be live. A row from this host
    whose process no longer exists is certainly stale; so is a row without a pid (written before pids were recorded).
    A row from another host is left alone: its process cannot be checked from here.
    """
    host = socket.gethostname()
    with wh.connect() as con:
        rows = con.execute("select run_id, pid, host from ledger.runs where status = 'running'").fetchall()
        stale = [(run_id, pid, at) for run_id, pid, at in rows
                 if pid is None or (at == host and pid != os.getpid() and not _alive(pid))]
        for run_id, pid, at in stale:
            why = f"process {pid} on {at} is gone" if pid is not None else "no process recorded; the run is not live"
            con.execute("update ledger.runs set status = 'abandoned', finished_at = ?, summary = ? where run_id = ?",
                        [datetime.now(timezone.utc), json.dumps({"error": f"abandoned: {why}"}), run_id])
    return [run_id for run_id, _, _ in stale]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def campaign_controls(wh: Warehouse):
    """Every campaign Steward has paused or resumed, oldest change first."""
    return wh.query_df("select integration, campaign_id, state, changed_at, reason from ledger.campaign_controls "
                       "order by changed_at, integration, campaign_id")


def record_control(wh: Warehouse, integration: str, campaign_id: str, state: str, reason: str) -> None:
    """The campaign's state as Steward last set it, whichever platform holds the campaign."""
    with wh.connect() as con:
        con.execute("insert or replace into ledger.campaign_controls values (?, ?, ?, ?, ?)",
                    [integration, campaign_id, state, reason, datetime.now(timezone.utc)])


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
