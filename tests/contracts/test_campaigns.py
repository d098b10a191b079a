"""Seam C: one id form per campaign (``platform:id``) and the campaign directory that names them."""

from __future__ import annotations

import pandas as pd
import pytest

from steward.contracts.campaigns import CampaignRef, campaign_key, parse_campaign_key
from steward.integrations.warehouse.reads import campaign_refs
from tiny import AS_OF, build, tiny_policy, tiny_warehouse, ts

C1, C2 = "701000000000000001", "701000000000000002"


def test_key_and_label():
    ref = CampaignRef("salesforce", "701000000000000003", "Spring sale")
    assert ref.key == campaign_key("salesforce", "701000000000000003") == "salesforce:701000000000000003"
    assert ref.label == "Spring sale (salesforce 701000000000000003)"
    assert CampaignRef("hubspot", "700003").label == "hubspot:700003"  # no name known: the key itself
    assert parse_campaign_key("hubspot:700003") == ("hubspot", "700003")
    with pytest.raises(ValueError):
        parse_campaign_key("700003")


def test_directory_names_every_platform_once(tmp_path):
    """Names come from the landed data; one row per platform and id, even when two batches hold the campaign."""
    emails = pd.DataFrame({"id": ["700001", "700002"], "name": ["Nurture email", None], "state": "PUBLISHED",
                           "subject": "s", "salesforceCampaignId": [C1, C2], "updatedAt": AS_OF})
    campaigns = pd.DataFrame({
        "Id": [C1, C2], "Name": ["Nurture", "Search - Brand"], "Type": "Email", "Status": "In Progress",
        "IsActive": True, "StartDate": ts("2026-11-01"), "EndDate": ts("2026-12-31"), "ActualCost": 0.0,
        "Google_Ads_Campaign_Id__c": [None, "9006"], "SystemModstamp": AS_OF})
    days = pd.date_range("2026-11-18", "2026-11-20", tz="UTC")
    ads = pd.DataFrame({"campaign.id": "9006", "campaign.name": ["Old name", "Old name", "Search - Brand"],
                        "campaign.status": "ENABLED", "segments.date": days, "metrics.cost_micros": 1_000_000,
                        "metrics.impressions": 10, "metrics.clicks": 1, "metrics.conversions": 0.0})
    wh = tiny_warehouse(tmp_path, {"salesforce.campaigns": campaigns, "hubspot.marketing_emails": emails,
                                   "google_ads.campaign_stats": ads})
    assert campaign_refs(wh) == {}  # nothing built yet: callers show keys alone
    build(wh, tmp_path / "dbt", tiny_policy(), ["+int_campaigns__directory"])
    refs = campaign_refs(wh)
    assert refs == {
        f"salesforce:{C1}": CampaignRef("salesforce", C1, "Nurture"),
        f"salesforce:{C2}": CampaignRef("salesforce", C2, "Search - Brand"),
        "hubspot:700001": CampaignRef("hubspot", "700001", "Nurture email"),
        "hubspot:700002": CampaignRef("hubspot", "700002", None),
        "google_ads:9006": CampaignRef("google_ads", "9006", "Search - Brand"),  # the newest day's name
    }
    parents = wh.query_df("select campaign_key, crm_campaign_id from staging.int_campaigns__directory "
                          "where crm_campaign_id is not null order by campaign_key")
    assert parents.values.tolist() == [["google_ads:9006", C2], ["hubspot:700001", C1], ["hubspot:700002", C2]]
