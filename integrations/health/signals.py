"""What the monitor measures about one integration: a live probe, and what the ledgers say about its syncs.

Two halves with different costs. ``probe_signals`` makes one cheap authenticated call through the adapter's own
``probe()`` and reads the HTTP layer's stats (status, latency, the API's rate-limit headers). ``ledger_signals``
reads ``ledger.batches``, ``ledger.schema_snapshots`` and ``ledger.runs`` for how the integration's syncs have gone:
time since the last landed batch, the sync error rate, yesterday's row volume against the same weekday, and schema
drift. Neither judges anything; ``contracts.health_rules.verdict`` does.

No secret leaves here: the probe's detail is the adapter's own message (method and path, never headers or query
strings), redacted once more for anything shaped like a token or an email address.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ...contracts.errors import StewardError
from ..warehouse import Warehouse, reads
from ...contracts.health_signals import LedgerSignals, ProbeSignals
from ...contracts.source_checks import drifted_column_count

__all__ = ["probe_signals", "ledger_signals", "classify_failure", "headroom_from_headers", "scrub"]

_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+|Bearer\s+\S+|access_token=[^&\s]+|pat-[a-z0-9]+-[\w-]+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_RATE_WORDS = ("429", "rate limit", "REQUEST_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED", "error 606", "error 607",
               "quota")


def scrub(text: str, limit: int = 300) -> str:
    """Tokens and email-shaped text out, one line, clipped."""
    text = _EMAIL.sub("[redacted]", _TOKEN.sub("[token]", " ".join(str(text).split())))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def probe_signals(adapter: Any) -> ProbeSignals:
    """Run ``adapter.probe()`` once and read the HTTP layer's stats around it (if the adapter has one)."""
    http = getattr(adapter, "http", None) or getattr(adapter, "_http", None)
    stats = getattr(http, "stats", None)
    before = getattr(stats, "requests", 0)
    started, health = time.perf_counter(), None
    try:
        health = adapter.probe()
        state, detail = health.state, health.detail
    except StewardError as exc:  # an adapter should answer "down", but a raise must not stop the monitor
        state, detail = "down", str(exc)
    took_ms = (time.perf_counter() - started) * 1000
    answered = stats is not None and stats.requests > before
    status = stats.last_status if answered else None
    structured = getattr(health, "headroom", None)  # an adapter may state it (an optional Health field)
    out = ProbeSignals(probe_state=state, probe_detail=scrub(detail), status_code=status)
    out.latency_ms = round((stats.last_latency_s * 1000) if answered and stats.last_latency_s is not None else took_ms, 1)
    if state == "down":
        out.failure = classify_failure(detail, status, answered)
        out.auth_ok = False if out.failure == "auth" else None
    else:
        out.auth_ok = True
    out.headroom = structured if structured is not None else headroom_from_headers(
        getattr(stats, "rate_limit_headers", {}) or {}, detail)
    return out


def classify_failure(detail: str, status: int | None, answered: bool) -> str:
    """Why a probe failed, from the adapter's message and the last HTTP status it saw."""
    text = detail or ""
    if "timed out" in text:
        return "timeout"
    if "connection failed" in text or (not answered and status is None and "HTTP" not in text):
        return "unreachable"
    if any(word.lower() in text.lower() for word in _RATE_WORDS) or status == 429:
        return "rate_limited"
    if (status is not None and status >= 500) or re.search(r"HTTP 5\d\d", text) or "malformed" in text:
        return "server_error"
    if status == 401 or "credentials" in text or "environment variable" in text:
        return "auth"
    return "other"


def headroom_from_headers(headers: dict[str, str], detail: str = "") -> float | None:
    """Share of the rate limit left, from whichever of the platforms' own headers the answer carried.

    Salesforce ``Sforce-Limit-Info: api-usage=N/M``; HubSpot ``X-HubSpot-RateLimit-Remaining/-Max`` and the daily
    pair; generic ``X-RateLimit-Remaining/-Limit``. Marketo and Google Ads send none: Marketo's probe states the
    daily quota in words, which is read as a last resort.
    """
    shares: list[float] = []
    usage = re.search(r"api-usage=(\d+)/(\d+)", headers.get("sforce-limit-info", ""))
    if usage and int(usage.group(2)):
        shares.append(1 - int(usage.group(1)) / int(usage.group(2)))
    for left, most in (("x-hubspot-ratelimit-remaining", "x-hubspot-ratelimit-max"),
                       ("x-hubspot-ratelimit-daily-remaining", "x-hubspot-ratelimit-daily"),
                       ("x-ratelimit-remaining", "x-ratelimit-limit")):
        if headers.get(left, "").isdigit() and headers.get(most, "").isdigit() and int(headers[most]):
            shares.append(int(headers[left]) / int(headers[most]))
    quota = re.search(r"(\d+) of (\d+) daily API calls used", detail)
    if not shares and quota and int(quota.group(2)):
        shares.append(1 - int(quota.group(1)) / int(quota.group(2)))
    return round(max(0.0, min(shares)), 4) if shares else None


