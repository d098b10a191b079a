"""Contract for the Google Ads campaign performance report (GAQL column names, costs in micros).

``metrics.conversions_value`` (the revenue Google attributes to the campaign, mostly from CRM offline-conversion
imports) is optional: reports exported before it was added, or by teams that do not import conversion values, still
land; the column is then null and the revenue reconciliation does not judge those days.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from ._types import Timestamp
from .iso_codes import ISO_CURRENCIES

__all__ = ["CampaignStatsFrame", "AudienceUploadFrame", "SHA256_HEX"]

SHA256_HEX = r"^[0-9a-f]{64}$"


class CampaignStatsFrame(pa.DataFrameModel):
    campaign_id: Series[str] = pa.Field(alias="campaign.id", str_matches=r"^\d+$")
    campaign_name: Series[str] = pa.Field(alias="campaign.name")
    campaign_status: Series[str] = pa.Field(alias="campaign.status", isin=["ENABLED", "PAUSED", "REMOVED"])
    currency: Series[str] = pa.Field(alias="customer.currency_code", isin=ISO_CURRENCIES, nullable=True, required=False)
    date: Series[Timestamp] = pa.Field(alias="segments.date")
    cost_micros: Series[pd.Int64Dtype] = pa.Field(alias="metrics.cost_micros", ge=0)
    impressions: Series[pd.Int64Dtype] = pa.Field(alias="metrics.impressions", ge=0)
    clicks: Series[pd.Int64Dtype] = pa.Field(alias="metrics.clicks", ge=0)
    conversions: Series[float] = pa.Field(alias="metrics.conversions", ge=0)
    conversions_value: Series[float] = pa.Field(alias="metrics.conversions_value", ge=0, nullable=True,
                                                required=False)

    @pa.dataframe_check(error="clicks cannot exceed impressions")
    def clicks_within_impressions(cls, df):  # noqa: N805
        return df["metrics.clicks"] <= df["metrics.impressions"]

    class Config:
        unique = ["campaign.id", "segments.date"]
        coerce = True


class AudienceUploadFrame(pa.DataFrameModel):
    """What the uploader sent to a Customer Match user list: Google accepts only SHA-256 of the normalised address."""

    user_list_id: Series[str] = pa.Field(alias="user_list.id", str_matches=r"^\d+$")
    user_list_name: Series[str] = pa.Field(alias="user_list.name", nullable=True)
    upload_job_id: Series[str] = pa.Field(alias="offline_user_data_job.id", str_matches=r"^\d+$")
    upload_time: Series[Timestamp]
    hashed_email: Series[str] = pa.Field(alias="user_identifiers.hashed_email", str_matches=SHA256_HEX)

    class Config:
        unique = ["offline_user_data_job.id", "user_identifiers.hashed_email"]
        coerce = True
