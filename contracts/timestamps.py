"""What a timestamp without a zone means, per source: the one place a landed instant gets its zone.

Every ``Timestamp`` column lands as an instant in UTC. A value that carries its offset (``...Z``, ``+0000``,
``+02:00``) is converted; a value that does not is ambiguous, and each source contract says what it means
(``SourceContract.naive_time``):

- ``"utc"``: the platform documents its timestamps as UTC, so a value without an offset is UTC. Salesforce stores
  every dateTime in UTC and its API, Bulk API and Data Loader write them so; HubSpot's and Marketo's APIs answer in
  UTC (ISO-8601 ``Z`` or epoch milliseconds).
- ``"refuse"``: the data comes from the team's own systems (CDP warehouse sync, model-serving logs, Customer Match
  upload logs), where a value without an offset is whatever clock wrote it. Its row is quarantined with the label
  ``"<column>: timestamp_with_zone"``, so the team fixes the writer instead of Steward guessing.

Calendar dates (``SourceContract.dates``: Salesforce ``date`` fields, Google Ads ``segments.date``, a day in the
account's time zone) have no zone to carry; they land as midnight UTC of that day, under either rule.

A value that does not parse as a timestamp at all is left as it came, so the contract's coercion quarantines its row
as ``"<column>: coerce_dtype('datetime64[us, UTC]')"``, naming the column.
"""

from __future__ import annotations

import re
from typing import Literal

import pandas as pd
import pandera.pandas as pa

__all__ = ["NaiveTime", "ZONE_LABEL", "ZONED", "apply_zone_rule", "timestamp_columns"]

NaiveTime = Literal["utc", "refuse"]
ZONE_LABEL = "timestamp_with_zone"
# a time of day followed by an offset (ISO-8601 ``Z``/``+02:00``, Salesforce's ``+0000``); a bare date has neither
ZONED = re.compile(r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_ROW = "__row"


def timestamp_columns(schema: pa.DataFrameSchema) -> list[str]:
    """The schema's instant columns (``datetime64[..., UTC]``), in schema order."""
    return [name for name, col in schema.columns.items() if str(col.dtype).startswith("datetime64")]


def apply_zone_rule(frame: pd.DataFrame, columns: list[str], naive_time: NaiveTime,
                    dates: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame`` with each of ``columns`` read as UTC instants under the source's rule, and the (``__row``, label)
    pairs of rows that break it. ``__row`` is the frame's index, which for a batch is the row's position."""
    out = frame.copy()
    failed: list[pd.DataFrame] = []
    for col in [c for c in columns if c in frame.columns]:
        instants, naive = _read_column(frame[col])
        if instants is None:
            continue
        out[col] = instants
        if naive_time == "refuse" and col not in dates and naive.any():
            failed.append(pd.DataFrame({_ROW: frame.index[naive.to_numpy()], "label": f"{col}: {ZONE_LABEL}"}))
    labels = pd.concat(failed, ignore_index=True) if failed else pd.DataFrame({_ROW: [], "label": []})
    return out, labels.astype({_ROW: "int64", "label": "object"})


def _read_column(values: pd.Series) -> tuple[pd.Series | None, pd.Series]:
    """(the column as UTC instants, which values had no zone); None when the column is not timestamps or text."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return None, pd.Series(False, index=values.index)
    if pd.api.types.is_datetime64_dtype(values.dtype):  # a reader found no offset in any value (CSV, JSON, Parquet)
        return values.dt.tz_localize("UTC").astype("datetime64[us, UTC]"), values.notna()
    if not (pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)):
        return None, pd.Series(False, index=values.index)
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    naive = (parsed.notna() & ~text.str.contains(ZONED, na=False)).astype(bool)
    if parsed.notna().sum() == values.notna().sum():
        return parsed.astype("datetime64[us, UTC]"), naive
    # some values are not timestamps: keep them as they came, so coercion names them (and their column)
    mixed = values.astype("object").where(parsed.isna(), parsed.astype("object"))
    return mixed, naive
