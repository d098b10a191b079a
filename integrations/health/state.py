"""Each integration's health state now, read from the ledgers: the one function the report's health section,
``steward health`` and the health findings agree through (``contracts/health_current.py`` says why and how).

It reads three things and judges nothing itself: the monitor's latest probe (``ledger.integration_health``), the
sync ledgers judged by the health rules without a probe (``ledger_signals`` + ``health_rules.verdict``), and the
integration-health findings of a governance run (``ledger.findings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

import pandas as pd

from ...contracts.health_current import Opinion, current_state, finding_opinion
from ...contracts.health_rules import verdict
from ...contracts.health_signals import ProbeSignals, Signals
from ...contracts.policy import HealthPolicy
from ..warehouse import Warehouse, reads
from ..warehouse import health_store as store
from .signals import ledger_signals

__all__ = ["HealthState", "health_states"]


@dataclass(frozen=True)
class HealthState:
    """Where one integration stands: the worst of its opinions, and each opinion for whoever wants the detail."""

    integration: str
    platform: str
    state: str
    rule: str
    reason: str
    source: str  # which opinion decided: monitor | ledgers | findings
    probed_at: datetime | None  # the monitor's last probe (None: never probed)
    opinions: tuple[Opinion, ...]


def health_states(wh: Warehouse, health: HealthPolicy | None = None, integrations: Mapping[str, str] | None = None,
                  run_id: str | None = None, now: datetime | None = None) -> list[HealthState]:
    """Every integration's state now. ``integrations`` (name -> platform, from steward.yaml) defaults to every
    integration the ledgers know; ``run_id`` (whose health findings count) to the latest completed run."""
    from ...contracts.policy import load_policy

    health = health or load_policy().health
    now = now or datetime.now(timezone.utc)
    probes = store.latest(wh)
    known = dict(integrations) if integrations is not None else {
        **reads.landed_integrations(wh), **dict(zip(probes["integration"], probes["platform"]))}
    run_id = run_id or reads.latest_completed_run(wh)
    findings = reads.health_findings(wh, run_id) if run_id else pd.DataFrame(columns=["subject"])
    out = []
    for name, platform in sorted(known.items()):
        opinions = [*_monitor(wh, probes, name), _ledgers(wh, health, name, platform, now)]
        mine = findings[findings["subject"].isin([name, platform])]
        opinions += [finding_opinion(r.severity, r.check_id, r.explanation) for r in mine.itertuples()]
        now_state = current_state(opinions)
        probed = probes.loc[probes["integration"] == name, "checked_at"]
        out.append(HealthState(name, platform, now_state.state, now_state.rule, now_state.reason, now_state.source,
                               pd.Timestamp(probed.iloc[0]).to_pydatetime() if len(probed) else None,
                               tuple(opinions)))
    return out


def _monitor(wh: Warehouse, probes: pd.DataFrame, name: str) -> list[Opinion]:
    row = probes[probes["integration"] == name]
    if row.empty:
        return []
    r = row.iloc[0]
    reason = r["verdict_reason"] if r["state"] == "healthy" else (store.last_change_reason(wh, name)
                                                                  or r["verdict_reason"])
    return [Opinion("monitor", str(r["state"]), str(r["rule"]), str(reason or ""))]


def _ledgers(wh: Warehouse, health: HealthPolicy, name: str, platform: str, now: datetime) -> Opinion:
    """The health rules over the sync ledgers alone (no probe: the probe rules stay silent)."""
    rules = health.rules_for(name, platform)
    v = verdict(Signals(name, platform, now, ProbeSignals(), ledger_signals(wh, name, rules, now, platform)), rules)
    if v.state == "healthy":
        return Opinion("ledgers", "healthy", "ok", "its syncs show nothing wrong")
    return Opinion("ledgers", v.state, v.rule, v.reason)
