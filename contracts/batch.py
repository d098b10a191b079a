"""The records a pull hands back, as plain data: which stream a batch belongs to, its rows, and what could not be
parsed. Adapters build them (``integrations/sources``); the source contracts judge them without any I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

__all__ = ["Stream", "Batch", "Rejected", "FileFormat"]

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
    # An export file read whole (``integrations/sources/export_files.py``): ``staged`` is the DuckDB file holding
    # every row of it in table ``rows`` (judged and landed there by SQL, never as a DataFrame), ``rows`` how many;
    # ``frame`` then holds only its first rows, for the column names and types. ``file_stat`` is the file's
    # (size, mtime_ns) when it was read, recorded with the batch so an unchanged file is known without reading it.
    staged: str | None = None
    rows: int = 0
    file_stat: tuple[int, int] | None = None
    # How an export file is delivered: "snapshot" (each file holds the whole entity, so a shorter file is a volume
    # drop) or "delta" (each file holds only new and changed rows, so its size says nothing about the entity); None
    # for API and synced-table batches, which are incremental by their watermark.
    delivery: str | None = None
