"""Which contract judges which landed entity, who owns it, how serious a breach is, and which version applies.

The owner is recorded with every landed batch and becomes the owner of the data-quality findings about it (drift,
quarantined rows), so an alert reaches the team that can fix the data rather than whoever watches the channel.

Each contract also says what a timestamp without a zone means for its source (``naive_time``, see ``timestamps``)
and which of its timestamp columns are calendar dates. A column declared ``required=False`` in its model is one the
platform sends only in some configurations (Salesforce ``CurrencyIsoCode`` in multi-currency orgs): absent, it lands
as nulls with no drift finding; present, it is checked like any other.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from .frames.cdp import ErasureRequestFrame, ProfileFrame
from .frames.custom import CUSTOM_FRAMES
from .frames.decisions import DecisionFrame
from .frames.google_ads import AudienceUploadFrame, CampaignStatsFrame
from .frames.hubspot import EmailEventFrame, HubspotContactFrame, MarketingEmailFrame, SubscriptionFrame
from .frames.marketo import MarketoActivityFrame, MarketoLeadFrame, SmartCampaignFrame
from .frames.salesforce import (AccountFrame, CampaignFrame, CampaignMemberFrame, ContactFrame, LeadFrame,
                                OpportunityFrame)
from .frames.iso_codes import CODE_LISTS
from .timestamps import NaiveTime

__all__ = ["SourceContract", "SOURCE_CONTRACTS", "contract_for"]


@dataclass(frozen=True)
class SourceContract:
    stream: str  # "<platform>.<entity>"
    model: type[pa.DataFrameModel]
    owner: str
    severity: str  # severity of a breach of this contract
    version: str
    naive_time: NaiveTime = "refuse"  # what a timestamp without an offset means for this source
    dates: tuple[str, ...] = ()  # timestamp columns that hold calendar dates: no zone to carry

    def schema(self) -> pa.DataFrameSchema:
        """A fresh schema (the caller may change it); duplicates of a key keep their first row and quarantine the
        repeats. A check against a named code list is labelled with the list's name (``isin(ISO 4217)``), not its
        170 values."""
        return copy.deepcopy(_labelled_schema(self.model))

    def columns(self) -> list[str]:
        """Every column the contract knows, optional ones included (the shape a landed table has). Read off the
        model's fields, not its schema: a run's look at the raw tables asks it of all 26 contracts, and building
        their pandera schemas cost 0.35-1 s of every run (tests/integrations/test_raw_tables_check.py holds the two
        to the same list)."""
        return list(self.model.__fields__)

    def optional_columns(self) -> list[str]:
        """Columns an export may lack (pandera ``required=False``): they land as null and are not schema drift."""
        return [name for name, column in _labelled_schema(self.model).columns.items() if not column.required]

    def required_columns(self) -> list[str]:
        """The columns a batch must bring; one missing is drift."""
        return [name for name, col in _labelled_schema(self.model).columns.items() if col.required]

    def empty_frame(self) -> pd.DataFrame:
        """No rows, but every column in its contract type: the shape of a platform nobody has connected yet. Built
        (validated through pandera) once per model in a process; each caller gets its own copy."""
        return _empty_frame(self.model).copy()


@functools.lru_cache(maxsize=None)
def _empty_frame(model: type[pa.DataFrameModel]) -> pd.DataFrame:
    schema = _labelled_schema(model)
    empty = pd.DataFrame({c: pd.Series(dtype="object") for c in schema.columns})
    return copy.deepcopy(schema).validate(empty).assign(_unmapped=pd.Series(dtype="string"))


@functools.lru_cache(maxsize=None)
def _labelled_schema(model: type[pa.DataFrameModel]) -> pa.DataFrameSchema:
    """The model's schema as every contract judges it, built once per model (a deep copy of pandera's schema costs
    more than judging a small batch); ``schema`` hands out copies of it, the column lists read it as it is."""
    schema = copy.deepcopy(model.to_schema())
    schema.report_duplicates = "exclude_first"
    for column in schema.columns.values():
        for check in column.checks:
            named = CODE_LISTS.get(frozenset((check.statistics or {}).get("allowed_values") or ())) \
                if check.name == "isin" else None
            if named:
                check.error = f"isin({named})"
    return schema


def _c(stream: str, model: type[pa.DataFrameModel], owner: str, severity: str = "warn", version: str = "1.0.0",
       naive_time: NaiveTime = "refuse", dates: tuple[str, ...] = ()) -> SourceContract:
    return SourceContract(stream, model, owner, severity, version, naive_time, dates)


# naive_time="utc": Salesforce, HubSpot and Marketo document their timestamps as UTC (see timestamps.py); the
# default, "refuse", is for the team's own files (CDP sync, decision logs, upload logs)
SOURCE_CONTRACTS: dict[str, SourceContract] = {c.stream: c for c in [
    # accounts, contacts 1.1: ISO 3166-1 country codes, not any two capitals; contacts 1.2, leads 1.1: age band,
    # gender and region codes are the policy's codings (reported when unknown, no longer quarantined)
    _c("salesforce.accounts", AccountFrame, "crm-ops", version="1.1.0", naive_time="utc"),
    _c("salesforce.contacts", ContactFrame, "crm-ops", "critical", "1.2.0", naive_time="utc"),
    _c("salesforce.leads", LeadFrame, "crm-ops", version="1.1.0", naive_time="utc"),
    # opportunities, campaigns 1.1: optional CurrencyIsoCode (ISO 4217, multi-currency orgs); Salesforce's default
    # stage names accepted next to the org's (frames/picklists.py)
    _c("salesforce.opportunities", OpportunityFrame, "revenue-ops", version="1.1.0", naive_time="utc",
       dates=("CloseDate",)),
    _c("salesforce.campaigns", CampaignFrame, "marketing-ops", "critical", "1.1.0", naive_time="utc",
       dates=("StartDate", "EndDate")),
    _c("salesforce.campaign_members", CampaignMemberFrame, "marketing-ops", naive_time="utc"),
    _c("hubspot.contacts", HubspotContactFrame, "marketing-ops", naive_time="utc"),
    _c("hubspot.marketing_emails", MarketingEmailFrame, "marketing-ops", naive_time="utc"),
    _c("hubspot.email_events", EmailEventFrame, "marketing-ops", naive_time="utc"),
    # subscriptions 1.1: legalBasis is one of HubSpot's legal bases
    _c("hubspot.subscriptions", SubscriptionFrame, "privacy-office", "critical", "1.1.0", naive_time="utc"),
    _c("marketo.leads", MarketoLeadFrame, "marketing-ops", naive_time="utc"),
    _c("marketo.activities", MarketoActivityFrame, "marketing-ops", naive_time="utc"),
    _c("marketo.smart_campaigns", SmartCampaignFrame, "marketing-ops", "critical", naive_time="utc"),
    # 1.1: optional metrics.conversions_value and customer.currency_code (ISO 4217); segments.date is a day in the
    # account's time zone
    _c("google_ads.campaign_stats", CampaignStatsFrame, "paid-media", version="1.1.0", dates=("segments.date",)),
    # the team's own files, 1.1 (decisions 1.2): a timestamp without an offset is quarantined, not assumed UTC
    _c("google_ads.audience_uploads", AudienceUploadFrame, "paid-media", "critical", "1.1.0"),
    # profiles 1.2: codes are the policy's codings; an optional numeric age; decisions 1.3: decision types too
    _c("cdp.profiles", ProfileFrame, "data-platform", version="1.2.0"),
    _c("cdp.erasure_requests", ErasureRequestFrame, "privacy-office", "critical", "1.1.0"),
    _c("decisions.ai_decisions", DecisionFrame, "ml-governance", "critical", "1.3.0"),  # 1.1 added input_snapshot_id
]}

# Steward's canonical entities (frames/custom.py), for a ``platform: custom`` integration: the team's own files, so
# a timestamp without an offset is refused unless the integration's mapping names the source's zone
_CUSTOM_OWNERS = {"people": "data-platform", "consent_events": "privacy-office", "touches": "marketing-ops",
                  "engagement_events": "marketing-ops", "ad_spend": "paid-media", "campaigns": "marketing-ops",
                  "decisions": "ml-governance", "erasure_requests": "privacy-office"}
_CUSTOM_CRITICAL = {"consent_events", "decisions", "erasure_requests"}
SOURCE_CONTRACTS.update({f"custom.{entity}": _c(f"custom.{entity}", model, _CUSTOM_OWNERS[entity],
                                                "critical" if entity in _CUSTOM_CRITICAL else "warn", dates=dates)
                         for entity, (model, _key, _cursor, dates) in CUSTOM_FRAMES.items()})


def contract_for(stream: str) -> SourceContract:
    try:
        return SOURCE_CONTRACTS[stream]
    except KeyError:
        raise KeyError(f"no source contract for '{stream}'; known: {sorted(SOURCE_CONTRACTS)}") from None