def ledger_signals(wh: Warehouse, integration: str, rules: Any, now: datetime,
                   platform: str | None = None) -> LedgerSignals:
    """Sync age, error rate, volume, drift and the reconciliation trend for one integration (a few small queries)."""
    out = LedgerSignals()
    with wh.connect() as con:
        last = reads.last_loaded_at(con, integration)
        if last is not None:
            out.last_sync_at = last
            out.hours_since_sync = round((now - last).total_seconds() / 3600, 3)
        _error_rate(con, integration, rules, now, out)
        _volume(con, integration, rules, now, out)
        _drift(con, integration, out)
        if platform is not None:
            _reconciliation(con, integration, platform, rules, out)
    return out


def _reconciliation(con: Any, integration: str, platform: str, rules: Any, out: LedgerSignals) -> None:
    """The share of cross-system comparisons this platform agrees on, as the latest governance run's marts hold
    it, and its median over earlier runs. Keyed by governance run, not by probe, so a monitor probing every
    minute between two nightly runs does not turn one bad night into its own baseline."""
    run_id = reads.last_finished_run(con)
    if run_id is None:
        return
    compared, agreed = reads.reconciliation_counts(con, platform, rules.reconciliation_tolerance)
    if not compared:
        return
    out.reconciliation_run_id = run_id
    out.reconciliation_rate = round(agreed / compared, 4)
    baseline = reads.reconciliation_baseline(con, integration, run_id, rules.reconciliation_runs)
    if baseline is not None:
        out.reconciliation_baseline = round(baseline, 4)


def _error_rate(con: Any, integration: str, rules: Any, now: datetime, out: LedgerSignals) -> None:
    since = now - timedelta(hours=rules.error_window_hours)
    out.sync_runs, failed = reads.run_outcomes(con, integration, since)
    if out.sync_runs >= rules.min_runs_for_error_rate:
        out.sync_error_rate = round(failed / out.sync_runs, 4)


def _volume(con: Any, integration: str, rules: Any, now: datetime, out: LedgerSignals) -> None:
    """Yesterday's rows against the median of the same weekday in earlier weeks (only days that had a sync)."""
    yesterday = (now.astimezone(timezone.utc) - timedelta(days=1)).date()
    first = yesterday - timedelta(weeks=rules.volume_weeks)
    by_day: dict[date, int] = reads.rows_per_day(con, integration, first, yesterday)
    if yesterday not in by_day:
        return
    history = [by_day[d] for k in range(1, rules.volume_weeks + 1) if (d := yesterday - timedelta(weeks=k)) in by_day]
    out.volume_rows = by_day[yesterday]
    if len(history) < rules.volume_min_weeks:
        return
    out.volume_baseline = float(statistics.median(history))
    if out.volume_baseline > 0:
        out.volume_ratio = round(out.volume_rows / out.volume_baseline, 4)


def _drift(con: Any, integration: str, out: LedgerSignals) -> None:
    latest = reads.latest_drift(con, integration)
    if not latest:
        return
    total = 0
    for entity, drift in latest:
        d = json.loads(drift) if isinstance(drift, str) else (drift or {})
        n = drifted_column_count(d)  # as the landing mart counts: the health view and the finding agree
        if n:
            out.drifted_entities.append(entity)
        total += n
    out.drift_columns = total
    snaps = reads.latest_snapshots(con, integration)
    pairs: dict[str, list[set[str]]] = {}
    for entity, columns in snaps:
        pairs.setdefault(entity, []).append(set(_names(columns)))
    out.schema_changes = sum(len(p[0] ^ p[1]) for p in pairs.values() if len(p) == 2)


def _names(columns: Any) -> list[str]:
    value = json.loads(columns) if isinstance(columns, str) else (columns or [])
    if isinstance(value, dict):
        return list(value)
    return [c if isinstance(c, str) else str(c.get("name", c)) for c in value]
