"""Contracts for Salesforce exports (Data Loader / Bulk API CSV, API field names).

Picklist values are the org's, kept as data in ``picklists``. ``CurrencyIsoCode`` exists only in orgs with
multi-currency turned on, so it is an optional column: an export without it lands with no drift.
"""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from ._types import EMAIL, ISO_COUNTRIES, ISO_CURRENCIES, Bool, Timestamp
from .picklists import SALESFORCE_PICKLISTS as PICKLISTS

__all__ = ["AccountFrame", "ContactFrame", "LeadFrame", "OpportunityFrame", "CampaignFrame", "CampaignMemberFrame"]


class _Person(pa.DataFrameModel):
    Id: Series[str]
    FirstName: Series[str] = pa.Field(nullable=True)
    LastName: Series[str]
    Email: Series[str] = pa.Field(nullable=True, str_matches=EMAIL)
    # codes are the policy's (codings): an unknown one is reported, not quarantined
    Age_Band__c: Series[str] = pa.Field(nullable=True)
    Gender__c: Series[str] = pa.Field(nullable=True)
    Region__c: Series[str] = pa.Field(nullable=True)
    HasOptedOutOfEmail: Series[Bool]
    CreatedDate: Series[Timestamp]
    SystemModstamp: Series[Timestamp]


class AccountFrame(pa.DataFrameModel):
    Id: Series[str] = pa.Field(str_startswith="001")
    Name: Series[str]
    Industry: Series[str] = pa.Field(nullable=True)
    AnnualRevenue: Series[float] = pa.Field(nullable=True, ge=0)
    BillingCountry: Series[str] = pa.Field(nullable=True, isin=ISO_COUNTRIES)
    CreatedDate: Series[Timestamp]
    SystemModstamp: Series[Timestamp]

    class Config:
        unique = ["Id"]
        coerce = True


class ContactFrame(_Person):
    Id: Series[str] = pa.Field(str_startswith="003")
    AccountId: Series[str] = pa.Field(nullable=True, str_startswith="001")
    Phone: Series[str] = pa.Field(nullable=True)
    MailingCountry: Series[str] = pa.Field(nullable=True, isin=ISO_COUNTRIES)

    class Config:
        unique = ["Id"]
        coerce = True


class LeadFrame(_Person):
    Id: Series[str] = pa.Field(str_startswith="00Q")
    Company: Series[str] = pa.Field(nullable=True)
    Status: Series[str] = pa.Field(isin=PICKLISTS["Lead.Status"])
    LeadSource: Series[str] = pa.Field(nullable=True)
    IsConverted: Series[Bool]

    class Config:
        unique = ["Id"]
        coerce = True


class OpportunityFrame(pa.DataFrameModel):
    Id: Series[str] = pa.Field(str_startswith="006")
    AccountId: Series[str] = pa.Field(nullable=True, str_startswith="001")
    Name: Series[str]
    StageName: Series[str] = pa.Field(isin=PICKLISTS["Opportunity.StageName"])
    Amount: Series[float] = pa.Field(nullable=True, ge=0)
    CloseDate: Series[Timestamp]
    CampaignId: Series[str] = pa.Field(nullable=True, str_startswith="701")
    CreatedDate: Series[Timestamp]
    SystemModstamp: Series[Timestamp]
    CurrencyIsoCode: Series[str] = pa.Field(nullable=True, isin=ISO_CURRENCIES, required=False)

    class Config:
        unique = ["Id"]
        coerce = True


class CampaignFrame(pa.DataFrameModel):
    Id: Series[str] = pa.Field(str_startswith="701")
    Name: Series[str]
    Type: Series[str] = pa.Field(nullable=True)
    Status: Series[str] = pa.Field(isin=PICKLISTS["Campaign.Status"])
    IsActive: Series[Bool]
    StartDate: Series[Timestamp] = pa.Field(nullable=True)
    EndDate: Series[Timestamp] = pa.Field(nullable=True)
    BudgetedCost: Series[float] = pa.Field(nullable=True, ge=0)
    ActualCost: Series[float] = pa.Field(nullable=True, ge=0)
    Google_Ads_Campaign_Id__c: Series[str] = pa.Field(nullable=True, str_matches=r"^\d+$")
    SystemModstamp: Series[Timestamp]
    CurrencyIsoCode: Series[str] = pa.Field(nullable=True, isin=ISO_CURRENCIES, required=False)

    class Config:
        unique = ["Id"]
        coerce = True


class CampaignMemberFrame(pa.DataFrameModel):
    Id: Series[str] = pa.Field(str_startswith="00v")
    CampaignId: Series[str] = pa.Field(str_startswith="701")
    ContactId: Series[str] = pa.Field(nullable=True, str_startswith="003")
    LeadId: Series[str] = pa.Field(nullable=True, str_startswith="00Q")
    Status: Series[str]
    CreatedDate: Series[Timestamp]
    SystemModstamp: Series[Timestamp]

    @pa.dataframe_check(error="a campaign member references exactly one of ContactId or LeadId")
    def one_person(cls, df):  # noqa: N805
        return df["ContactId"].isna() != df["LeadId"].isna()

    class Config:
        unique = ["Id"]
        coerce = True
