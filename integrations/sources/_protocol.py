"""The one small interface every platform adapter implements, and the records it hands back.

An adapter pulls entities as batches, probes its platform's health and pauses or resumes a campaign there. Adding a
platform means one module implementing ``SourceAdapter`` plus its staging models in dbt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Literal, Protocol, runtime_checkable

from ...contracts.batch import Batch, Rejected, Stream  # noqa: F401  (the records the adapters hand back)

__all__ = ["Health", "ControlResult", "SourceAdapter", "CampaignStatus", "CampaignStates"]


@dataclass(frozen=True)
class Health:
    """One probe. ``headroom`` is the share of the API's rate limit or quota left (0..1), read from the platform's
    own answer; None when the platform does not say (Google Ads) or the probe failed."""

    integration: str
    state: Literal["healthy", "degraded", "down"]
    detail: str
    checked_at: datetime
    latency_ms: float | None = None
    headroom: float | None = None


@dataclass(frozen=True)
class ControlResult:
    """What a pause or resume did on the platform; ``changed`` is False when it was already in that state."""

    integration: str
    campaign_id: str
    action: Literal["pause", "resume"]
    changed: bool
    detail: str


@runtime_checkable
class SourceAdapter(Protocol):
    """``pull(entity, since)`` yields batches in cursor order; an adapter whose ``incremental`` is True is handed
    the entity's last committed watermark as ``since`` and re-pulls from it (inclusive) after a crash."""

    name: str
    platform: str

    def streams(self) -> list[Stream]: ...

    def pull(self, entity: str, since: str | None = None) -> Iterator[Batch]: ...

    def probe(self) -> Health: ...

    def pause(self, campaign_id: str, reason: str) -> ControlResult: ...

    def resume(self, campaign_id: str, reason: str) -> ControlResult: ...


@runtime_checkable
class CampaignStatus(Protocol):
    """An adapter that can pause also says whether a campaign is paused now: ``paused``, ``active``, or the
    platform's own word in lower case for anything else. Reconciling an action a crash left unconfirmed reads it."""

    def campaign_state(self, campaign_id: str) -> str: ...


@runtime_checkable
class CampaignStates(Protocol):
    """An adapter that reads many campaigns' states in one request (or one per few hundred ids): the act step reads
    every campaign it plans to pause this way first, and a campaign already paused needs neither an intent row nor a
    call of its own. Keyed by the ids as given; a campaign the platform does not report is left out (the act step
    then goes the single-campaign way, which names the error)."""

    def campaign_states(self, campaign_ids: list[str]) -> dict[str, str]: ...
