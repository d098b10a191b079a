"""One integration, one monitor run: probe, read the ledgers, judge, move the state, record, announce.

A bad verdict that has not moved the state yet (hysteresis wants ``down_after`` in a row) is re-probed after
``confirm_interval_seconds`` within the same run instead of a whole interval later. That keeps a single failed
probe from alerting anyone while an outage that lasts is announced within about one interval of starting.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable

from ...contracts.policy import HealthPolicy

from ...contracts.errors import StewardError
from ..warehouse import outbox
from ..warehouse import Warehouse
from ..warehouse import health_store as store
from ..notify.health_messages import transition_message
from .signals import ledger_signals, probe_signals, scrub
from ...contracts.health_rules import in_maintenance, verdict
from ...contracts.health_signals import ProbeSignals, Signals
from ...contracts.health_state import Track, advance, announce, needs_confirmation

__all__ = ["check_integration", "fingerprint"]

AdapterFactory = Callable[[], Any]


def fingerprint(integration: str) -> str:
    """Names an integration's health messages in the outbox (never a finding's fingerprint)."""
    return f"health:{integration}"


def check_integration(wh: Warehouse, health: HealthPolicy, name: str, platform: str, make_adapter: AdapterFactory,
                      run_id: str, channel: str, now: Callable[[], datetime] | None = None) -> list[store.Probe]:
    """Probe ``name`` until its verdict is settled for this run; every probe is recorded. Returns the probes."""
    clock = now or (lambda: datetime.now(timezone.utc))
    rules = health.rules_for(name, platform)
    adapter, problem = _build(make_adapter)
    probes: list[store.Probe] = []
    try:
        track, streak, since = store.last_track(wh, name)
        for attempt in range(max(rules.down_after, rules.degraded_after)):
            if attempt:
                time.sleep(health.confirm_interval_seconds)
            at = clock()
            probe = problem or probe_signals(adapter)
            streak = streak + 1 if probe.failure == "server_error" else 0
            signals = Signals(name, platform, at, probe, ledger_signals(wh, name, rules, at, platform), streak)
            v = verdict(signals, rules)
            moved = advance(track, v, rules)
            window = in_maintenance(rules.maintenance, at)
            kind = announce(moved, silenced=window is not None)
            message = None
            if kind:
                message = _message(kind, name, platform, track, moved, signals, since, at, channel, run_id, attempt)
                moved = replace(moved, announced=moved.state)
            elif moved.state == "healthy" and moved.announced in (None, "unknown") and window is None:
                moved = replace(moved, announced="healthy")  # a first healthy probe is not news
            p = store.Probe(signals, v, track, moved, rules.sync_sla_hours, window is not None, message)
            probes.append(replace(p, alert_id=store.record(wh, run_id, p)))
            if moved.state != track.state:
                since = at
            if not needs_confirmation(moved, v, rules) or moved.state != track.state:
                break
            track = moved
    finally:
        close = getattr(adapter, "close", None)
        if callable(close):
            close()
    return probes


def _build(make_adapter: AdapterFactory) -> tuple[Any, ProbeSignals | None]:
    try:
        return make_adapter(), None
    except StewardError as exc:
        return None, ProbeSignals(probe_state=None, probe_detail=scrub(str(exc)), failure="config")


def _message(kind: str, name: str, platform: str, before: Track, after: Track, s: Signals, since: datetime | None,
             at: datetime, channel: str, run_id: str, attempt: int) -> outbox.OutboxMessage:
    figures = {"latency_ms": s.probe.latency_ms, "status": s.probe.status_code,
               "headroom_pct": None if s.probe.headroom is None else round(100 * s.probe.headroom, 1),
               "hours_since_sync": s.ledger.hours_since_sync, "sync_error_rate": s.ledger.sync_error_rate,
               "volume_ratio": s.ledger.volume_ratio, "drift_columns": s.ledger.drift_columns or None,
               "5xx_streak": s.server_error_streak or None}
    payload = transition_message(kind, name, platform, previous=after.announced, rule=after.rule,
                                 reason=after.reason, since=since, now=at, figures=figures)
    threaded = after.episode_alert_id is not None and after.announced not in (None, "healthy")
    # the run id, integration and attempt make the outbox id unique per transition; the kind says post or reply
    return outbox.OutboxMessage(kind=outbox.REPLY if threaded else outbox.POST, channel=channel, payload=payload,
                                fingerprint=f"{fingerprint(name)}:{attempt}:{kind}",
                                parent_id=after.episode_alert_id if threaded else None)
