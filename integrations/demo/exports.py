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

import duckdb
import pandas as pd

__all__ = ["sf_time", "write_csv", "write_ndjson", "write_parquet", "hubspot_objects"]


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


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.register("frame", df)
        con.execute(f"COPY (SELECT * FROM frame) TO '{path.as_posix()}' (FORMAT parquet)")
    finally:
        con.close()
    return path


def hubspot_objects(df: pd.DataFrame, id_col: str, created: str, updated: str) -> list[dict]:
    """HubSpot CRM v3 object JSON: every property is a string or null, timestamps are ISO-8601 with ``Z``."""
    props = [c for c in df.columns if c not in (id_col,)]
    created_s, updated_s = sf_time(df[created]), sf_time(df[updated])
    out = []
    for i, row in enumerate(df[props].itertuples(index=False, name=None)):
        properties = {k: (None if pd.isna(v) else str(v)) for k, v in zip(props, row)}
        properties[created], properties[updated] = created_s.iat[i], updated_s.iat[i]
        out.append({"id": str(df[id_col].iat[i]), "properties": properties,
                    "createdAt": created_s.iat[i], "updatedAt": updated_s.iat[i], "archived": False})
    return out
