"""Contracts for Marketo REST records (lead database, email activities, asset-API smart campaigns)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from ._types import EMAIL, Bool, Timestamp

__all__ = ["MarketoLeadFrame", "MarketoActivityFrame", "SmartCampaignFrame", "EMAIL_ACTIVITY_TYPES",
           "SMART_CAMPAIGN_STATUSES"]

# Marketo's standard activity type ids for email; other types are not pulled, so one here is a mapping error.
EMAIL_ACTIVITY_TYPES = {6: "Send Email", 7: "Email Delivered", 8: "Email Bounced", 9: "Unsubscribe Email",
                        10: "Open Email", 11: "Click Email"}
SMART_CAMPAIGN_STATUSES = ["Never Run", "Inactive", "Active", "Single Run", "Scheduled", "Recurring Run",
                           "Invalid", "Completed"]


class MarketoLeadFrame(pa.DataFrameModel):
    id: Series[pd.Int64Dtype] = pa.Field(gt=0)
    email: Series[str] = pa.Field(nullable=True, str_matches=EMAIL)
    firstName: Series[str] = pa.Field(nullable=True)
    lastName: Series[str] = pa.Field(nullable=True)
    unsubscribed: Series[Bool]
    emailInvalid: Series[Bool]
    sfdcContactId: Series[str] = pa.Field(nullable=True, str_startswith="003")
    sfdcLeadId: Series[str] = pa.Field(nullable=True, str_startswith="00Q")
    createdAt: Series[Timestamp]
    updatedAt: Series[Timestamp]

    @pa.dataframe_check
    def updated_after_created(cls, df: pd.DataFrame) -> pd.Series:
        return df["updatedAt"].isna() | df["createdAt"].isna() | (df["updatedAt"] >= df["createdAt"])

    class Config:
        unique = ["id"]
        coerce = True


class MarketoActivityFrame(pa.DataFrameModel):
    id: Series[pd.Int64Dtype] = pa.Field(gt=0)
    marketoGUID: Series[str]
    leadId: Series[pd.Int64Dtype] = pa.Field(gt=0)
    activityDate: Series[Timestamp]
    activityTypeId: Series[pd.Int64Dtype] = pa.Field(isin=list(EMAIL_ACTIVITY_TYPES))
    primaryAttributeValueId: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    primaryAttributeValue: Series[str] = pa.Field(nullable=True)
    campaignId: Series[pd.Int64Dtype] = pa.Field(nullable=True, gt=0)
    attributes: Series[str] = pa.Field(nullable=True, str_startswith="[")  # the attribute list, as JSON text

    class Config:
        unique = ["id"]
        coerce = True


class SmartCampaignFrame(pa.DataFrameModel):
    id: Series[pd.Int64Dtype] = pa.Field(gt=0)
    name: Series[str]
    description: Series[str] = pa.Field(nullable=True)
    createdAt: Series[Timestamp]
    updatedAt: Series[Timestamp]
    status: Series[str] = pa.Field(isin=SMART_CAMPAIGN_STATUSES)
    type: Series[str] = pa.Field(isin=["batch", "trigger", "default"])
    isSystem: Series[Bool]
    isActive: Series[Bool]
    isRequestable: Series[Bool]
    isCommunicationLimitEnabled: Series[Bool]
    qualificationRuleType: Series[str] = pa.Field(nullable=True, isin=["once", "any", "interval"])
    workspace: Series[str] = pa.Field(nullable=True)
    smartListId: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    flowId: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    computedUrl: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def only_trigger_campaigns_are_active(cls, df: pd.DataFrame) -> pd.Series:
        """Marketo's isActive means "listening for triggers"; a batch campaign that claims it is misread."""
        return ~df["isActive"].fillna(False).astype(bool) | (df["type"] == "trigger")

    class Config:
        unique = ["id"]
        coerce = True
