"""An integration's health state now, as one answer from everything Steward knows about it.

Three sources speak about an integration's health: the monitor's last probe (its state machine, in
``ledger.integration_health``), the ledgers of its syncs judged by the same health rules (``health_rules.verdict``
without a probe: sync age, errors, volume, drift), and the integration-health findings of the latest governance run
(``integration_health.stale_source``: the newest record is older than its SLA). The report's health section,
``steward health`` and the findings used to answer separately and disagreed (the CDP "healthy" next to a CRITICAL
stale-source finding); ``current_state`` is the one answer all of them show: the worst of the three, with the rule
and the reason that made it so. Pure: the caller reads the sources (``integrations/health/state.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .health_rules import LEVELS

__all__ = ["Opinion", "current_state", "finding_opinion", "FINDING_STATES"]

# what a health finding's severity says about the integration's state
FINDING_STATES = {"critical": "down", "warn": "degraded", "info": "healthy"}


@dataclass(frozen=True)
class Opinion:
    """One source's view: ``source`` is ``monitor``, ``ledgers`` or ``findings``."""

    source: str
    state: str
    rule: str
    reason: str


def finding_opinion(severity: str, check_id: str, explanation: str) -> Opinion:
    """A governance run's integration-health finding as a state: critical is down, warn degraded."""
    return Opinion("findings", FINDING_STATES.get(severity, "degraded"), check_id, " ".join(explanation.split()))


def current_state(opinions: Iterable[Opinion]) -> Opinion:
    """The worst opinion (down > degraded > unknown > healthy); on a tie the first given wins, so callers list the
    monitor first. No opinion at all is ``unknown``."""
    worst: Opinion | None = None
    for o in opinions:
        if worst is None or LEVELS.get(o.state, 1) > LEVELS.get(worst.state, 1):
            worst = o
    return worst or Opinion("none", "unknown", "none", "nothing is known about it yet")
