"""Steward's own canonical entities: the shapes a platform Steward has no adapter for is mapped onto.

A team on Braze, Klaviyo, Iterable, Salesforce Marketing Cloud, Meta Ads or LinkedIn Ads declares an integration
with ``platform: custom`` and maps its exports or synced tables onto these entities (docs/your-own-stack.md); its rows
then join the cross-system checks as one more system, named by the integration. The columns are the least every
check needs plus what most platforms export; a platform that lacks an optional column leaves it out (``required=
False``: it lands as null and is not drift).

Codes that differ between teams (gender, region, age bands, decision types, channels) are not constrained here: the
policy's ``codings`` say which values a team uses, and unknown values are reported by a data-quality check instead of
quarantining the row (issue #14). Timestamps follow the team-file rule (``naive_time`` in the registry), unless the
mapping names the source's zone.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from ._types import EMAIL, Bool, Timestamp
from .cdp import ErasureRequestFrame
from .decisions import DecisionFrame

__all__ = ["PeopleFrame", "ConsentEventFrame", "TouchFrame", "EngagementEventFrame", "AdSpendFrame",
           "CustomCampaignFrame", "CUSTOM_FRAMES", "ENGAGEMENT_TYPES", "CONSENT_STATUSES"]

ENGAGEMENT_TYPES = ["open", "click", "unsubscribe", "complaint", "conversion", "bounce"]
CONSENT_STATUSES = ["granted", "withdrawn"]


def _opt(**kw) -> pa.Field:  # an optional column: absent from an export, it lands as null
    return pa.Field(nullable=True, required=False, **kw)


class PeopleFrame(pa.DataFrameModel):
    """One person record per system: ids, the email that links systems, protected and segment attributes, and the
    email opt-out the system holds."""

    person_id: Series[str]
    email: Series[str] = pa.Field(nullable=True, str_matches=EMAIL)
    crm_person_id: Series[str] = _opt()  # the CRM's id for the person, when the system stores it
    age: Series[float] = _opt(ge=0, le=130)  # a numeric age: banded in staging by the policy's codings
    age_band: Series[str] = _opt()
    gender: Series[str] = _opt()
    region: Series[str] = _opt()
    country: Series[str] = _opt()
    segments: Series[str] = _opt()  # audience / segment tags, comma-separated
    email_opt_out: Series[Bool] = _opt()  # the system's current email opt-out; null: it holds none
    opted_out_at: Series[Timestamp] = _opt()
    created_at: Series[Timestamp] = _opt()
    updated_at: Series[Timestamp]

    class Config:
        unique = ["person_id"]
        coerce = True


class ConsentEventFrame(pa.DataFrameModel):
    """A consent given or withdrawn, for a channel and purpose: the history behind a person's consent state."""

    event_id: Series[str]
    person_id: Series[str] = pa.Field(nullable=True)
    email: Series[str] = pa.Field(nullable=True, str_matches=EMAIL)
    channel: Series[str]  # email, sms, ads, ... (policy codings: channels)
    purpose: Series[str] = _opt()  # marketing, profiling, ...
    status: Series[str] = pa.Field(isin=CONSENT_STATUSES)
    legal_basis: Series[str] = _opt()
    occurred_at: Series[Timestamp]
    source: Series[str] = _opt()

    class Config:
        unique = ["event_id"]
        coerce = True


class TouchFrame(pa.DataFrameModel):
    """A contact made with a person: an email or SMS sent, an ad impression, a call."""

    touch_id: Series[str]
    person_id: Series[str] = pa.Field(nullable=True)
    email: Series[str] = pa.Field(nullable=True, str_matches=EMAIL)
    channel: Series[str]
    campaign_id: Series[str] = pa.Field(nullable=True)
    campaign_name: Series[str] = _opt()
    touched_at: Series[Timestamp]

    class Config:
        unique = ["touch_id"]
        coerce = True


class EngagementEventFrame(pa.DataFrameModel):
    """What a person did with a touch: opened, clicked, unsubscribed, complained, converted (or it bounced)."""

    event_id: Series[str]
    touch_id: Series[str] = _opt()
    person_id: Series[str] = pa.Field(nullable=True)
    email: Series[str] = pa.Field(nullable=True, str_matches=EMAIL)
    campaign_id: Series[str] = pa.Field(nullable=True)
    channel: Series[str] = _opt()
    event_type: Series[str] = pa.Field(isin=ENGAGEMENT_TYPES)
    occurred_at: Series[Timestamp]
    value: Series[float] = _opt(ge=0)  # a conversion's value

    class Config:
        unique = ["event_id"]
        coerce = True


class AdSpendFrame(pa.DataFrameModel):
    """An ad platform's daily campaign figures."""

    campaign_id: Series[str]
    campaign_name: Series[str] = _opt()
    day: Series[Timestamp]
    spend: Series[float] = pa.Field(ge=0)
    currency: Series[str] = _opt()
    impressions: Series[pd.Int64Dtype] = _opt(ge=0)
    clicks: Series[pd.Int64Dtype] = _opt(ge=0)
    conversions: Series[float] = _opt(ge=0)
    conversion_value: Series[float] = _opt(ge=0)

    class Config:
        unique = ["campaign_id", "day"]
        coerce = True


class CustomCampaignFrame(pa.DataFrameModel):
    """A campaign as its platform or the CRM books it: name, flight dates and the cost booked for it."""

    campaign_id: Series[str]
    name: Series[str]
    channel: Series[str] = _opt()
    status: Series[str] = _opt()
    start_date: Series[Timestamp] = _opt()
    end_date: Series[Timestamp] = _opt()
    booked_cost: Series[float] = _opt(ge=0)
    currency: Series[str] = _opt()
    updated_at: Series[Timestamp]

    class Config:
        unique = ["campaign_id"]
        coerce = True


# entity -> (model, primary key, cursor, dates): the decision log and erasure requests are the shapes Steward
# already reads from a team's own files (frames/decisions.py, frames/cdp.py)
CUSTOM_FRAMES: dict[str, tuple[type[pa.DataFrameModel], str, str, tuple[str, ...]]] = {
    "people": (PeopleFrame, "person_id", "updated_at", ()),
    "consent_events": (ConsentEventFrame, "event_id", "occurred_at", ()),
    "touches": (TouchFrame, "touch_id", "touched_at", ()),
    "engagement_events": (EngagementEventFrame, "event_id", "occurred_at", ()),
    "ad_spend": (AdSpendFrame, "campaign_id,day", "day", ("day",)),
    "campaigns": (CustomCampaignFrame, "campaign_id", "updated_at", ("start_date", "end_date")),
    "decisions": (DecisionFrame, "decision_id", "decided_at", ()),
    "erasure_requests": (ErasureRequestFrame, "request_id", "updated_at", ()),
}
