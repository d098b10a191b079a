"""Reads one integration's signals into a verdict for this probe: healthy, degraded, down or unknown, and the rule.

The thresholds are data (``health:`` in the policy YAML, ``contracts.policy.HealthRules``); this module only
applies them, in a fixed order, worst first: the first rule that matches at the worst level names the verdict.
A single verdict moves nothing by itself; ``health_state.advance`` applies the hysteresis.

    rule               level     when
    config.invalid     unknown   the adapter cannot even be built (a missing credential variable)
    probe.unreachable  down      no connection (refused, DNS, reset)
    probe.server_error down      5xx answers or a body that is not what the API sends
    auth.rejected      down      the API refused the credentials, after one token refresh
    probe.failed       down      any other failed probe
    probe.timeout      degraded  slower than the probe timeout (a partial outage)
    probe.rate_limited degraded  429 / request limit exceeded (a partial outage)
    quota.low          degraded  rate-limit or quota headroom below ``min_headroom``
    probe.degraded     degraded  the adapter itself said degraded
    latency.slow       degraded  answered, but slower than ``max_latency_ms``
    sync.stale         degraded  no landed batch for longer than ``sync_sla_hours``
    sync.errors        degraded  failed governance runs naming it above ``max_error_rate``
    volume.low/high    degraded  yesterday's rows against the same weekday outside the ratios
    schema.drift       degraded  more drifted columns than ``max_drift_columns`` in the latest batches
    reconciliation.drop degraded the share of cross-system comparisons it agrees on fell more than
                                 ``max_reconciliation_drop`` below its median over earlier governance runs
    ok                 healthy   none of the above
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Callable

from .health_signals import Signals
from .policy import HealthRules, MaintenanceWindow

__all__ = ["Verdict", "verdict", "in_maintenance", "LEVELS", "RULES"]

LEVELS = {"healthy": 0, "unknown": 1, "degraded": 2, "down": 3}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Verdict:
    state: str
    rule: str
    reason: str


Rule = tuple[str, str, Callable[[Signals, HealthRules], str | None]]


def _failure(kind: str, text: str) -> Callable[[Signals, HealthRules], str | None]:
    return lambda s, r: text if s.probe.failure == kind else None


def _stale(s: Signals, r: HealthRules) -> str | None:
    h = s.ledger.hours_since_sync
    if r.sync_sla_hours is None or h is None or h <= r.sync_sla_hours:
        return None
    return f"last batch landed {h:.1f} h ago, SLA {r.sync_sla_hours:g} h"


def _volume(low: bool) -> Callable[[Signals, HealthRules], str | None]:
    def check(s: Signals, r: HealthRules) -> str | None:
        ratio = s.ledger.volume_ratio
        if ratio is None:
            return None
        limit = r.min_volume_ratio if low else r.max_volume_ratio
        if limit is None or (ratio >= limit if low else ratio <= limit):
            return None
        return (f"{s.ledger.volume_rows:,} rows yesterday, {ratio:.0%} of the usual "
                f"{s.ledger.volume_baseline:,.0f} for that weekday")
    return check


def _reconciliation_drop(s: Signals, r: HealthRules) -> str | None:
    rate, base = s.ledger.reconciliation_rate, s.ledger.reconciliation_baseline
    if rate is None or base is None or base - rate <= r.max_reconciliation_drop:
        return None
    return (f"agrees with the other systems on {rate:.1%} of comparisons, down from a usual {base:.1%} "
            f"(governance run {s.ledger.reconciliation_run_id})")


RULES: tuple[Rule, ...] = (
    ("down", "probe.unreachable", _failure("unreachable", "cannot connect to the API")),
    ("down", "probe.server_error", _failure("server_error", "the API answers with server errors")),
    ("down", "auth.rejected", _failure("auth", "the API refuses the credentials")),
    ("down", "probe.failed", _failure("other", "the probe failed")),
    ("degraded", "probe.timeout", _failure("timeout", "the API is slower than the probe timeout")),
    ("degraded", "probe.rate_limited", _failure("rate_limited", "the API is rate limiting Steward")),
    ("degraded", "quota.low", lambda s, r: (f"{s.probe.headroom:.0%} of the rate limit or quota left"
                                            if s.probe.headroom is not None and s.probe.headroom < r.min_headroom
                                            else None)),
    ("degraded", "probe.degraded", lambda s, r: "the adapter reports degraded" if s.probe.probe_state == "degraded"
                                                else None),
    ("degraded", "latency.slow", lambda s, r: (f"answered in {s.probe.latency_ms:.0f} ms (limit {r.max_latency_ms:g})"
                                               if s.probe.failure is None and s.probe.latency_ms is not None
                                               and s.probe.latency_ms > r.max_latency_ms else None)),
    ("degraded", "sync.stale", _stale),
    ("degraded", "sync.errors", lambda s, r: (f"{s.ledger.sync_error_rate:.0%} of {s.ledger.sync_runs} runs in "
                                              f"{r.error_window_hours:g} h failed on it"
                                              if s.ledger.sync_error_rate is not None
                                              and s.ledger.sync_error_rate > r.max_error_rate else None)),
    ("degraded", "volume.low", _volume(low=True)),
    ("degraded", "volume.high", _volume(low=False)),
    ("degraded", "schema.drift", lambda s, r: (f"{s.ledger.drift_columns} drifted columns in "
                                               f"{', '.join(s.ledger.drifted_entities)}"
                                               if s.ledger.drift_columns is not None
                                               and s.ledger.drift_columns > r.max_drift_columns else None)),
    ("degraded", "reconciliation.drop", _reconciliation_drop),
)


def verdict(signals: Signals, rules: HealthRules) -> Verdict:
    """The worst matching rule, or ``ok``; a probe that could not run at all is ``unknown``."""
    if signals.probe.failure == "config":
        return Verdict("unknown", "config.invalid", signals.probe.probe_detail or "the adapter cannot be built")
    for level, name, check in RULES:
        reason = check(signals, rules)
        if reason:
            return Verdict(level, name, reason)
    return Verdict("healthy", "ok", "probe ok" + (f" in {signals.probe.latency_ms:.0f} ms"
                                                  if signals.probe.latency_ms is not None else ""))


def in_maintenance(windows: list[MaintenanceWindow], now: datetime) -> MaintenanceWindow | None:
    """The window ``now`` falls in, if any (recurring windows are in UTC; an ``end`` before ``start`` wraps)."""
    utc = now.astimezone(timezone.utc)
    for w in windows:
        if w.starts_at is not None and w.ends_at is not None:
            if w.starts_at <= utc < w.ends_at:
                return w
            continue
        start, end, clock = time.fromisoformat(w.start), time.fromisoformat(w.end), utc.time()  # type: ignore[arg-type]
        day = _WEEKDAYS[utc.weekday()]
        if start <= end:
            if start <= clock < end and (w.days is None or day in w.days):
                return w
        else:  # crosses midnight: the part after midnight belongs to the previous day's window
            before = _WEEKDAYS[(utc.weekday() - 1) % 7]
            if (clock >= start and (w.days is None or day in w.days)) or \
               (clock < end and (w.days is None or before in w.days)):
                return w
    return None
