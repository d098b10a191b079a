"""Contract for the Google Ads campaign performance report (GAQL column names, costs in micros)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from ._types import Timestamp

__all__ = ["CampaignStatsFrame"]


class CampaignStatsFrame(pa.DataFrameModel):
    campaign_id: Series[str] = pa.Field(alias="campaign.id", str_matches=r"^\d+$")
    campaign_name: Series[str] = pa.Field(alias="campaign.name")
    campaign_status: Series[str] = pa.Field(alias="campaign.status", isin=["ENABLED", "PAUSED", "REMOVED"])
    date: Series[Timestamp] = pa.Field(alias="segments.date")
    cost_micros: Series[pd.Int64Dtype] = pa.Field(alias="metrics.cost_micros", ge=0)
    impressions: Series[pd.Int64Dtype] = pa.Field(alias="metrics.impressions", ge=0)
    clicks: Series[pd.Int64Dtype] = pa.Field(alias="metrics.clicks", ge=0)
    conversions: Series[float] = pa.Field(alias="metrics.conversions", ge=0)

    @pa.dataframe_check(error="clicks cannot exceed impressions")
    def clicks_within_impressions(cls, df):  # noqa: N805
        return df["metrics.clicks"] <= df["metrics.impressions"]

    class Config:
        unique = ["campaign.id", "segments.date"]
        coerce = True
