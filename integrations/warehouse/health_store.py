"""``ledger.integration_health``: one row per integration per probe, with every signal, the verdict and the state.

The row also carries the hysteresis ``Track`` forward, so the monitor needs no memory of its own between runs: the
next probe reads the latest row. A row and the Slack message it announces are written in one transaction (the
outbox pattern the governance alerts use), so an announced transition is never lost and never recorded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from ...contracts.health_rules import Verdict
from ...contracts.health_signals import Signals
from ...contracts.health_state import Track
from . import outbox
from .connection import Warehouse

__all__ = ["Probe", "last_track", "record", "latest", "history", "last_change_reason", "COLUMNS"]

COLUMNS = ("seq, monitor_run_id, integration, platform, checked_at, probe_state, probe_detail, failure, status_code, "
           "auth_ok, latency_ms, headroom, hours_since_sync, sync_sla_hours, sync_error_rate, sync_runs, volume_rows, "
           "volume_ratio, drift_columns, schema_changes, server_error_streak, verdict, verdict_rule, verdict_reason, "
           "state, previous_state, rule, changed, in_maintenance, down_streak, bad_streak, degraded_streak, "
           "good_streak, unknown_streak, announced_state, episode_alert_id, alert_id, signals, reconciliation_rate, "
           "reconciliation_baseline, reconciliation_run_id")


@dataclass(frozen=True)
class Probe:
    """One recorded probe: what was measured, what it meant, where the state went, and what was announced."""

    signals: Signals
    verdict: Verdict
    previous: Track
    track: Track
    sla_hours: float | None
    silenced: bool
    message: outbox.OutboxMessage | None = None
    alert_id: str | None = None  # set once recorded


def last_track(wh: Warehouse, integration: str) -> tuple[Track, int, datetime | None]:
    """The latest row's track, its 5xx streak, and when the current state began (None: never probed)."""
    with wh.connect() as con:
        row = con.execute(
            "select state, rule, verdict_reason, down_streak, bad_streak, degraded_streak, good_streak, unknown_streak,"
            " announced_state, episode_alert_id, server_error_streak from ledger.integration_health "
            "where integration = ? order by seq desc limit 1", [integration]).fetchone()
        since = con.execute(
            "select min(checked_at) from ledger.integration_health where integration = ? and seq > coalesce(("
            "  select max(seq) from ledger.integration_health where integration = ? and changed), 0)",
            [integration, integration]).fetchone()
    if row is None:
        return Track(), 0, None
    track = Track(state=row[0], rule=row[1], reason=row[2] or "", down_streak=row[3], bad_streak=row[4],
                  degraded_streak=row[5], good_streak=row[6], unknown_streak=row[7], announced=row[8],
                  episode_alert_id=row[9])
    return track, int(row[10] or 0), since[0] if since else None


def record(wh: Warehouse, run_id: str, probe: Probe) -> str | None:
    """Write the row and, in the same transaction, its message to the outbox; returns the message's id."""
    s, v, t = probe.signals, probe.verdict, probe.track
    with wh.connect() as con:
        con.execute("begin")
        alert_id = outbox.insert(con, run_id, probe.message) if probe.message else None
        episode = t.episode_alert_id
        if alert_id and probe.message and probe.message.kind == outbox.POST:
            episode = alert_id
        if t.state == "healthy" and probe.message is not None:
            episode = None  # the recovery closes the thread
        con.execute(
            f"insert into ledger.integration_health ({COLUMNS}) values (nextval('ledger.integration_health_seq'), "
            + ", ".join("?" * 40) + ")",
            [run_id, s.integration, s.platform, s.checked_at, s.probe.probe_state, s.probe.probe_detail,
             s.probe.failure, s.probe.status_code, s.probe.auth_ok, s.probe.latency_ms, s.probe.headroom,
             s.ledger.hours_since_sync, probe.sla_hours, s.ledger.sync_error_rate, s.ledger.sync_runs,
             s.ledger.volume_rows, s.ledger.volume_ratio, s.ledger.drift_columns, s.ledger.schema_changes,
             s.server_error_streak, v.state, v.rule, v.reason, t.state, probe.previous.state, t.rule,
             t.state != probe.previous.state, probe.silenced, t.down_streak, t.bad_streak, t.degraded_streak,
             t.good_streak, t.unknown_streak, t.announced, episode, alert_id, s.as_json(),
             s.ledger.reconciliation_rate, s.ledger.reconciliation_baseline, s.ledger.reconciliation_run_id])
        con.execute("commit")
    return alert_id


def latest(wh: Warehouse, max_age: timedelta | None = None, now: datetime | None = None) -> pd.DataFrame:
    """Each integration's latest row (optionally only rows newer than ``max_age``), with when its state began."""
    where = "" if max_age is None else "where checked_at >= ?"
    params: list[Any] = [] if max_age is None else [(now or pd.Timestamp.now(tz="UTC")) - max_age]
    sql = f"""
        with rows as (select * from ledger.integration_health {where}),
        last as (select * from rows where seq in (select max(seq) from rows group by integration)),
        began as (select h.integration, max(h.checked_at) as state_since from ledger.integration_health h
                  where h.changed group by h.integration)
        select last.*, coalesce(began.state_since, first.first_at) as state_since
        from last left join began using (integration)
        left join (select integration, min(checked_at) as first_at from ledger.integration_health
                   group by integration) first using (integration)
        order by integration"""
    return wh.query_df(sql, params)


def history(wh: Warehouse, since: datetime, integration: str | None = None) -> pd.DataFrame:
    """Every probe since ``since`` (oldest first), for charts and tests."""
    return wh.query_df(
        f"select {COLUMNS} from ledger.integration_health where checked_at >= ? and (? is null or integration = ?) "
        "order by integration, seq", [since, integration, integration])


def last_change_reason(wh: Warehouse, integration: str) -> str:
    """Why the integration's state last changed (empty when it never did): the report shows it for a state that is
    not healthy, where the latest probe's own reason may only say the state holds."""
    frame = wh.query_df("select verdict_reason from ledger.integration_health where integration = ? and changed "
                        "order by seq desc limit 1", [integration])
    return str(frame.iloc[0, 0]) if len(frame) else ""
