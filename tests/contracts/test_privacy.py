"""The privacy and consent checks on a workspace small enough to compute by hand.

Four people and a ghost. Every number asserted below is worked out in the comments from the frames in this file,
then the real loop (contracts, landing, PII scan, dbt build, policy) must produce exactly it. Findings must carry
counts and masked ids only: no address, no hash of one.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from privacy_workspace import build_tiny, sha, ts
from steward.contracts.governance import evaluate
from steward.contracts.policy import load_policy
from steward.integrations.warehouse import pii_scan
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow

AS_OF = ts("2026-03-01 12:00")
POLICY = load_policy()
PEOPLE = {"ana": "ana@x.io", "bo": "bo@x.io", "cy": "cy@x.io", "dee": "dee@x.io"}
PRIVACY_CHECKS = {"consent.email_without_consent", "consent.ad_upload_without_consent", "privacy.erasure_not_honoured",
                  "privacy.retention_exceeded", "privacy.pii_outside_allowed_tables"}


def _person(sf_id: str, email: str, opted_out: bool, modstamp: str) -> dict:
    return {"Id": sf_id, "FirstName": email.split("@")[0].title(), "LastName": "Tester", "Email": email,
            "Age_Band__c": "25-34", "Gender__c": "female", "Region__c": "EMEA", "HasOptedOutOfEmail": opted_out,
            "CreatedDate": ts("2025-01-01"), "SystemModstamp": ts(modstamp)}


def _hubspot_contact(i: int, email: str) -> dict:
    return {"id": str(51000 + i), "email": email, "firstname": "X", "lastname": "Y", "lifecyclestage": "lead",
            "salesforcecontactid": None, "salesforceleadid": None, "createdate": ts("2025-01-01"),
            "lastmodifieddate": ts("2026-01-01"), "createdAt": ts("2025-01-01"), "updatedAt": ts("2026-01-01"),
            "archived": False}


def _send(i: int, email: str, at: str, kind: str = "SENT") -> dict:
    return {"id": f"ev{i:03d}", "type": kind, "recipient": email, "emailCampaignId": 700001,
            "created": int(ts(at).timestamp() * 1000), "portalId": 1}


def _frames() -> dict[str, pd.DataFrame]:
    ana, bo, cy, dee = PEOPLE.values()
    contact = _person("003000000000000001", ana, False, "2026-02-01") | {
        "AccountId": None, "Phone": "+15550001111", "MailingCountry": "GB"}
    lead = _person("00Q000000000000002", bo, True, "2026-02-05") | {
        "Company": "Acme", "Status": "Open - Not Contacted", "LeadSource": "Web", "IsConverted": False}
    subs = [(ana, "UNSUBSCRIBED", "2026-02-10"), (bo, "SUBSCRIBED", "2025-01-01"), (cy, "SUBSCRIBED", "2025-01-01"),
            (dee, "SUBSCRIBED", "2025-01-01")]
    weekly = ["2026-02-03 09:00", "2026-02-17 09:00", "2026-02-24 09:00"]
    sends = [(p, at) for p in (ana, bo, cy) for at in weekly]
    sends += [(cy, "2024-02-29 12:00"), (cy, "2024-03-02 12:00"), (dee, "2026-02-03 09:00")]
    profiles = [(ana, True, True, "2026-02-01"), (bo, False, False, "2026-02-20"), (cy, True, True, "2026-02-01"),
                (dee, True, True, "2026-02-01")]
    uploads = [("1", sha(bo)), ("1", sha(cy)), ("1", "ab" * 32), ("2", sha(dee))]
    requests = [("dsr-000001", "ghost@x.io", "completed", "2026-01-10", "2026-01-12"),
                ("dsr-000002", dee, "completed", "2026-01-25", "2026-02-01"),
                ("dsr-000003", cy, "in_progress", "2026-02-27", None)]
    return {
        "salesforce.contacts": pd.DataFrame([contact]),
        "salesforce.leads": pd.DataFrame([lead]),
        "hubspot.contacts": pd.DataFrame([_hubspot_contact(i, e) for i, e in enumerate(PEOPLE.values())]),
        "hubspot.subscriptions": pd.DataFrame([
            {"recipient": e, "subscriptionId": "marketing_information", "status": s, "legalBasis": None,
             "sourceOfStatus": None, "timestamp": ts(at)} for e, s, at in subs]),
        "hubspot.email_events": pd.DataFrame([_send(i, e, at) for i, (e, at) in enumerate(sends)]),
        "cdp.profiles": pd.DataFrame([
            {"profile_id": f"prof_{i}", "user_id": None, "email": e, "age_band": None, "gender": None,
             "region": None, "consent_email": ce, "consent_ads": ca, "audiences": "", "first_seen_at": None,
             "updated_at": ts(at)} for i, (e, ce, ca, at) in enumerate(profiles)]),
        "google_ads.audience_uploads": pd.DataFrame([
            {"user_list.id": "9100000001", "user_list.name": "High intent", "offline_user_data_job.id": job,
             "upload_time": ts("2026-02-10 03:00"), "user_identifiers.hashed_email": h} for job, h in uploads]),
        "cdp.erasure_requests": pd.DataFrame([
            {"request_id": r, "request_type": "erasure", "email_sha256": sha(e), "status": s,
             "requested_at": ts(asked), "completed_at": ts(done) if done else None,
             "updated_at": ts(done or asked), "source": "privacy_portal"} for r, e, s, asked, done in requests]),
        "decisions.ai_decisions": pd.DataFrame([
            {"decision_id": f"dec_{i}", "decided_at": ts("2026-02-20"), "model_name": "lead_scoring",
             "model_version": "3.2.0", "decision_type": "lead_score", "subject_id": sf_id, "account_id": None,
             "campaign_id": None, "score": 70.0, "decision": "priority", "confidence": 0.9, "reason_codes": "X",
             "human_reviewed": False, "reviewed_at": None, "executed": True, "contact_email": email}
            for i, (sf_id, email) in enumerate([("003000000000000001", ana), ("00Q000000000000002", bo)])]),
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-privacy")
    policy = POLICY.model_copy(update={"checks": {k: v for k, v in POLICY.checks.items() if k in PRIVACY_CHECKS}})
    wh = build_tiny(root, _frames(), AS_OF, sorted({rule.mart for rule in policy.checks.values()}))
    findings = evaluate(policy, lambda m: wh.query_df(f"select * from governance.{m}"), "t")
    return wh, findings, root


def _mart(wh: Warehouse, name: str, key: list[str]) -> pd.DataFrame:
    return wh.query_df(f"select * from governance.{name}").set_index(key)


def test_consent_per_channel_purpose_and_system(tiny):
    got = _mart(tiny[0], "gov_consent__channel_purpose", ["channel", "system"])
    cols = ["people_contacted", "people_known", "people_without_consent", "contacts_without_consent"]
    # hubspot: ana unsubscribed 10 Feb and still got the 17 and 24 Feb sends (the 3 Feb one was before)
    assert got.loc[("email", "hubspot"), cols].tolist() == [4, 4, 1, 2]
    # salesforce holds ana and bo; bo's opt-out carries no date, so it counts from the record's change on 5 Feb
    assert got.loc[("email", "salesforce"), cols].tolist() == [4, 2, 1, 2]
    # the CDP says no for bo since its change on 20 Feb: only the 24 Feb send is after it
    assert got.loc[("email", "cdp"), cols].tolist() == [4, 4, 1, 1]
    # uploads: bo (ads consent false) and an address the CDP does not know have no consent given; cy and dee do
    assert got.loc[("ads", "cdp"), cols].tolist() == [4, 3, 2, 2]
    assert got.loc[("ads", "cdp"), "purpose"] == "customer_match"


def test_erasure_propagation_per_system(tiny):
    got = _mart(tiny[0], "gov_privacy__erasure", ["system"])
    cols = ["requests_completed", "people_still_present", "contacts_after_request", "people_not_erased"]
    # two completed requests (ghost, dee); cy's is still in progress and not judged. dee asked on 25 Jan,
    # yet HubSpot still holds her and emailed her on 3 Feb, the CDP holds her, and Google Ads got her on 10 Feb
    assert got.loc["salesforce", cols].tolist() == [2, 0, 0, 0]
    assert got.loc["hubspot", cols].tolist() == [2, 1, 1, 1]
    assert got.loc["cdp", cols].tolist() == [2, 1, 0, 1]
    assert got.loc["google_ads", cols].tolist() == [2, 1, 1, 1]
    assert list(got.loc["hubspot", "example_requests"]) == ["dsr-000002"]


def test_retention_counts_only_records_older_than_the_period(tiny):
    got = _mart(tiny[0], "gov_privacy__retention", ["entity"])
    # 12 email events; 1 Mar 2026 - 730 days = 1 Mar 2024, so the 29 Feb 2024 send (731 days) is one day past it
    # and the 2 Mar 2024 send is not
    events = got.loc["hubspot.email_events"]
    assert (events["records"], events["records_past_retention"]) == (12, 1)
    assert events["days_past_retention"] == pytest.approx(1.0)
    assert got.loc["google_ads.audience_uploads", ["records", "records_past_retention"]].tolist() == [4, 0]
    assert got.loc["decisions.ai_decisions", ["records", "records_past_retention"]].tolist() == [2, 0]


def test_pii_outside_allowed_tables(tiny):
    got = _mart(tiny[0], "gov_privacy__pii_columns", ["table_ref"])
    assert got.loc["raw.decisions__ai_decisions", "pii_columns_not_allowed"] == 1
    assert got.loc["raw.decisions__ai_decisions", "columns_found"] == "_unmapped.contact_email (email, by name+content)"
    allowed = got[got["is_allowed"]]
    assert (allowed["pii_columns_not_allowed"] == 0).all()
    assert got.loc["raw.salesforce__contacts", "pii_kinds"] == "email, person_name, phone"
    assert got["pii_columns_not_allowed"].sum() == 1


def test_findings_name_exactly_the_planted_problems(tiny):
    _, findings, _ = tiny
    got = sorted((f.check_id, f.subject, f.severity.value, f.observed) for f in findings)
    assert got == [
        ("consent.ad_upload_without_consent", "ads/customer_match in cdp", "critical", 2.0),
        ("consent.email_without_consent", "email/marketing in cdp", "critical", 1.0),
        ("consent.email_without_consent", "email/marketing in hubspot", "critical", 1.0),
        ("consent.email_without_consent", "email/marketing in salesforce", "critical", 1.0),
        ("privacy.erasure_not_honoured", "cdp", "critical", 1.0),
        ("privacy.erasure_not_honoured", "google_ads", "critical", 1.0),
        ("privacy.erasure_not_honoured", "hubspot", "critical", 1.0),
        ("privacy.pii_outside_allowed_tables", "raw.decisions__ai_decisions", "critical", 1.0),
        ("privacy.retention_exceeded", "hubspot.email_events", "warn", 1.0),
    ]
    assert all(f.family == "privacy_consent" and f.owner == "privacy-office" for f in findings)


def test_findings_never_carry_an_address_or_its_hash(tiny):
    _, findings, _ = tiny
    text = json.dumps([f.model_dump(mode="json") for f in findings])
    secrets = list(PEOPLE.values()) + ["ghost@x.io"] + [sha(e) for e in PEOPLE.values()] + ["ab" * 32]
    assert not [s for s in secrets if s in text]
    assert "@" not in text
    tokens = [t for f in findings for t in f.evidence.get("example_ids", [])]
    assert tokens and all(t.startswith("h:") and len(t) == 12 for t in tokens)


def test_the_scan_finds_pii_by_name_and_by_content_and_nothing_else(tmp_path):
    wh = Warehouse(tmp_path / "scan.duckdb")
    with wh.connect() as con:
        con.execute("""create table raw.dump as select * from (values
            ('a@b.io', '+44 20 7946 0958', 'Ana', '10.0.0.1', 'call me at ana@b.io', '003000000000000001',
             '3.2.0', '{"email_sha256": 1}', '2001:db8::1', 12, 'h:0123456789', 'Ana'),
            ('c@d.io', '+15550001111', 'Bo', '192.168.1.20', 'no thanks', '00Q000000000000002',
             '1.4.1', null, 'fe80::1:2', 13, 'h:9876543210', 'Search - Brand'),
            (null, null, null, null, 'later', '006000000000000003', '10.2', null, null, 14, null, 'Retail'),
            ('e@f.io', '+15550002222', 'Cy', '8.8.8.8', 'ok', '701000000000000007', '2.0.1', null, '::1', 15,
             null, 'Webinar'))
            as t(contact, Phone, first_name, client_ip, notes, sfid, version, payload, v6, score, token, "Name")""")
        con.execute("create table raw.hashed as select sha256('a@b.io') as email_sha256, 'x' as user_email_hash")
    found = {(c.table_name, c.column_name): c for c in pii_scan.scan_pii(wh, ["raw"], sample_rows=10)}
    rows = {k: (c.name_kind, c.content_kind, c.values_sampled, c.values_matching) for k, c in found.items()}
    assert rows == {
        ("dump", "contact"): (None, "email", 3, 3),
        ("dump", "Phone"): ("phone", "phone", 3, 3),
        ("dump", "first_name"): ("person_name", None, 3, 0),
        ("dump", "client_ip"): ("ip_address", "ip_address", 3, 3),
        ("dump", "notes"): (None, "email", 4, 1),  # one email in free text; the mart's share rule judges it
        ("dump", "v6"): (None, "ip_address", 3, 3),
    }
    assert wh.query_df("select count(*) as n from ledger.pii_columns")["n"].iat[0] == 6
    pii_scan.scan_pii(wh, ["staging"])  # a rescan replaces the ledger, it never appends
    assert wh.query_df("select count(*) as n from ledger.pii_columns")["n"].iat[0] == 0


@pytest.mark.parametrize("column,kind", [("Email", "email"), ("debug_contact_email", "email"), ("e_mail", "email"),
                                         ("MobilePhone", "phone"), ("mobile_phone", "phone"),
                                         ("LastName", "person_name"),
                                         ("mailing_street", "address"), ("ip_address", "ip_address"),
                                         ("hashed_email", None), ("email_sha256", None), ("marketing_email_id", None),
                                         ("email_name", None), ("campaign.name", None), ("HasOptedOutOfEmail", None)])
def test_name_detection(column, kind):
    assert pii_scan.name_kind(column) == kind
