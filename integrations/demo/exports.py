"""Writes each platform's export in the shape and file format that platform really produces.

Salesforce: Data Loader / Bulk API CSV with API field names and ``...T...Z`` timestamps.
HubSpot: CRM v3 API objects as newline-delimited JSON (``id``, ``properties`` as strings, ``createdAt``,
``updatedAt``, ``archived``); email events as the Email Events API returns them (``created`` in epoch millis).
Google Ads: a GAQL report as CSV with the API's dotted column names and ``cost_micros``.
CDP: a warehouse-sync Parquet file of profiles. AI decision log: Parquet, as model-serving logs are usually landed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..warehouse.scratch import scratch

__all__ = ["sf_time", "write_csv", "write_ndjson", "write_ndjson_frames", "write_parquet", "hubspot_objects_frame",
           "json_values", "hex_ids"]

_PLAIN = r'[^\x20-\x7e]|["\\]'  # a character json.dumps would escape: outside printable ASCII, a quote, a backslash


def sf_time(ts: pd.Series) -> pd.Series:
    """Salesforce's export timestamp format, always UTC with milliseconds and a ``Z``."""
    return pd.Series(pd.to_datetime(ts, utc=True)).dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].map({True: "true", False: "false"})  # Salesforce exports booleans in lower case
    out.to_csv(path, index=False)
    return path


def write_ndjson(records: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, separators=(",", ":"), default=str))
            fh.write("\n")
    return path


def json_values(values: pd.Series) -> np.ndarray:
    """Each value as ``json.dumps`` writes it, whole columns at a time: strings quoted (escaped exactly as json.dumps
    escapes them, element by element, only where a value needs it), integers and booleans bare, missing as ``null``.

    Millions of records cost seconds this way; a dict and a ``json.dumps`` per record cost minutes at demo scale 100.
    """
    missing = values.isna().to_numpy()
    if pd.api.types.is_bool_dtype(values.dtype):
        text = np.where(values.to_numpy(dtype=bool, na_value=False), "true", "false").astype(object)
    elif pd.api.types.is_integer_dtype(values.dtype):
        text = values.to_numpy(dtype=np.int64, na_value=0).astype(str).astype(object)
    else:
        raw = values.to_numpy(dtype=object, na_value="")
        escape = pd.Series(raw, dtype=object).astype(str).str.contains(_PLAIN, regex=True).to_numpy(dtype=bool)
        text = '"' + raw + '"'
        if escape.any():
            text[escape] = [json.dumps(v) for v in raw[escape]]
    text[missing] = "null"
    return text


def write_ndjson_frames(frames: Iterable[pd.DataFrame], path: Path, omit_null: tuple[str, ...] = ()) -> int:
    """Writes the rows of ``frames`` as compact JSON lines, byte for byte what ``write_ndjson`` writes for the same
    records, and returns how many. Columns in ``omit_null`` leave their key out where the value is missing (an API
    that omits empty fields); a column named ``properties`` of ready JSON text is written as is (nested objects).

    Frames are written one by one, so memory is bounded by the largest frame, not by the file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with path.open("w", encoding="utf-8") as fh:
        for frame in frames:
            if frame.empty:
                continue
            line = np.full(len(frame), "{", dtype=object)
            for i, col in enumerate(frame.columns):
                value = frame[col].to_numpy(dtype=object) if col == "properties" else json_values(frame[col])
                field = ("," if i else "") + json.dumps(col) + ":" + value
                if col in omit_null:
                    field[frame[col].isna().to_numpy()] = ""
                line = line + field
            fh.write("\n".join((line + "}").tolist()))
            fh.write("\n")
            rows += len(frame)
    return rows


def hex_ids(start: int, n: int, suffix: str = "") -> np.ndarray:
    """``f"{i:012x}{suffix}"`` for i in start..start+n-1 (below 16**12), without a Python call per id."""
    if start < 0 or start + n > 16**12:
        raise ValueError(f"hex_ids: {start}..{start + n} is outside twelve hex digits")
    numbers = np.arange(start, start + n, dtype=np.uint64)
    shifts = np.arange(44, -1, -4, dtype=np.uint64)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[(numbers[:, None] >> shifts) & np.uint64(15)]
    tail = np.broadcast_to(np.frombuffer(suffix.encode("ascii"), dtype=np.uint8), (n, len(suffix)))
    text = np.ascontiguousarray(np.hstack([digits, tail]))
    return text.view(f"S{12 + len(suffix)}").ravel().astype(str).astype(object)


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = scratch()  # a registered frame is the cursor's own; a database of its own would cost ~16 ms a file
    try:
        con.register("frame", df)
        con.execute(f"COPY (SELECT * FROM frame) TO '{path.as_posix()}' (FORMAT parquet)")
    finally:
        con.close()
    return path


def hubspot_objects_frame(df: pd.DataFrame, id_col: str, created: str, updated: str) -> pd.DataFrame:
    """HubSpot CRM v3 object JSON as columns for ``write_ndjson_frames``: every property is a string or null,
    timestamps are ISO-8601 with ``Z``; ``properties`` is the nested object's JSON text, built a column at a time."""
    props = [c for c in df.columns if c not in (id_col,)]
    created_s, updated_s = sf_time(df[created]).to_numpy(), sf_time(df[updated]).to_numpy()
    text = {c: df[c].to_numpy() for c in props}
    text[created], text[updated] = created_s, updated_s
    properties = np.full(len(df), "{", dtype=object)
    for i, col in enumerate(props):
        values = pd.Series(text[col], dtype=object)
        values = values.where(values.isna(), values.astype(str))  # every property is a string (or null)
        properties = properties + ("," if i else "") + json.dumps(col) + ":" + json_values(values)
    return pd.DataFrame({"id": df[id_col].astype(str).to_numpy(), "properties": properties + "}",
                         "createdAt": created_s, "updatedAt": updated_s, "archived": False})
