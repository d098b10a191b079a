"""Turns the records an API page handed back into a ``Batch``, a bounded number of rows at a time.

Adapters stream: they accumulate page records up to ``batch_rows`` and hand each batch on to be checked and landed
before reading further, so memory stays flat however large the entity is, and a crash loses at most the batch in
flight (its watermark was never committed).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Iterator

import pandas as pd

from ...contracts.batch import Batch, Stream

__all__ = ["DEFAULT_BATCH_ROWS", "to_batch", "batched"]

DEFAULT_BATCH_ROWS = 50_000


def to_batch(integration: str, stream: Stream, records: list[dict[str, Any]], source: str,
             watermark: str | None, deleted: Iterable[str] = ()) -> Batch:
    """A merge batch whose fingerprint is a hash of its rows, so a page pulled twice is recognised."""
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    digest = hashlib.sha256(stream.key.encode())
    if len(frame):
        digest.update(_row_hashes(frame))
    deleted = sorted(set(map(str, deleted)))
    digest.update("\x1f".join(deleted).encode())
    return Batch(integration, stream, frame, source, digest.hexdigest(), watermark=watermark, merge=True,
                 deleted=deleted)


def _row_hashes(frame: pd.DataFrame) -> bytes:
    """pandas' row hashes; values it cannot hash directly (nested lists or dicts) are hashed as their text."""
    try:
        return pd.util.hash_pandas_object(frame, index=False).values.tobytes()
    except TypeError:
        return pd.util.hash_pandas_object(frame.astype("string"), index=False).values.tobytes()


def batched(pages: Iterable[list[dict[str, Any]]], cursor: str, batch_rows: int = DEFAULT_BATCH_ROWS
            ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    """Group page records into lists of about ``batch_rows``, each with the greatest cursor value it holds.

    Pages must come in cursor order (every adapter asks its API to sort by the cursor), so the greatest value in a
    batch is a safe place to resume: anything at or after it is pulled again and merged by key.
    """
    pending: list[dict[str, Any]] = []
    for page in pages:
        pending.extend(page)
        if len(pending) >= batch_rows:
            yield pending, _max_cursor(pending, cursor)
            pending = []
    if pending:
        yield pending, _max_cursor(pending, cursor)


def _max_cursor(records: list[dict[str, Any]], cursor: str) -> str | None:
    values = [str(r[cursor]) for r in records if r.get(cursor) is not None]
    return max(values) if values else None
