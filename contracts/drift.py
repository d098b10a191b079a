"""The drift gate's decision: which policy checks and dbt models a refused batch holds back this run.

A batch refused for breaking schema drift leaves its raw table as the last good batch left it. Every policy check
over a mart downstream of that raw table is *not evaluated (breaking schema drift in <integration>/<entity>)*, and
the source and everything downstream of it are left out of the dbt build (``--exclude source:<platform>.<entity>+``)
so they keep their previous build. This module decides that from data alone: the refusals, and the lineage the
caller read (``integrations/transform/drift_gate.py`` reads it from the dbt project and records the decision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol

from .policy import Policy

__all__ = ["DriftGate", "Refused", "REASON_PREFIX", "decide"]

REASON_PREFIX = "not evaluated (breaking schema drift in "

Source = tuple[str, str]  # (platform, entity): a dbt source and table


class Refused(Protocol):
    """What the gate needs of one refused batch (``integrations.warehouse.refusals.Refusal`` fits)."""

    integration: str
    platform: str
    entity: str
    kind: str

    @property
    def subject(self) -> str: ...


@dataclass
class DriftGate:
    """``policy`` without the checks downstream of a refused batch; ``exclude`` the dbt selectors to leave out."""

    policy: Policy
    exclude: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def decide(policy: Policy, refused: Iterable[Refused], mart_sources: Mapping[str, frozenset[Source]],
           read_sources: frozenset[Source]) -> DriftGate:
    """The gate for this run. ``mart_sources``: the sources each mart of the policy reads, directly or through
    other models; ``read_sources``: every source some model reads (a selector naming another matches nothing)."""
    by_source: dict[Source, list[Refused]] = {}
    for r in refused:
        by_source.setdefault((r.platform, r.entity), []).append(r)
    if not by_source:
        return DriftGate(policy)
    skipped = []
    for check_id, rule in policy.checks.items():
        hit = [r for source in sorted(mart_sources[rule.mart] & set(by_source)) for r in by_source[source]]
        if hit:
            subjects = sorted({r.subject for r in hit})
            skipped.append({"check_id": check_id, "integrations": sorted({r.integration for r in hit}),
                            "reason": f"{REASON_PREFIX}{', '.join(subjects)})",
                            "states": {r.subject: f"batch refused, {r.kind.replace('_', ' ')}" for r in hit}})
    kept = {k: v for k, v in policy.checks.items() if k not in {s["check_id"] for s in skipped}}
    exclude = [f"source:{platform}.{entity}+" for platform, entity in sorted(set(by_source) & read_sources)]
    return DriftGate(policy.model_copy(update={"checks": kept}), exclude, skipped)
