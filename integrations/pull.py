"""Pulls one entity of one integration into the warehouse: read the watermark, stream batches, check, land.

This is the loop every source kind shares (export files, platform APIs, ELT-synced tables). Each batch commits on
its own together with its watermark, so a crash at any point leaves the warehouse at the last committed batch and
the next pull resumes from there; re-pulled records merge by primary key.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from ..contracts.source_checks import SourceVerdict, check_batch
from .landing import LandResult, land_batch, read_watermark
from .sources._protocol import SourceAdapter, Stream
from .warehouse import Warehouse

__all__ = ["pull_entity", "pull_integration", "Landed"]


@dataclasses.dataclass(frozen=True)
class Landed:
    result: LandResult
    drift: dict | None
    watermark: str | None


def pull_entity(adapter: SourceAdapter, stream: Stream, wh: Warehouse, run_id: str,
                on_batch: Callable[[Landed], None] | None = None) -> list[Landed]:
    """Every batch of ``stream`` since its committed watermark (the whole entity for non-incremental sources)."""
    since = read_watermark(wh, adapter.name, stream.entity) if getattr(adapter, "incremental", False) else None
    landed: list[Landed] = []
    for batch in adapter.pull(stream.entity, since):  # type: ignore[arg-type]
        verdict: SourceVerdict = check_batch(batch)
        result = land_batch(wh, batch, verdict.valid, verdict.quarantined, verdict.drift,
                            verdict.contract.version, run_id, verdict.contract.owner)
        item = Landed(result, verdict.drift, batch.watermark)
        landed.append(item)
        if on_batch is not None:
            on_batch(item)
    return landed


def pull_integration(adapter: SourceAdapter, wh: Warehouse, run_id: str,
                     on_batch: Callable[[Landed], None] | None = None) -> list[Landed]:
    return [item for stream in adapter.streams() for item in pull_entity(adapter, stream, wh, run_id, on_batch)]
