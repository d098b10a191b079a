"""Contracts for HubSpot exports (CRM v3 objects with ``properties`` flattened, Email Events API records)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from ._types import EMAIL, Bool, Timestamp

__all__ = ["HubspotContactFrame", "MarketingEmailFrame", "EmailEventFrame", "SubscriptionFrame", "EMAIL_EVENT_TYPES",
           "LEGAL_BASES"]

EMAIL_EVENT_TYPES = ["SENT", "PROCESSED", "DELIVERED", "DEFERRED", "DROPPED", "BOUNCE", "OPEN", "CLICK",
                     "STATUSCHANGE", "SPAMREPORT", "SUPPRESSED", "UNBOUNCE", "PRINT", "FORWARD"]
# the legal bases HubSpot's communication-preferences APIs (v3 and v4) accept and report for a subscription status;
# ``sourceOfStatus`` stays free text: v4 reports a free-form ``source`` the adapter lands under that name
LEGAL_BASES = ["LEGITIMATE_INTEREST_PQL", "LEGITIMATE_INTEREST_CLIENT", "LEGITIMATE_INTEREST_OTHER",
               "PERFORMANCE_OF_CONTRACT", "CONSENT_WITH_NOTICE", "NON_GDPR", "PROCESS_AND_STORE"]


class HubspotContactFrame(pa.DataFrameModel):
    id: Series[str] = pa.Field(str_matches=r"^\d+$")
    email: Series[str] = pa.Field(nullable=True, str_matches=EMAIL)
    firstname: Series[str] = pa.Field(nullable=True)
    lastname: Series[str] = pa.Field(nullable=True)
    lifecyclestage: Series[str] = pa.Field(nullable=True, isin=[
        "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
        "evangelist", "other"])
    salesforcecontactid: Series[str] = pa.Field(nullable=True, str_startswith="003")
    salesforceleadid: Series[str] = pa.Field(nullable=True, str_startswith="00Q")
    createdate: Series[Timestamp] = pa.Field(nullable=True)
    lastmodifieddate: Series[Timestamp] = pa.Field(nullable=True)
    createdAt: Series[Timestamp]
    updatedAt: Series[Timestamp]
    archived: Series[Bool]

    class Config:
        unique = ["id"]
        coerce = True


class MarketingEmailFrame(pa.DataFrameModel):
    id: Series[str]
    name: Series[str]
    state: Series[str] = pa.Field(isin=["DRAFT", "SCHEDULED", "PUBLISHED", "ARCHIVED"])
    subject: Series[str] = pa.Field(nullable=True)
    salesforceCampaignId: Series[str] = pa.Field(nullable=True, str_startswith="701")
    updatedAt: Series[Timestamp]

    class Config:
        unique = ["id"]
        coerce = True


class EmailEventFrame(pa.DataFrameModel):
    id: Series[str]
    type: Series[str] = pa.Field(isin=EMAIL_EVENT_TYPES)
    recipient: Series[str] = pa.Field(str_matches=EMAIL)
    emailCampaignId: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    created: Series[pd.Int64Dtype] = pa.Field(gt=0)
    portalId: Series[pd.Int64Dtype] = pa.Field(nullable=True)

    class Config:
        unique = ["id"]
        coerce = True


class SubscriptionFrame(pa.DataFrameModel):
    recipient: Series[str] = pa.Field(str_matches=EMAIL)
    subscriptionId: Series[str]
    status: Series[str] = pa.Field(isin=["SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"])
    legalBasis: Series[str] = pa.Field(nullable=True, isin=LEGAL_BASES)
    sourceOfStatus: Series[str] = pa.Field(nullable=True)
    timestamp: Series[Timestamp]

    class Config:
        unique = ["recipient", "subscriptionId"]
        coerce = True
