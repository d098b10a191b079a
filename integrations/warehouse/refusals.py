"""The ledger of batches refused for breaking schema drift: what came, why it could not land, and the diff.

A batch nothing of which could be read (kind ``unreadable``: junk bytes, a file DuckDB cannot parse) is refused
through the same ledger, so it fails its own entity and shows up as the same finding, never as a failed run.

A refused batch lands nothing (no raw rows, no quarantine, no batch record, no schema snapshot) and its watermark
does not move, so the next pull brings the same records again once the export or the mapping is fixed. This ledger
is what remains of it: the governance run reads it to leave the entity's downstream models out of the build
(``drift_gate``), and dbt reads it for the ``data_quality.breaking_schema_drift`` finding.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from ...contracts.errors import BreakingDrift
from ...contracts.batch import Batch
from .connection import Warehouse

__all__ = ["Refusal", "record_refusal", "refusals_for_run"]


@dataclass(frozen=True)
class Refusal:
    """One refused batch, as the run needs it: which raw source it would have fed and why it did not."""

    refusal_id: str
    integration: str
    platform: str
    entity: str
    kind: str
    reason: str
    drift: dict | None

    @property
    def subject(self) -> str:
        return f"{self.integration}/{self.entity}"


def record_refusal(wh: Warehouse, batch: Batch, err: BreakingDrift, run_id: str, owner: str | None,
                   types: dict | None = None) -> Refusal:
    """Write one refusal row (its own small transaction: nothing else of the batch is written)."""
    now = datetime.now(timezone.utc)
    refusal = Refusal(f"r-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", batch.integration, batch.stream.platform,
                      batch.stream.entity, err.kind, str(err), err.drift)
    with wh.connect() as con:
        con.execute("insert into ledger.schema_refusals (refusal_id, run_id, integration, platform, entity, source, "
                    "fingerprint, kind, reason, drift, columns, types, rows_refused, owner, refused_at) "
                    "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [refusal.refusal_id, run_id, batch.integration, batch.stream.platform, batch.stream.entity,
                     batch.source, batch.fingerprint, err.kind, str(err),
                     json.dumps(err.drift) if err.drift else None,
                     json.dumps([str(c) for c in batch.frame.columns]), json.dumps(types) if types else None,
                     len(batch.frame) + len(batch.rejected) + batch.rejected_dropped, owner, now])
    return refusal


def refusals_for_run(wh: Warehouse, run_id: str) -> list[Refusal]:
    """The batches this run refused, oldest first."""
    frame = wh.query_df("select refusal_id, integration, platform, entity, kind, reason, drift "
                        "from ledger.schema_refusals where run_id = ? order by refused_at, refusal_id", [run_id])
    return [Refusal(r.refusal_id, r.integration, r.platform, r.entity, r.kind, r.reason,
                    json.loads(r.drift) if isinstance(r.drift, str) else None) for r in frame.itertuples()]
