"""``steward health``: probe every integration now (one ``integration-health`` flow run) and show where each stands.

``--latest`` shows the stored states without probing; ``--every N`` keeps probing every N seconds (a schedule for
hosts without Prefect deployments; Ctrl-C stops it). Exit 0 when every integration is healthy, 1 when one is
degraded, down or unknown, 2 on bad input.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import typer

from ._console import one_line_errors, reporting, say_stage, stdout

__all__ = ["health"]

_COLORS = {"healthy": "green", "degraded": "yellow", "down": "bold red", "unknown": "dim"}


def health(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml."),
           as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
           latest: bool = typer.Option(False, "--latest", help="Show the stored states; probe nothing."),
           every: float = typer.Option(0, "--every", min=0, help="Probe again every N seconds until stopped.")) -> None:
    """Probe each integration's API and syncs; show its health state, the rule behind it, and its signals."""
    from ..config import load_config

    with one_line_errors():
        cfg = load_config(config)  # fail fast, before Prefect starts
        from ...contracts.policy import load_policy
        from ...integrations.warehouse import Warehouse
        from ...integrations.warehouse.writer_lock import hold

        from ..runtime import waiting_for

        load_policy(cfg.policy)
        # a governance run holds the warehouse: wait for it here, before Prefect starts (a --every loop waits
        # per tick, in the flow, and lets the run go between ticks)
        with hold(cfg.warehouse, None, cfg.lock_timeout_seconds, waiting_for(cfg.lock_timeout_seconds, say_stage),
                  monitor=True):
            Warehouse(cfg.warehouse, cfg.lock_timeout_seconds)
        rows = _stored(config) if latest else _probe(config, every, as_json)
        rows = _agreeing(cfg, rows)
    if as_json:
        sys.stdout.write(json.dumps({"integrations": rows}, default=str) + "\n")
    else:
        _table(rows)
    if any(r["state"] != "healthy" for r in rows):
        raise typer.Exit(1)


def _probe(config: Path, every: float, quiet: bool) -> list[dict[str, Any]]:
    from ..health import HealthParams, integration_health, run_monitor
    from ..runtime import flow_settings

    with reporting(not quiet), flow_settings():
        if every:
            stop, last = threading.Event(), []
            try:
                run_monitor(str(config), every, stop, on_result=lambda r: (last.append(r), _table(_rows(r))))
            except KeyboardInterrupt:
                stop.set()
            return _rows(last[-1]) if last else []
        return _rows(integration_health(HealthParams(config=str(config))))


def _rows(result: Any) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in result.integrations]


def _stored(config: Path) -> list[dict[str, Any]]:
    from ..health import latest_states

    frame = latest_states(str(config))
    keep = ["integration", "platform", "state", "previous_state", "changed", "rule", "verdict", "in_maintenance",
            "checked_at", "latency_ms", "headroom", "hours_since_sync", "state_since"]
    rows = frame[keep].astype(object).where(frame[keep].notna(), None).to_dict(orient="records")
    for r in rows:
        r["reason"] = ""
    return rows


def _agreeing(cfg: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's state as ``health_states`` gives it: the probe, the sync ledgers and the latest run's health
    findings, worst first; the same state the report's health section shows and the findings imply."""
    from ...contracts.policy import load_policy
    from ...integrations.health.state import health_states
    from ...integrations.warehouse import Warehouse

    wh = Warehouse(cfg.warehouse, cfg.lock_timeout_seconds)
    states = {s.integration: s for s in health_states(wh, load_policy(cfg.policy).health,
                                                      {i.name: i.platform for i in cfg.integrations})}
    probed = {r["integration"]: r for r in rows}
    out = []
    for i in cfg.integrations:  # every configured integration, probed or not (``--latest`` before any probe)
        s = states[i.name]
        row = probed.get(i.name) or {"integration": i.name, "platform": i.platform, "checked_at": None}
        out.append({**row, "state": s.state, "rule": s.rule, "reason": s.reason, "source": s.source})
    return out


def _table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("integration", "state", "rule", "reason", "latency", "headroom", "last sync", "checked",
                  title="Integration health")
    for r in rows:
        state = r["state"] + (" (maintenance)" if r.get("in_maintenance") else "")
        if r.get("changed"):
            state += f" ← {r.get('previous_state')}"
        table.add_row(r["integration"], f"[{_COLORS.get(r['state'], '')}]{state}[/]", r.get("rule") or "",
                      r.get("reason") or "", _fmt(r.get("latency_ms"), "{:.0f} ms"),
                      _fmt(r.get("headroom"), "{:.0%}"), _fmt(r.get("hours_since_sync"), "{:.1f} h ago"),
                      str(r.get("checked_at") or "")[:19])
    stdout().print(table)


def _fmt(value: Any, pattern: str) -> str:
    return "" if value is None else pattern.format(value)
