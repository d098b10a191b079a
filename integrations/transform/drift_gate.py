"""The governance run's answer to a refused batch: build and judge everything except what that batch feeds.

The decision is ``contracts.drift.decide``; this module reads the lineage it needs and records what it left out.

A batch refused for breaking schema drift (``integrations/refusals.py``) leaves its raw table as the last good
batch left it. The models built on that raw table would be rebuilt from data the platform no longer sends in that
shape, so they are left out of this run's dbt build (``--exclude source:<platform>.<entity>+``: the source and
everything downstream of it keep their previous build), and every policy check over a mart downstream of it is
*not evaluated (breaking schema drift in <integration>/<entity>)*, exactly as the health gate treats a source that
is down: taken out of the policy for this run (no stale findings; open incidents neither re-notified nor resolved)
and recorded in ``ledger.health_gate`` for the report. Lineage is the health gate's (``integrations/lineage.py``).

Raw tables are per platform and entity, shared by every integration of that platform, so a refusal in one
integration holds back the entity's models for all of them until a good batch lands.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from ...contracts.drift import DriftGate, decide
from ...contracts.policy import Policy

from .lineage import mart_sources, read_sources
from ..warehouse.refusals import Refusal
from ..warehouse import Warehouse
from ..warehouse.ledger import record_skipped

__all__ = ["drift_gate"]


def drift_gate(wh: Warehouse, policy: Policy, refused: Iterable[Refusal], run_id: str,
               project: Path | None = None, now: datetime | None = None) -> DriftGate:
    """The policy and dbt exclusions for this run, given the batches it refused (``contracts.drift.decide``), with
    the checks it leaves out recorded in ``ledger.health_gate``."""
    refused = list(refused)
    if not refused:
        return DriftGate(policy)
    lineage = {rule.mart: mart_sources(rule.mart, project) for rule in policy.checks.values()}
    gate = decide(policy, refused, lineage, read_sources(project))
    record_skipped(wh, run_id, gate.skipped, now or datetime.now(timezone.utc))
    return gate
