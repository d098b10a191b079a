"""The governance run's answer to a refused batch: build and judge everything except what that batch feeds.

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

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from steward.contracts.policy import Policy

from .transform.lineage import mart_sources, read_sources
from .warehouse.refusals import Refusal
from .warehouse import Warehouse
from .warehouse.ledger import record_skipped

__all__ = ["DriftGate", "drift_gate", "REASON_PREFIX"]

REASON_PREFIX = "not evaluated (breaking schema drift in "


@dataclass
class DriftGate:
    """``policy`` without the checks downstream of a refused batch; ``exclude`` the dbt selectors to leave out."""

    policy: Policy
    exclude: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def drift_gate(wh: Warehouse, policy: Policy, refused: Iterable[Refusal], run_id: str,
               project: Path | None = None, now: datetime | None = None) -> DriftGate:
    """The policy and dbt exclusions for this run, given the batches it refused."""
    by_source: dict[tuple[str, str], list[Refusal]] = {}
    for r in refused:
        by_source.setdefault((r.platform, r.entity), []).append(r)
    if not by_source:
        return DriftGate(policy)
    skipped = []
    for check_id, rule in policy.checks.items():
        hit = [r for source in sorted(mart_sources(rule.mart, project) & set(by_source)) for r in by_source[source]]
        if hit:
            subjects = sorted({r.subject for r in hit})
            skipped.append({"check_id": check_id, "integrations": sorted({r.integration for r in hit}),
                            "reason": f"{REASON_PREFIX}{', '.join(subjects)})",
                            "states": {r.subject: f"batch refused, {r.kind.replace('_', ' ')}" for r in hit}})
    record_skipped(wh, run_id, skipped, now or datetime.now(timezone.utc))
    kept = {k: v for k, v in policy.checks.items() if k not in {s["check_id"] for s in skipped}}
    exclude = [f"source:{platform}.{entity}+" for platform, entity in sorted(set(by_source) & read_sources(project))]
    return DriftGate(policy.model_copy(update={"checks": kept}), exclude, skipped)
