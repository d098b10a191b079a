"""The report's health section: each integration's state, and its recent history as a small inline SVG strip.

Plain data for ``flows/templates/_health.html.j2``; the SVG is built here from numbers and fixed colours only (no
text from the platforms goes into it), so the template can include it as markup while everything else stays
autoescaped.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
from markupsafe import Markup, escape

from ...contracts.policy import HealthPolicy
from ..warehouse import Warehouse
from ..warehouse import health_store as store
from ..warehouse.ledger import not_evaluated
from .state import health_states

__all__ = ["health_section", "history_svg", "COLORS"]

COLORS = {"healthy": "#2e7d32", "degraded": "#ef8f00", "down": "#c62828", "unknown": "#9e9e9e"}
WIDTH, HEIGHT, BAND = 360, 44, 12


def health_section(wh: Warehouse, run_id: str | None = None, hours: float = 24,
                   now: datetime | None = None, health: HealthPolicy | None = None) -> dict[str, Any]:
    """``{"integrations": [...], "not_evaluated": [...], "hours": ..., "has_data": bool}``.

    Each integration's state is ``health_states``' (the monitor, the sync ledgers and the run's health findings,
    worst first), the same answer ``steward health`` gives; the strip shows the monitor's probes, when there are any.
    """
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(hours=hours)
    hist = store.history(wh, since)
    rows = []
    for s in health_states(wh, health, run_id=run_id, now=now):
        own = hist[hist["integration"] == s.integration]
        monitor = next((o for o in s.opinions if o.source == "monitor"), None)
        rows.append({
            "integration": s.integration, "platform": s.platform, "state": s.state, "rule": s.rule,
            "reason": s.reason, "source": s.source,
            "since": _since(wh, s) if monitor is not None and monitor.state == s.state else "",
            "checked_at": f"{pd.Timestamp(s.probed_at):%Y-%m-%d %H:%M} UTC" if s.probed_at else "not probed yet",
            "probes": int(len(own)), "transitions": int(own["changed"].sum()) if len(own) else 0,
            "latency_ms": float(own["latency_ms"].iloc[-1]) if len(own) and pd.notna(own["latency_ms"].iloc[-1])
            else None,
            "svg": history_svg(own, since, now)})
    skipped = not_evaluated(wh, run_id) if run_id else []
    return {"integrations": rows, "not_evaluated": skipped, "hours": hours, "has_data": bool(rows or skipped),
            "colors": COLORS}


def _since(wh: Warehouse, s: Any) -> str:
    """When the monitor's current state began."""
    latest = store.latest(wh)
    began = latest.loc[latest["integration"] == s.integration, "state_since"]
    return f"{pd.Timestamp(began.iloc[0]):%Y-%m-%d %H:%M} UTC" if len(began) and pd.notna(began.iloc[0]) else ""


def history_svg(rows: pd.DataFrame, since: datetime, now: datetime) -> Markup:
    """A state band (one coloured segment per probe, lasting until the next) over a latency line, ``since``..``now``."""
    span = max((now - since).total_seconds(), 1.0)

    def x(moment: Any) -> float:
        return round(max(0.0, min(1.0, (pd.Timestamp(moment) - pd.Timestamp(since)).total_seconds() / span)) * WIDTH, 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="health history">',
             f'<rect x="0" y="0" width="{WIDTH}" height="{BAND}" fill="#eeeeee"/>']
    stamps = list(rows["checked_at"]) if len(rows) else []
    for i, (stamp, state) in enumerate(zip(stamps, rows["state"] if len(rows) else [])):
        start, end = x(stamp), x(stamps[i + 1]) if i + 1 < len(stamps) else x(now)
        parts.append(f'<rect x="{start}" y="0" width="{max(end - start, 1.0)}" height="{BAND}" '
                     f'fill="{COLORS.get(state, COLORS["unknown"])}"><title>{escape(state)}</title></rect>')
    latency = rows.dropna(subset=["latency_ms"]) if len(rows) else rows
    if len(latency):
        top = max(float(latency["latency_ms"].max()), 1.0)
        points = " ".join(f"{x(t)},{round(HEIGHT - 2 - (float(v) / top) * (HEIGHT - BAND - 6), 1)}"
                          for t, v in zip(latency["checked_at"], latency["latency_ms"]))
        parts.append(f'<polyline points="{points}" fill="none" stroke="#455a64" stroke-width="1"/>')
        parts.append(f'<text x="{WIDTH - 2}" y="{BAND + 10}" font-size="9" text-anchor="end" fill="#455a64">'
                     f'max {top:.0f} ms</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
