"""References inside one platform (Salesforce, HubSpot), counted by gov_data_quality__references and judged by
``data_quality.broken_references``, on a workspace small enough to count by hand. Marketo's references are in
``test_cross_system_marketo``.

Each kind of reference is planted once broken (its target never landed) and, for a contact's account, once pointing
at a record the platform reported deleted, which is counted apart and not judged. The clean twin has every kind of
reference resolved and gives no finding.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cross_system_workspace import contact_id, govern, lead_id, mart, sf_contact, sf_lead
from privacy_workspace import ts

pytestmark = pytest.mark.slow

CHECKS = {"data_quality.broken_references"}
A1, A2, A9 = (f"001{n:015d}" for n in (1, 2, 9))
K1, K2, K7, K9 = (f"701{n:015d}" for n in (1, 2, 7, 9))


def _account(account: str) -> dict:
    return {"Id": account, "Name": "Acme", "Industry": None, "AnnualRevenue": None, "BillingCountry": "GB",
            "CreatedDate": ts("2025-01-01"), "SystemModstamp": ts("2026-01-01")}


def _opportunity(n: int, account: str | None, campaign: str | None) -> dict:
    return {"Id": f"006{n:015d}", "AccountId": account, "Name": "Deal", "StageName": "Prospecting", "Amount": 10.0,
            "CloseDate": ts("2026-04-01"), "CampaignId": campaign, "CreatedDate": ts("2026-01-01"),
            "SystemModstamp": ts("2026-02-01")}


def _campaign(campaign: str) -> dict:
    return {"Id": campaign, "Name": "Spring", "Type": "Email", "Status": "In Progress", "IsActive": True,
            "StartDate": ts("2026-01-01"), "EndDate": None, "BudgetedCost": None, "ActualCost": None,
            "Google_Ads_Campaign_Id__c": None, "SystemModstamp": ts("2026-01-01")}


def _member(n: int, campaign: str, contact: str | None = None, lead: str | None = None) -> dict:
    return {"Id": f"00v{n:015d}", "CampaignId": campaign, "ContactId": contact, "LeadId": lead, "Status": "Sent",
            "CreatedDate": ts("2026-01-05"), "SystemModstamp": ts("2026-01-05")}


def _email(email_id: int) -> dict:
    return {"id": str(email_id), "name": "Nurture", "state": "PUBLISHED", "subject": "s",
            "salesforceCampaignId": K1, "updatedAt": ts("2026-01-01")}


def _event(n: int, email_id: int | None) -> dict:
    return {"id": f"ev{n}", "type": "SENT", "recipient": "ana@x.io", "emailCampaignId": email_id,
            "created": 1_767_261_600_000 + n, "portalId": 1}


def _frames(broken: bool) -> dict[str, pd.DataFrame]:
    """``broken``: the defect workspace; otherwise its clean twin, every reference resolved."""
    return {
        "salesforce.accounts": pd.DataFrame([_account(A1), _account(A2)]),
        "salesforce.contacts": pd.DataFrame([
            sf_contact(1, "ana@x.io", A1),
            sf_contact(2, "bo@x.io", A9 if broken else A1),  # an account that never landed
            sf_contact(3, "cy@x.io", A2 if broken else A1),  # an account deleted in Salesforce since
            sf_contact(4, "dee@x.io")]),  # no account: nothing to resolve
        "salesforce.leads": pd.DataFrame([sf_lead(1, "eli@x.io", "Open - Not Contacted")]),
        "salesforce.opportunities": pd.DataFrame([
            _opportunity(1, A1, K1), _opportunity(2, A1, K9 if broken else K2), _opportunity(3, None, None)]),
        "salesforce.campaigns": pd.DataFrame([_campaign(K1), _campaign(K2)]),
        "salesforce.campaign_members": pd.DataFrame([
            _member(1, K1, contact=contact_id(1)), _member(2, K2, lead=lead_id(1)),
            _member(3, K1, contact=contact_id(9) if broken else contact_id(2)),
            _member(4, K7 if broken else K2, lead=lead_id(1)),
            _member(5, K1, lead=lead_id(9) if broken else lead_id(1))]),
        "hubspot.marketing_emails": pd.DataFrame([_email(700001)]),
        "hubspot.email_events": pd.DataFrame([
            _event(1, 700001), _event(2, 700001), _event(3, 799999 if broken else 700001), _event(4, None)]),
    }


@pytest.fixture(scope="module")
def defects(tmp_path_factory):
    return govern(tmp_path_factory.mktemp("references"), _frames(broken=True), {"salesforce.accounts": [A2]}, CHECKS)


def test_every_reference_is_counted_with_its_owner(defects):
    got = mart(defects[0], "gov_data_quality__references", "reference")
    cols = ["references_made", "broken_references", "references_to_deleted", "owner"]
    assert got[cols].sort_index().to_dict("index") == {
        "hubspot.email_events.emailCampaignId": dict(zip(cols, [3, 1, 0, "marketing-ops"])),
        "salesforce.campaign_members.CampaignId": dict(zip(cols, [5, 1, 0, "marketing-ops"])),
        "salesforce.campaign_members.ContactId": dict(zip(cols, [2, 1, 0, "marketing-ops"])),
        "salesforce.campaign_members.LeadId": dict(zip(cols, [3, 1, 0, "marketing-ops"])),
        "salesforce.contacts.AccountId": dict(zip(cols, [3, 1, 1, "crm-ops"])),  # bo broken; cy's was deleted
        "salesforce.opportunities.AccountId": dict(zip(cols, [2, 0, 0, "revenue-ops"])),
        "salesforce.opportunities.CampaignId": dict(zip(cols, [2, 1, 0, "revenue-ops"])),
    }


def test_findings_name_each_broken_reference(defects):
    wh, findings = defects
    got = sorted((f.subject, f.severity.value, round(f.observed, 4), f.owner) for f in findings)
    assert got == [
        ("hubspot.email_events.emailCampaignId", "critical", round(1 / 3, 4), "marketing-ops"),
        ("salesforce.campaign_members.CampaignId", "critical", 0.2, "marketing-ops"),
        ("salesforce.campaign_members.ContactId", "critical", 0.5, "marketing-ops"),
        ("salesforce.campaign_members.LeadId", "critical", round(1 / 3, 4), "marketing-ops"),
        ("salesforce.contacts.AccountId", "critical", round(1 / 3, 4), "crm-ops"),
        ("salesforce.opportunities.CampaignId", "critical", 0.5, "revenue-ops"),
    ]
    contacts = next(f for f in findings if f.subject == "salesforce.contacts.AccountId")
    # the example is bo's contact, masked; its SQL returns the row it was judged on
    assert contacts.evidence["example_ids"] == [wh.query_df(
        f"select 'h:' || left(md5('{contact_id(2).lower()}'), 10) as t")["t"].iloc[0]]
    assert contacts.evidence["references_to_deleted"] == 1
    assert len(wh.query_df(contacts.sample_query)) == 1


def test_clean_references_give_no_finding(tmp_path):
    wh, findings = govern(tmp_path, _frames(broken=False), {}, CHECKS)
    assert findings == []
    got = mart(wh, "gov_data_quality__references", "reference")
    assert len(got) == 7 and got["broken_references"].sum() == 0 and got["references_to_deleted"].sum() == 0
