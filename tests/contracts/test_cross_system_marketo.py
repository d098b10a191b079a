"""Marketo as the marketing-automation platform beside Salesforce: every cross-system check, on a workspace small
enough to compute by hand, plus the references inside Marketo.

Ten Marketo leads and eight Salesforce contacts, each planted with one disagreement (or none); every number below is
worked out in the comments from the frames in this file, and the real loop (contracts, landing with deletion batches
from both platforms, dbt build, policy) must produce exactly it. The clean twin has every kind of record with the
two platforms agreeing, and gives no finding. No HubSpot and no CDP are connected: their absence must judge nobody.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cross_system_workspace import contact_id, govern, mart, mkto_activity, mkto_campaign, mkto_lead, sf_contact
from privacy_workspace import sha

pytestmark = pytest.mark.slow

CHECKS = {"identity.match_rate", "identity.duplicate_records", "identity.broken_links",
          "reconciliation.consent_crm_vs_esp", "timeliness.change_not_propagated", "privacy.deletion_not_propagated",
          "consent.send_after_opt_out", "consent.email_without_consent", "data_quality.broken_references"}
C = contact_id


def _defect_frames() -> dict[str, pd.DataFrame]:
    return {
        "salesforce.contacts": pd.DataFrame([
            sf_contact(1, "ana@x.io"), sf_contact(2, "bo@x.io"),
            sf_contact(3, "cy@x.io", opted_out=True, modstamp="2026-02-20 12:00"),  # 216 hours before as_of
            sf_contact(4, "dee@x.io"),
            sf_contact(5, "eve@x.io"),  # deleted in Salesforce after landing; Marketo keeps her
            sf_contact(6, "fay@x.io", opted_out=True, modstamp="2026-03-01 06:00"),  # six hours: in flight
            sf_contact(7, "gil@x.io"),  # only in Salesforce
            sf_contact(8, "jo@x.io"),  # deleted in Marketo; Salesforce keeps her
        ]),
        "marketo.leads": pd.DataFrame([
            mkto_lead(101, "ana@x.io", contact=C(1)),
            mkto_lead(102, "bo@x.io", unsubscribed=True, contact=C(2), updated="2026-02-05"),  # CRM never heard
            mkto_lead(103, "cy@x.io", contact=C(3)),  # the CRM's opt-out never arrived
            mkto_lead(104, "dee@x.io", contact=C(99)),  # a contact id that never existed
            mkto_lead(105, "eve@x.io", contact=C(5)),  # the contact was deleted
            mkto_lead(106, "Dee@X.io"),  # dee twice, case aside
            mkto_lead(107, "hal@x.io"),  # only in Marketo
            mkto_lead(108, "fay@x.io", contact=C(6)),
            mkto_lead(109, "ivy@x.io", contact=C(1)),  # linked to ana's contact
            mkto_lead(110, "jo@x.io", contact=C(8)),  # deleted after landing
        ]),
        "marketo.activities": pd.DataFrame([
            mkto_activity(1, 102, "unsubscribe", "2026-02-01 12:00"),  # bo unsubscribes: 672 hours before as_of
            mkto_activity(2, 102, "send", "2026-02-10"),  # ...and Marketo mails her anyway
            mkto_activity(3, 101, "send", "2026-02-10"),
            mkto_activity(4, 103, "send", "2026-02-25"),  # after cy opted out in the CRM
            mkto_activity(5, 999, "send", "2026-02-25"),  # a lead Marketo never had
            mkto_activity(6, 110, "open", "2026-02-11"),  # jo's, landed before Marketo deleted her
            mkto_activity(7, 101, "click", "2026-02-11", campaign=1999),  # a smart campaign Marketo does not hold
        ]),
        "marketo.smart_campaigns": pd.DataFrame([mkto_campaign(1001)]),
    }


DELETIONS = {"salesforce.contacts": [C(5)], "marketo.leads": [110]}


def _clean_frames() -> dict[str, pd.DataFrame]:
    """The same kinds of records, agreeing: opt-outs seen on both sides, and eve deleted in both."""
    return {
        "salesforce.contacts": pd.DataFrame([
            sf_contact(1, "ana@x.io"), sf_contact(2, "bo@x.io", opted_out=True, modstamp="2026-02-02"),
            sf_contact(5, "eve@x.io")]),
        "marketo.leads": pd.DataFrame([
            mkto_lead(101, "ana@x.io", contact=C(1)),
            mkto_lead(102, "bo@x.io", unsubscribed=True, contact=C(2), updated="2026-02-01 13:00"),
            mkto_lead(105, "eve@x.io", contact=C(5))]),
        "marketo.activities": pd.DataFrame([
            mkto_activity(1, 102, "unsubscribe", "2026-02-01 12:00"), mkto_activity(2, 101, "send", "2026-02-10"),
            mkto_activity(3, 101, "click", "2026-02-10 09:00"), mkto_activity(4, 102, "send", "2026-01-20")]),
        "marketo.smart_campaigns": pd.DataFrame([mkto_campaign(1001)]),
    }


@pytest.fixture(scope="module")
def defects(tmp_path_factory):
    return govern(tmp_path_factory.mktemp("marketo-defects"), _defect_frames(), DELETIONS, CHECKS)


def test_match_rate_between_the_crm_and_marketo(defects):
    got = mart(defects[0], "gov_identity__match", "systems")
    cols = ["people", "missing_in_other"]
    # Salesforce after eve's deletion: ana bo cy dee fay gil jo (7); Marketo after jo's: ana bo cy dee eve hal fay
    # ivy (8). Nobody is judged against HubSpot or the CDP, which hold no one.
    assert got.loc["salesforce~marketo", cols].tolist() == [7, 2]  # gil, jo
    assert got.loc["marketo~salesforce", cols].tolist() == [8, 3]  # eve, hal, ivy
    assert len(got) == 2


def test_duplicate_leads_and_links_to_the_crm(defects):
    wh = defects[0]
    dupes = mart(wh, "gov_identity__duplicates", "scope")
    cols = ["people", "records", "duplicated_people", "duplicate_records"]
    assert dupes.loc["marketo.leads", cols].tolist() == [8, 9, 1, 1]
    assert dupes.loc["salesforce.contacts", cols].tolist() == [7, 7, 0, 0]
    links = mart(wh, "gov_identity__links", "link")
    # seven live leads carry a contact id: dee's never existed, eve's was deleted, ivy's is ana's record
    assert links.loc["marketo.sfdcContactId", ["links", "broken_links", "links_to_another_person"]].tolist() == \
        [7, 2, 1]
    assert "marketo.sfdcLeadId" not in links.index  # no lead carries one


def test_consent_agreement_and_propagation_both_ways(defects):
    wh = defects[0]
    consent = mart(wh, "gov_reconciliation__consent", "systems")
    # held by both: ana, bo (out in Marketo only), cy (out in the CRM only), dee, fay (out in the CRM, in flight)
    assert consent.loc["salesforce~marketo", ["people_compared", "mismatches"]].tolist() == [5, 3]
    assert len(consent) == 1
    lag = mart(wh, "gov_timeliness__propagation", "propagation")
    cols = ["changes", "propagated", "in_flight", "late_changes", "superseded", "oldest_late_hours"]
    assert lag.loc["email_opt_out:salesforce->marketo", cols].tolist() == [2, 0, 1, 1, 0, 216]  # cy late, fay not yet
    # bo's opt-out is timed by her Unsubscribe Email activity, not by the lead's later change (648 hours)
    assert lag.loc["email_opt_out:marketo->salesforce", cols].tolist() == [1, 0, 0, 1, 0, 672]
    assert len(lag) == 2


def test_sends_after_opt_out_in_marketo_and_anywhere(defects):
    wh = defects[0]
    own = mart(wh, "gov_consent__sends_after_opt_out", "platform")
    cols = ["people_opted_out", "people_sent_after_opt_out", "sends_after_opt_out", "campaigns_affected"]
    assert own.loc["marketo", cols].tolist() == [1, 1, 1, 1]  # bo, mailed on 10 Feb by smart campaign 1001
    assert own.loc["hubspot", cols].tolist() == [0, 0, 0, 0]
    anywhere = mart(wh, "gov_consent__channel_purpose", ["channel", "system"])
    cols = ["people_contacted", "people_known", "people_without_consent", "contacts_without_consent"]
    # three people got Marketo sends (the lead-999 send reaches no one Steward knows): ana, bo, cy
    assert anywhere.loc[("email", "marketo"), cols].tolist() == [3, 3, 1, 1]  # bo, against Marketo's own opt-out
    assert anywhere.loc[("email", "salesforce"), cols].tolist() == [3, 3, 1, 1]  # cy, 25 Feb after 20 Feb
    assert anywhere.loc[("email", "hubspot"), cols].tolist() == [3, 0, 0, 0]


def test_deletions_propagate_neither_way(defects):
    wh = defects[0]
    got = mart(wh, "gov_privacy__deletion_propagation", "propagation")
    cols = ["people_deleted", "people_still_present", "contacts_after_deletion", "people_not_deleted"]
    assert got.loc["salesforce->marketo", cols].tolist() == [1, 1, 0, 1]  # eve
    assert got.loc["marketo->salesforce", cols].tolist() == [1, 1, 0, 1]  # jo
    assert len(got) == 2  # no row for a system nobody connected
    tombstones = wh.query_df("select entity, record_id, email_sha256 from ledger.tombstones order by entity")
    assert tombstones.values.tolist() == [["contacts", C(5), sha("eve@x.io")], ["leads", "110", sha("jo@x.io")]]


def test_references_inside_marketo(defects):
    got = mart(defects[0], "gov_data_quality__references", "reference")
    cols = ["references_made", "broken_references", "references_to_deleted", "owner"]
    # seven activities: lead 999 never existed; jo's open points at a lead Marketo deleted, which is history
    assert got.loc["marketo.activities.leadId", cols].tolist() == [7, 1, 1, "marketing-ops"]
    assert got.loc["marketo.activities.campaignId", cols].tolist() == [7, 1, 0, "marketing-ops"]
    assert set(got.index) == {"marketo.activities.leadId", "marketo.activities.campaignId"}  # no CRM account held


def test_findings_name_exactly_the_planted_problems(defects):
    got = sorted((f.check_id, f.subject, f.severity.value, round(f.observed, 4)) for f in defects[1])
    assert got == [
        ("consent.email_without_consent", "email/marketing in marketo", "critical", 1),
        ("consent.email_without_consent", "email/marketing in salesforce", "critical", 1),
        ("consent.send_after_opt_out", "marketo", "critical", 1),
        ("data_quality.broken_references", "marketo.activities.campaignId", "critical", round(1 / 7, 4)),
        ("data_quality.broken_references", "marketo.activities.leadId", "critical", round(1 / 7, 4)),
        ("identity.broken_links", "marketo.sfdcContactId", "critical", round(3 / 7, 4)),
        ("identity.duplicate_records", "marketo.leads", "critical", 0.125),
        ("identity.match_rate", "marketo~salesforce", "critical", 0.625),
        ("identity.match_rate", "salesforce~marketo", "critical", round(5 / 7, 4)),
        ("privacy.deletion_not_propagated", "marketo->salesforce", "warn", 1),
        ("privacy.deletion_not_propagated", "salesforce->marketo", "warn", 1),
        ("reconciliation.consent_crm_vs_esp", "salesforce~marketo", "warn", 3),
        ("timeliness.change_not_propagated", "email_opt_out:marketo->salesforce", "warn", 1),
        ("timeliness.change_not_propagated", "email_opt_out:salesforce->marketo", "warn", 1),
    ]


def test_findings_carry_reproducing_sql_owners_and_no_pii(defects):
    wh, findings = defects
    text = json.dumps([f.model_dump(mode="json") for f in findings])
    assert "@" not in text and not [p for p in ["ana", "bo", "cy", "dee", "eve", "jo"] if sha(f"{p}@x.io") in text]
    for finding in findings:
        assert len(wh.query_df(finding.sample_query)) == 1
    broken = next(f for f in findings if f.subject == "marketo.activities.leadId")
    assert broken.owner == "marketing-ops" and broken.evidence["example_ids"][0].startswith("h:")
    assert "1 of 7 marketo activities records point (marketo.activities.leadId) to leads" in broken.explanation


def test_a_clean_marketo_workspace_gives_no_finding(tmp_path):
    wh, findings = govern(tmp_path, _clean_frames(), {"salesforce.contacts": [C(5)], "marketo.leads": [105]}, CHECKS)
    assert [(f.check_id, f.subject) for f in findings] == []
    # and every check judged something: a clean result is not an empty mart
    sizes = {m: len(wh.query_df(f"select * from governance.{m}")) for m in
             ["gov_identity__match", "gov_identity__links", "gov_reconciliation__consent",
              "gov_timeliness__propagation", "gov_privacy__deletion_propagation", "gov_data_quality__references"]}
    assert sizes == {"gov_identity__match": 2, "gov_identity__links": 1, "gov_reconciliation__consent": 1,
                     "gov_timeliness__propagation": 2, "gov_privacy__deletion_propagation": 2,
                     "gov_data_quality__references": 2}
