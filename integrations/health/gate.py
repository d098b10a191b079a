"""The governance run's question to the health monitor: which checks can be trusted today?

A check reads one governance mart; the mart is built, through staging and intermediate models, from raw tables that
each belong to one platform. When an integration feeding that platform is ``down`` (by the latest health state,
and only if that state is recent), the check's numbers describe a broken sync rather than the marketing stack, so
the check is *not evaluated (source down)*: it is taken out of the policy for this run (no false findings, and its
open incidents are neither re-notified nor resolved), and the decision is recorded in ``ledger.health_gate`` for
the report. The decision itself is ``contracts/health_gate.py``; lineage comes from the dbt project itself
(``integrations/transform/lineage.py``), so a new mart is covered without a list to maintain.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from ...contracts.health_gate import Gate, decide
from ...contracts.policy import Policy
from ..transform.lineage import mart_platforms
from ..warehouse import Warehouse
from ..warehouse import health_store as store
from ..warehouse.ledger import record_skipped

__all__ = ["health_gate", "check_inputs", "mart_platforms"]


def check_inputs(policy: Policy, project: Path | None = None) -> dict[str, frozenset[str]]:
    """check id -> the platforms its mart is built from."""
    return {check_id: mart_platforms(rule.mart, project) for check_id, rule in policy.checks.items()}


def health_gate(wh: Warehouse, policy: Policy, integrations: Iterable[Any], run_id: str,
                now: datetime | None = None, project: Path | None = None) -> Gate:
    """The policy this governance run should judge with, given the latest health states (``contracts.health_gate``
    decides; this reads the states and the lineage, and records what was skipped).

    ``integrations`` are the config's entries (anything with ``name`` and ``platform``). A state older than
    ``health.max_state_age_minutes`` is not trusted either way: the check runs as usual.
    """
    now = now or datetime.now(timezone.utc)
    platforms = {i.name: i.platform for i in integrations}
    states = store.latest(wh, timedelta(minutes=policy.health.max_state_age_minutes), now)
    down = {r.integration: platforms[r.integration] for r in states.itertuples()
            if r.state == "down" and r.integration in platforms}
    if not down:
        return Gate(policy)
    gate = decide(policy, down, check_inputs(policy, project), {name: _state_text(states, name) for name in down})
    record_skipped(wh, run_id, gate.skipped, now)
    return gate


def _state_text(states: Any, integration: str) -> str:
    row = states[states["integration"] == integration].iloc[0]
    return f"down since {row['state_since']:%Y-%m-%d %H:%M} UTC ({row['rule']})"
