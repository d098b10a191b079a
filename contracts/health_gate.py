"""The health gate's decision: which policy checks cannot be trusted while an integration feeding them is down.

A check reads one governance mart, built from raw tables that each belong to one platform. When an integration of
that platform is ``down`` by its latest (recent enough) health state, the check's numbers describe a broken sync
rather than the marketing stack, so it is *not evaluated (source down)*: taken out of the policy for this run (no
false findings; its open incidents neither re-notified nor resolved). This module decides that from data alone: the
integrations that are down, the platforms each check's mart is built from, and how each outage reads.
``integrations/health/gate.py`` reads those from the ledger and the dbt project and records the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .policy import Policy

__all__ = ["Gate", "REASON", "decide"]

REASON = "not evaluated (source down)"


@dataclass
class Gate:
    """``policy`` without the checks that cannot be trusted; ``skipped`` says which and why; ``down`` the states."""

    policy: Policy
    skipped: list[dict[str, Any]] = field(default_factory=list)
    down: dict[str, str] = field(default_factory=dict)  # integration -> its platform

    def ingest_config(self, cfg: Any) -> Any:
        """``cfg`` without the integrations that are down: pulling them would only wait out their outage."""
        return cfg.model_copy(update={"integrations": [i for i in cfg.integrations if i.name not in self.down]})


def decide(policy: Policy, down: Mapping[str, str], check_feeds: Mapping[str, frozenset[str]],
           state_text: Mapping[str, str]) -> Gate:
    """The gate for this run. ``down``: integration -> platform, for each integration down now; ``check_feeds``:
    check id -> the platforms its mart is built from; ``state_text``: integration -> how its outage reads."""
    if not down:
        return Gate(policy)
    skipped = []
    for check_id, feeds in check_feeds.items():
        hit = sorted(name for name, platform in down.items() if platform in feeds)
        if hit:
            skipped.append({"check_id": check_id, "integrations": hit, "reason": REASON,
                            "states": {name: state_text[name] for name in hit}})
    kept = {k: v for k, v in policy.checks.items() if k not in {s["check_id"] for s in skipped}}
    return Gate(policy.model_copy(update={"checks": kept}), skipped, dict(down))
