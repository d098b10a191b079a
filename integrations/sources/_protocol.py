"""The one small interface every platform adapter implements, and the records it hands back.

An adapter pulls entities as batches, probes its platform's health and pauses or resumes a campaign there. Adding a
platform means one module implementing ``SourceAdapter`` plus its staging models in dbt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator, Literal, Protocol, runtime_checkable

import pandas as pd

__all__ = ["Stream", "Batch", "Rejected", "Health", "ControlResult", "SourceAdapter", "CampaignStatus"]

FileFormat = Literal["csv", "json", "parquet"]


@dataclass(frozen=True)
class Stream:
    """One entity of one platform, as data: where it comes from and how its records are keyed and ordered."""

    platform: str
    entity: str
    path: str  # relative to the integration's export folder
    format: FileFormat
    primary_key: str
    cursor: str  # the field that says when a record last changed
    flatten: str | None = None  # a nested object whose fields become columns (HubSpot's ``properties``)
    required: bool = True  # an optional export may be absent: its entity then stays empty instead of failing

    @property
    def key(self) -> str:
        return f"{self.platform}.{self.entity}"

    @property
    def table(self) -> str:
        return f"{self.platform}__{self.entity}"


@dataclass(frozen=True)
class Rejected:
    """A record the reader could not even parse (wrong number of columns, unreadable value)."""

    source_row: int
    reason: str
    raw: str


@dataclass
class Batch:
    """One pull of one entity: the records, where they came from, and what could not be parsed."""

    integration: str
    stream: Stream
    frame: pd.DataFrame
    source: str  # file path or URL, for messages and lineage
    fingerprint: str  # content hash: the same content is never landed twice
    rejected: list[Rejected] = field(default_factory=list)
    # Incremental pulls: the cursor value this batch brings the entity up to (committed with the batch, never
    # before), whether its rows replace earlier rows with the same primary key, and keys the platform says were
    # deleted or archived since the last pull (kept as tombstones for erasure checks).
    watermark: str | None = None
    merge: bool = False
    deleted: list[str] = field(default_factory=list)
    # Bad input: records the reader set aside beyond those kept in ``rejected`` (counted, not kept: the counts stay
    # exact while memory stays bounded), and why nothing of the source could be read, when nothing could (the pull
    # then refuses the batch, as for breaking drift).
    rejected_dropped: int = 0
    unreadable: str | None = None


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
