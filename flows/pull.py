"""Pulls one entity of one integration into the warehouse: read the watermark, stream batches, check, land.

This is the loop every source kind shares (export files, platform APIs, ELT-synced tables). Each batch commits on
its own together with its watermark, so a crash at any point leaves the warehouse at the last committed batch and
the next pull resumes from there; re-pulled records merge by primary key.

A batch with breaking schema drift (``BreakingDrift``) is refused, not raised: the refusal is recorded with its
diff, nothing of it lands, and the entity's pull stops there (a later batch would carry the watermark past the
refused records). The other entities and integrations go on. A batch of which nothing could be read (its adapter
says why in ``Batch.unreadable``: junk where the records should be, a file DuckDB cannot parse) is refused the same
way, as kind ``unreadable``, once its header (if it has one) has been judged: a file that is not the entity's export
at all is still called ``unrecognisable``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from ..contracts.schema_types import column_types
from ..contracts.source_checks import SourceVerdict
from ..contracts.registry import contract_for
from ..contracts.errors import BreakingDrift
from ..integrations.sources._protocol import SourceAdapter
from ..integrations.sources.mapping import MappingFailed
from ..integrations.warehouse import Warehouse
from ..integrations.warehouse.landing import (QUARANTINE_KEEP_MAX, LandResult, already_landed, land_batch,
                                              land_staged, latest_types, read_watermark, remember_file)
from ..integrations.warehouse.refusals import record_refusal
from .stopping import raise_if_stopped, stop_requested
from ..contracts.batch import Batch, Stream
from ..integrations.warehouse.validation import check_batch, check_staged

__all__ = ["pull_entity", "pull_integration", "Landed"]


@dataclasses.dataclass(frozen=True)
class Landed:
    """One batch's outcome. ``refused`` is why a batch was not landed (breaking schema drift), else None; a refused
    batch's ``result`` has the refusal id as ``batch_id`` and no rows loaded."""

    result: LandResult
    drift: dict | None
    watermark: str | None
    refused: str | None = None
    refused_kind: str | None = None  # ``BreakingDrift.kind``: unrecognisable, primary_key_missing, ..., unreadable


def pull_entity(adapter: SourceAdapter, stream: Stream, wh: Warehouse, run_id: str,
                on_batch: Callable[[Landed], None] | None = None,
                keep_max: int = QUARANTINE_KEEP_MAX) -> list[Landed]:
    """Every batch of ``stream`` since its committed watermark (the whole entity for non-incremental sources);
    ``keep_max`` quarantined rows are kept per batch (the counts stay exact).

    The warehouse stays open (``Warehouse.pinned``) for the whole pull: its watermark, type, fingerprint and
    landing statements are cursors of one open file, not a fresh open (catalog load) and close (checkpoint) of it
    each, which cost more than landing a demo-sized batch. Integrations pulling at once share the one pin."""
    with wh.pinned():
        return _pull_entity(adapter, stream, wh, run_id, on_batch, keep_max)


def _pull_entity(adapter: SourceAdapter, stream: Stream, wh: Warehouse, run_id: str,
                 on_batch: Callable[[Landed], None] | None, keep_max: int) -> list[Landed]:
    since = read_watermark(wh, adapter.name, stream.entity) if getattr(adapter, "incremental", False) else None
    previous = latest_types(wh, adapter.name, stream.entity)
    landed: list[Landed] = []
    raise_if_stopped(f"{adapter.name}.{stream.entity}")  # a stop asked for (Ctrl-C): no new entity starts
    staging = {"stage": True} if getattr(adapter, "stage", False) else {}  # export files read whole, in SQL
    batches = adapter.pull(stream.entity, since, **staging)  # type: ignore[arg-type, call-arg]
    for batch in batches:
        if stop_requested():  # between batches: the ones landed are whole, this one never starts
            getattr(batches, "close", lambda: None)()
            raise_if_stopped(f"{adapter.name}.{stream.entity}")
        try:
            seen = already_landed(wh, batch) if not batch.unreadable else None
            if seen is not None:  # the same content landed before: nothing to judge or land
                if batch.staged is not None and batch.file_stat is not None:  # a whole file, read for nothing
                    remember_file(wh, batch, seen.batch_id)  # (touched): known by its new stat from the next pull
                item = Landed(seen, None, batch.watermark)
            elif batch.staged is not None:
                staged = check_staged(batch, previous, keep_max)
                if staged is None:  # drift the row-level conform must handle: the file is read in batches
                    getattr(batches, "close", lambda: None)()
                    return landed + pull_entity(_Unstaged(adapter), stream, wh, run_id, on_batch, keep_max)
                result = land_staged(wh, batch, staged, run_id, staged.contract.owner, keep_max)
                previous = staged.types or previous
                item = Landed(result, staged.drift, batch.watermark)
            else:
                _refuse_unreadable(batch, header=False)
                verdict: SourceVerdict = check_batch(batch, previous)
                _refuse_unreadable(batch, header=True)
                result = land_batch(wh, batch, verdict.valid, verdict.quarantined, verdict.drift,
                                    verdict.contract.version, run_id, verdict.contract.owner, verdict.types, keep_max)
                previous = verdict.types or previous
                item = Landed(result, verdict.drift, batch.watermark)
        except BreakingDrift as err:  # from the contract, or from a merge that would erase stored values
            item = _refuse(wh, batch, err, run_id)
            getattr(batches, "close", lambda: None)()  # stop pulling this entity: the watermark stays put
        landed.append(item)
        if on_batch is not None:
            on_batch(item)
        if item.refused:
            break
    return landed


def pull_integration(adapter: SourceAdapter, wh: Warehouse, run_id: str,
                     on_batch: Callable[[Landed], None] | None = None,
                     keep_max: int = QUARANTINE_KEEP_MAX) -> list[Landed]:
    """Every entity in turn. A mapping that cannot be applied (a column its source lacks, an expression failing on
    a synced table's value) stops that entity; the other entities still land, then the first such error is raised
    (the run exits 2)."""
    landed: list[Landed] = []
    unmapped: list[MappingFailed] = []
    with wh.pinned():  # one open warehouse for every entity (``pull_entity``)
        for stream in adapter.streams():
            try:
                landed += pull_entity(adapter, stream, wh, run_id, on_batch, keep_max)
            except MappingFailed as exc:
                unmapped.append(exc)
    if unmapped:
        raise unmapped[0]
    return landed


class _Unstaged:
    """An export-files adapter whose pull reads in batches, never staged (for a file whose drift needs the
    row-level conform)."""

    stage = False

    def __init__(self, adapter: SourceAdapter) -> None:
        self._adapter, self.name = adapter, adapter.name

    def pull(self, entity: str, since=None):
        return self._adapter.pull(entity, since, stage=False)  # type: ignore[call-arg]


def _refuse_unreadable(batch: Batch, header: bool) -> None:
    """Raise for a batch nothing of which could be read: at once when it has no columns to judge, else (``header``)
    after the contract found its columns to be the entity's."""
    if batch.unreadable and (header or batch.frame.columns.empty):
        raise BreakingDrift(batch.unreadable, "unreadable", None)


def _refuse(wh: Warehouse, batch: Batch, err: BreakingDrift, run_id: str) -> Landed:
    refusal = record_refusal(wh, batch, err, run_id, contract_for(batch.stream.key).owner, column_types(batch.frame))
    rows = (batch.rows or len(batch.frame)) + len(batch.rejected) + batch.rejected_dropped
    return Landed(LandResult(refusal.refusal_id, batch.integration, batch.stream.entity, rows, 0, 0), err.drift,
                  None, refusal.reason, err.kind)
