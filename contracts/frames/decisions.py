"""Contract for the AI decision log: what each model decided, how sure it was, and who looked at it."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from ._types import Bool, Timestamp

__all__ = ["DecisionFrame"]


class DecisionFrame(pa.DataFrameModel):
    decision_id: Series[str]
    decided_at: Series[Timestamp]
    model_name: Series[str]
    model_version: Series[str] = pa.Field(nullable=True)
    decision_type: Series[str]  # the policy's codings.decision_types; an unknown one is reported, not quarantined
    subject_id: Series[str]
    account_id: Series[str] = pa.Field(nullable=True)
    campaign_id: Series[str] = pa.Field(nullable=True)
    score: Series[float] = pa.Field(nullable=True, ge=0, le=100)
    decision: Series[str]
    confidence: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    reason_codes: Series[str] = pa.Field(nullable=True)
    human_reviewed: Series[Bool]
    reviewed_at: Series[Timestamp] = pa.Field(nullable=True)
    executed: Series[Bool]
    # the feature-store snapshot the model read: what makes a decision reproducible (transparency audits)
    input_snapshot_id: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check(error="a decision cannot be reviewed before it was made")
    def review_after_decision(cls, df):  # noqa: N805
        return df["reviewed_at"].isna() | (df["reviewed_at"] >= df["decided_at"])

    class Config:
        unique = ["decision_id"]
        coerce = True
