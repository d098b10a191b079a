"""Contract for the CDP's profile export (warehouse-sync Parquet)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from ._types import EMAIL, Bool, Timestamp
from .google_ads import SHA256_HEX

__all__ = ["ProfileFrame", "ErasureRequestFrame"]


class ProfileFrame(pa.DataFrameModel):
    profile_id: Series[str]
    user_id: Series[str] = pa.Field(nullable=True)
    email: Series[str] = pa.Field(nullable=True, str_matches=EMAIL)
    # codes are the policy's (codings), reported when unknown; age: a number, banded in staging when age_band is null
    age: Series[float] = pa.Field(nullable=True, required=False, ge=0, le=130)
    age_band: Series[str] = pa.Field(nullable=True)
    gender: Series[str] = pa.Field(nullable=True)
    region: Series[str] = pa.Field(nullable=True)
    consent_email: Series[Bool] = pa.Field(nullable=True)
    consent_ads: Series[Bool] = pa.Field(nullable=True)
    audiences: Series[str] = pa.Field(nullable=True)
    first_seen_at: Series[Timestamp] = pa.Field(nullable=True)
    updated_at: Series[Timestamp]

    class Config:
        unique = ["profile_id"]
        coerce = True


class ErasureRequestFrame(pa.DataFrameModel):
    """The privacy desk's log of data-subject erasure requests; it keeps only a hash of the address it erased."""

    request_id: Series[str]
    request_type: Series[str] = pa.Field(isin=["erasure"])
    email_sha256: Series[str] = pa.Field(str_matches=SHA256_HEX)
    status: Series[str] = pa.Field(isin=["received", "in_progress", "completed", "rejected"])
    requested_at: Series[Timestamp]
    completed_at: Series[Timestamp] = pa.Field(nullable=True)
    updated_at: Series[Timestamp]
    source: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check(error="a completed request has a completion time, no earlier than the request")
    def completed_after_request(cls, df):  # noqa: N805
        done = df["status"] == "completed"
        return ~done | (df["completed_at"].notna() & (df["completed_at"] >= df["requested_at"]))

    class Config:
        unique = ["request_id"]
        coerce = True
