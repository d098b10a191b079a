"""Which contract judges which landed entity, who owns it, how serious a breach is, and which version applies.

The owner is recorded with every landed batch and becomes the owner of the data-quality findings about it (drift,
quarantined rows), so an alert reaches the team that can fix the data rather than whoever watches the channel.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from .frames.cdp import ErasureRequestFrame, ProfileFrame
from .frames.decisions import DecisionFrame
from .frames.google_ads import AudienceUploadFrame, CampaignStatsFrame
from .frames.hubspot import EmailEventFrame, HubspotContactFrame, MarketingEmailFrame, SubscriptionFrame
from .frames.marketo import MarketoActivityFrame, MarketoLeadFrame, SmartCampaignFrame
from .frames.salesforce import (AccountFrame, CampaignFrame, CampaignMemberFrame, ContactFrame, LeadFrame,
                                OpportunityFrame)

__all__ = ["SourceContract", "SOURCE_CONTRACTS", "contract_for"]


@dataclass(frozen=True)
class SourceContract:
    stream: str  # "<platform>.<entity>"
    model: type[pa.DataFrameModel]
    owner: str
    severity: str  # severity of a breach of this contract
    version: str

    def schema(self) -> pa.DataFrameSchema:
        """A fresh schema; duplicates of a key keep their first row and quarantine the repeats."""
        schema = copy.deepcopy(self.model.to_schema())
        schema.report_duplicates = "exclude_first"
        return schema

    def columns(self) -> list[str]:
        return list(self.schema().columns)

    def optional_columns(self) -> list[str]:
        """Columns an export may lack (pandera ``required=False``): they land as null and are not schema drift."""
        return [name for name, column in self.schema().columns.items() if not column.required]

    def empty_frame(self) -> pd.DataFrame:
        """No rows, but every column in its contract type: the shape of a platform nobody has connected yet."""
        empty = pd.DataFrame({c: pd.Series(dtype="object") for c in self.columns()})
        return self.schema().validate(empty).assign(_unmapped=pd.Series(dtype="string"))


def _c(stream: str, model: type[pa.DataFrameModel], owner: str, severity: str = "warn",
       version: str = "1.0.0") -> SourceContract:
    return SourceContract(stream, model, owner, severity, version)


SOURCE_CONTRACTS: dict[str, SourceContract] = {c.stream: c for c in [
    _c("salesforce.accounts", AccountFrame, "crm-ops"),
    _c("salesforce.contacts", ContactFrame, "crm-ops", "critical"),
    _c("salesforce.leads", LeadFrame, "crm-ops"),
    _c("salesforce.opportunities", OpportunityFrame, "revenue-ops"),
    _c("salesforce.campaigns", CampaignFrame, "marketing-ops", "critical"),
    _c("salesforce.campaign_members", CampaignMemberFrame, "marketing-ops"),
    _c("hubspot.contacts", HubspotContactFrame, "marketing-ops"),
    _c("hubspot.marketing_emails", MarketingEmailFrame, "marketing-ops"),
    _c("hubspot.email_events", EmailEventFrame, "marketing-ops"),
    _c("hubspot.subscriptions", SubscriptionFrame, "privacy-office", "critical"),
    _c("marketo.leads", MarketoLeadFrame, "marketing-ops"),
    _c("marketo.activities", MarketoActivityFrame, "marketing-ops"),
    _c("marketo.smart_campaigns", SmartCampaignFrame, "marketing-ops", "critical"),
    _c("google_ads.campaign_stats", CampaignStatsFrame, "paid-media", "warn", "1.1.0"),  # 1.1: conversions_value
    _c("google_ads.audience_uploads", AudienceUploadFrame, "paid-media", "critical"),
    _c("cdp.profiles", ProfileFrame, "data-platform"),
    _c("cdp.erasure_requests", ErasureRequestFrame, "privacy-office", "critical"),
    _c("decisions.ai_decisions", DecisionFrame, "ml-governance", "critical", "1.1.0"),  # 1.1: input_snapshot_id
]}


def contract_for(stream: str) -> SourceContract:
    try:
        return SOURCE_CONTRACTS[stream]
    except KeyError:
        raise KeyError(f"no source contract for '{stream}'; known: {sorted(SOURCE_CONTRACTS)}") from None
