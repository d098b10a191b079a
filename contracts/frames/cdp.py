"""Contract for the CDP's profile export (warehouse-sync Parquet)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from ._types import AGE_BANDS, EMAIL, GENDERS, REGIONS, Bool, Timestamp

__all__ = ["ProfileFrame"]


class ProfileFrame(pa.DataFrameModel):
    profile_id: Series[str]
    user_id: Series[str] = pa.Field(nullable=True)
    email: Series[str] = pa.Field(nullable=True, str_matches=EMAIL)
    age_band: Series[str] = pa.Field(nullable=True, isin=AGE_BANDS)
    gender: Series[str] = pa.Field(nullable=True, isin=GENDERS)
    region: Series[str] = pa.Field(nullable=True, isin=REGIONS)
    consent_email: Series[Bool] = pa.Field(nullable=True)
    consent_ads: Series[Bool] = pa.Field(nullable=True)
    audiences: Series[str] = pa.Field(nullable=True)
    first_seen_at: Series[Timestamp] = pa.Field(nullable=True)
    updated_at: Series[Timestamp]

    class Config:
        unique = ["profile_id"]
        coerce = True
