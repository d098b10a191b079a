"""The cross-system checks on a workspace small enough to compute by hand: identity, stages, timeliness, deletions.

Twelve people spread over Salesforce, HubSpot and the CDP, each planted with one disagreement (or none). Every
number asserted below is worked out in the comments from the frames in this file; the real loop (contracts,
landing with a deletion batch, dbt build, policy) must produce exactly it. The clean twin holds the same kinds of
records with every system agreeing, and must give no finding at all.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from cross_system_workspace import (cdp_profile, contact_id, govern, hs_contact, hs_subscription, lead_id, mart,
                                    sf_contact, sf_lead)
from privacy_workspace import sha, ts

pytestmark = pytest.mark.slow

CROSS_CHECKS = {"identity.match_rate", "identity.duplicate_records", "identity.broken_links",
                "reconciliation.lifecycle_stage_mismatch", "timeliness.change_not_propagated",
                "privacy.deletion_not_propagated"}
ACCOUNT_WON, ACCOUNT_OPEN = "001000000000000001", "001000000000000002"


def _crm_shared() -> dict[str, pd.DataFrame]:
    """Two accounts: one with a won deal (its contacts are customers), one with an open deal only."""
    account = {"Name": "Acme", "Industry": "Retail", "AnnualRevenue": 1000.0, "BillingCountry": "GB",
               "CreatedDate": ts("2025-01-01"), "SystemModstamp": ts("2026-01-01")}
    deal = {"Name": "Deal", "Amount": 100.0, "CloseDate": ts("2026-02-01"), "CampaignId": None,
            "CreatedDate": ts("2025-06-01"), "SystemModstamp": ts("2026-02-01")}
    return {
        "salesforce.accounts": pd.DataFrame([{"Id": ACCOUNT_WON, **account}, {"Id": ACCOUNT_OPEN, **account}]),
        "salesforce.opportunities": pd.DataFrame([
            {"Id": "006000000000000001", "AccountId": ACCOUNT_WON, "StageName": "Closed Won", **deal},
            {"Id": "006000000000000002", "AccountId": ACCOUNT_OPEN, "StageName": "Proposal", **deal}]),
    }


def _defect_frames() -> dict[str, pd.DataFrame]:
    return _crm_shared() | {
        "salesforce.contacts": pd.DataFrame([
            sf_contact(1, "ana@x.io", ACCOUNT_WON),
            sf_contact(4, "dee@x.io", ACCOUNT_OPEN),
            sf_contact(6, "fay@x.io", opted_out=True, modstamp="2026-02-20 12:00"),  # opted out 9 days ago
            sf_contact(7, "gus@x.io"),
            sf_contact(8, "hal@x.io"),
            sf_contact(9, "ana@x.io", ACCOUNT_WON),  # ana twice
            sf_contact(10, "bo@x.io"),  # bo is a contact and a lead
            sf_contact(11, "jo@x.io"),  # deleted after landing
            sf_contact(12, "kim@x.io"),
            sf_contact(13, "kim@x.io"),  # deleted after landing: a merge, kim stays as 12
        ]),
        "salesforce.leads": pd.DataFrame([sf_lead(2, "bo@x.io", "Closed - Not Converted"),
                                          sf_lead(3, "cy@x.io", "Open - Not Contacted")]),
        "hubspot.contacts": pd.DataFrame([
            hs_contact(51001, "ana@x.io", "customer", contact=contact_id(1)),
            hs_contact(51002, "bo@x.io", "salesqualifiedlead", lead=lead_id(2)),  # a disqualified lead kept qualified
            hs_contact(51003, "cy@x.io", "customer", lead=lead_id(3)),  # a customer with no deal
            hs_contact(51004, "dee@x.io", "opportunity", contact=contact_id(4)),
            hs_contact(51005, "Dee@X.io", "lead", contact=contact_id(4)),  # dee twice
            hs_contact(51006, "eli@x.io", "subscriber"),  # only in HubSpot
            hs_contact(51007, "fay@x.io", "lead", contact=contact_id(6)),
            hs_contact(51008, "gus@x.io", "lead", contact=contact_id(7)),
            hs_contact(51009, "hal@x.io", "lead", contact=contact_id(8)),
            hs_contact(51010, "ivy@x.io", "lead", contact=contact_id(1)),  # linked to ana's record
            hs_contact(51011, "jo@x.io", "lead", contact=contact_id(11)),
            hs_contact(51012, "kim@x.io", "lead", contact=contact_id(12)),
        ]),
        "hubspot.subscriptions": pd.DataFrame([
            hs_subscription("fay@x.io", "SUBSCRIBED", "2025-01-01"),
            hs_subscription("gus@x.io", "UNSUBSCRIBED", "2026-03-01 06:00"),  # six hours before as_of: in flight
            hs_subscription("hal@x.io", "UNSUBSCRIBED", "2026-02-01"),  # 684 hours before as_of: late
        ]),
        "cdp.profiles": pd.DataFrame([
            cdp_profile("p1", contact_id(1), "ana@x.io"),
            cdp_profile("p2", lead_id(2), "bo@x.io"),
            cdp_profile("p4", contact_id(99), "dee@x.io"),  # a CRM id that does not exist
            cdp_profile("p6", contact_id(6), "fay@x.io", consent=False),
            cdp_profile("p7", contact_id(7), "gus@x.io"),
            cdp_profile("p8", contact_id(8), "hal@x.io", consent=False),
            cdp_profile("p11", contact_id(11), "jo@x.io"),
            cdp_profile("p12", contact_id(12), "kim@x.io"),
        ]),
    }


def _clean_frames() -> dict[str, pd.DataFrame]:
    """The same shapes with every system agreeing: stages the CRM justifies, links that resolve, opt-outs seen
    everywhere, and a deleted person (jo) gone from every system."""
    return _crm_shared() | {
        "salesforce.contacts": pd.DataFrame([
            sf_contact(1, "ana@x.io", ACCOUNT_WON), sf_contact(4, "dee@x.io", ACCOUNT_OPEN),
            sf_contact(6, "fay@x.io", opted_out=True, modstamp="2026-02-20 12:00"), sf_contact(11, "jo@x.io")]),
        "salesforce.leads": pd.DataFrame([sf_lead(2, "bo@x.io", "Closed - Not Converted"),
                                          sf_lead(3, "cy@x.io", "Open - Not Contacted")]),
        "hubspot.contacts": pd.DataFrame([
            hs_contact(51001, "ana@x.io", "customer", contact=contact_id(1)), hs_contact(51002, "bo@x.io", "lead", lead=lead_id(2)),
            hs_contact(51003, "cy@x.io", "marketingqualifiedlead", lead=lead_id(3)),
            hs_contact(51004, "dee@x.io", "opportunity", contact=contact_id(4)), hs_contact(51007, "fay@x.io", "lead", contact=contact_id(6))]),
        "hubspot.subscriptions": pd.DataFrame([hs_subscription("fay@x.io", "UNSUBSCRIBED", "2026-02-20 11:00")]),
        "cdp.profiles": pd.DataFrame([
            cdp_profile("p1", contact_id(1), "ana@x.io"), cdp_profile("p2", lead_id(2), "bo@x.io"), cdp_profile("p3", lead_id(3), "cy@x.io"),
            cdp_profile("p4", contact_id(4), "dee@x.io"), cdp_profile("p6", contact_id(6), "fay@x.io", consent=False)]),
    }


@pytest.fixture(scope="module")
def defects(tmp_path_factory):
    return govern(tmp_path_factory.mktemp("cross-defects"), _defect_frames(),
                  {"salesforce.contacts": [contact_id(11), contact_id(13)]}, CROSS_CHECKS)


def test_match_rate_per_pair_of_systems(defects):
    got = mart(defects[0], "gov_identity__match", "systems")
    cols = ["people", "missing_in_other"]
    # Salesforce after jo's deletion: ana, bo, cy, dee, fay, gus, hal, kim (8); HubSpot: those but jo is there
    # too, plus eli and ivy (11); the CDP: ana, bo, dee, fay, gus, hal, jo, kim (8)
    assert got.loc["salesforce~hubspot", cols].tolist() == [8, 0]
    assert got.loc["salesforce~cdp", cols].tolist() == [8, 1]  # cy
    assert got.loc["hubspot~salesforce", cols].tolist() == [11, 3]  # eli, ivy, jo
    assert got.loc["hubspot~cdp", cols].tolist() == [11, 3]  # cy, eli, ivy
    assert got.loc["cdp~salesforce", cols].tolist() == [8, 1]  # jo
    assert got.loc["cdp~hubspot", cols].tolist() == [8, 0]
    assert got.loc["hubspot~salesforce", "match_rate"] == pytest.approx(8 / 11)
    assert len(got) == 6


def test_duplicates_inside_each_system(defects):
    got = mart(defects[0], "gov_identity__duplicates", "scope")
    cols = ["people", "records", "duplicated_people", "duplicate_records"]
    assert got.loc["salesforce.contacts", cols].tolist() == [7, 8, 1, 1]  # ana twice (kim's copy was deleted)
    assert got.loc["salesforce.leads", cols].tolist() == [2, 2, 0, 0]
    assert got.loc["salesforce.contacts~leads", cols].tolist() == [8, 9, 1, 1]  # bo is both
    assert got.loc["hubspot.contacts", cols].tolist() == [11, 12, 1, 1]  # dee twice, case aside
    assert got.loc["cdp.profiles", cols].tolist() == [8, 8, 0, 0]


def test_links_that_are_broken_or_point_at_another_person(defects):
    got = mart(defects[0], "gov_identity__links", "link")
    cols = ["links", "broken_links", "links_to_another_person"]
    # nine HubSpot contacts carry a contact id: jo's points at a deleted record, ivy's at ana's record
    assert got.loc["hubspot.salesforcecontactid", cols].tolist() == [9, 1, 1]
    assert got.loc["hubspot.salesforceleadid", cols].tolist() == [2, 0, 0]
    # the CDP: dee's id never existed, jo's was deleted
    assert got.loc["cdp.user_id", cols].tolist() == [8, 2, 0]


def test_lifecycle_stage_against_the_crm(defects):
    got = mart(defects[0], "gov_reconciliation__stages", "lifecycle_stage")
    cols = ["people_compared", "mismatches", "crm_states_found"]
    assert got.loc["customer", cols].tolist() == [2, 1, "lead_open"]  # ana has a won deal; cy is an open lead
    assert got.loc["salesqualifiedlead", cols].tolist() == [1, 1, "lead_closed"]
    assert got.loc["opportunity", cols].tolist() == [1, 0, ""]  # dee's account has an open deal
    assert set(got.index) == {"customer", "salesqualifiedlead", "opportunity"}  # `lead` is never judged


def test_opt_outs_propagate_within_the_lag(defects):
    got = mart(defects[0], "gov_timeliness__propagation", "propagation")
    cols = ["changes", "propagated", "in_flight", "late_changes", "superseded"]
    # HubSpot unsubscribes: gus six hours ago (in flight everywhere), hal 684 hours ago (the CDP has it)
    assert got.loc["email_opt_out:hubspot->salesforce", cols].tolist() == [2, 0, 1, 1, 0]
    assert got.loc["email_opt_out:hubspot->cdp", cols].tolist() == [2, 1, 1, 0, 0]
    # fay opted out in the CRM 216 hours ago; HubSpot still has her subscribed, the CDP does not
    assert got.loc["email_opt_out:salesforce->hubspot", cols].tolist() == [1, 0, 0, 1, 0]
    assert got.loc["email_opt_out:salesforce->cdp", cols].tolist() == [1, 1, 0, 0, 0]
    assert got.loc["email_opt_out:hubspot->salesforce", "oldest_late_hours"] == pytest.approx(684)
    assert got.loc["email_opt_out:salesforce->hubspot", "oldest_late_hours"] == pytest.approx(216)


def test_a_deletion_not_propagated_and_a_merge_that_is_not_one(defects):
    wh = defects[0]
    got = mart(wh, "gov_privacy__deletion_propagation", "propagation")
    cols = ["people_deleted", "people_still_present", "contacts_after_deletion", "people_not_deleted"]
    # jo was deleted in Salesforce and HubSpot and the CDP still hold her; kim's deleted copy was a merge
    assert got.loc["salesforce->hubspot", cols].tolist() == [1, 1, 0, 1]
    assert got.loc["salesforce->cdp", cols].tolist() == [1, 1, 0, 1]
    assert "salesforce->google_ads" not in got.index  # no Customer Match upload landed: not connected, not judged
    tombstones = wh.query_df("select record_id, email_sha256 from ledger.tombstones order by record_id")
    assert tombstones.values.tolist() == [[contact_id(11), sha("jo@x.io")], [contact_id(13), sha("kim@x.io")]]


def test_findings_name_exactly_the_planted_problems(defects):
    got = sorted((f.check_id, f.subject, f.severity.value, round(f.observed, 4)) for f in defects[1])
    assert got == [
        ("identity.broken_links", "cdp.user_id", "critical", 0.25),
        ("identity.broken_links", "hubspot.salesforcecontactid", "critical", round(2 / 9, 4)),
        ("identity.duplicate_records", "hubspot.contacts", "critical", round(1 / 11, 4)),
        ("identity.duplicate_records", "salesforce.contacts", "critical", round(1 / 7, 4)),
        ("identity.duplicate_records", "salesforce.contacts~leads", "critical", 0.125),
        ("identity.match_rate", "cdp~salesforce", "critical", 0.875),
        ("identity.match_rate", "hubspot~cdp", "critical", round(8 / 11, 4)),
        ("identity.match_rate", "hubspot~salesforce", "critical", round(8 / 11, 4)),
        ("identity.match_rate", "salesforce~cdp", "critical", 0.875),
        ("privacy.deletion_not_propagated", "salesforce->cdp", "warn", 1.0),
        ("privacy.deletion_not_propagated", "salesforce->hubspot", "warn", 1.0),
        ("reconciliation.lifecycle_stage_mismatch", "customer", "critical", 0.5),
        ("reconciliation.lifecycle_stage_mismatch", "salesqualifiedlead", "critical", 1.0),
        ("timeliness.change_not_propagated", "email_opt_out:hubspot->salesforce", "warn", 1.0),
        ("timeliness.change_not_propagated", "email_opt_out:salesforce->hubspot", "warn", 1.0),
    ]


def test_findings_carry_reproducing_sql_and_masked_ids_only(defects):
    wh, findings = defects
    text = json.dumps([f.model_dump(mode="json") for f in findings])
    people = ["ana", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kim"]
    assert "@" not in text and not [p for p in people if sha(f"{p}@x.io") in text]
    for finding in findings:
        assert finding.evidence["example_ids"], finding.check_id
        assert all(t.startswith("h:") and len(t) == 12 for t in finding.evidence["example_ids"])
        # the finding's SQL, run as is, returns the mart row it was judged on
        row = wh.query_df(finding.sample_query)
        assert len(row) == 1
    late = next(f for f in findings if f.subject == "email_opt_out:hubspot->salesforce")
    hal = "h:" + hashlib.md5(b"hal@x.io").hexdigest()[:10]
    assert late.evidence["example_ids"] == [hal]
    assert "have not reached salesforce within 24 hours" in late.explanation


def test_a_clean_workspace_gives_no_finding(tmp_path):
    wh, findings = govern(tmp_path, _clean_frames(), {"salesforce.contacts": [contact_id(11)]}, CROSS_CHECKS)
    assert [(f.check_id, f.subject) for f in findings] == []
    # and every check judged something: a clean result is not an empty mart
    sizes = {m: len(wh.query_df(f"select * from governance.{m}")) for m in
             ["gov_identity__match", "gov_identity__duplicates", "gov_identity__links", "gov_reconciliation__stages",
              "gov_timeliness__propagation", "gov_privacy__deletion_propagation"]}
    assert sizes == {"gov_identity__match": 6, "gov_identity__duplicates": 5, "gov_identity__links": 3,
                     "gov_reconciliation__stages": 3, "gov_timeliness__propagation": 4,
                     "gov_privacy__deletion_propagation": 2}
