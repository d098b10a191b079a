"""Test helper: the records of a hand-written cross-system workspace (CRM, HubSpot, Marketo, CDP), landed through
the real contracts and landing, deletions included, then built with dbt and judged by a slice of the policy.

Every builder takes only what a test varies; everything else is a valid default, so a planted defect is the one
thing that differs between two records.
"""

from __future__ import annotations

import pandas as pd

from privacy_workspace import land_frames, ts
from steward.contracts.finding import Finding
from steward.contracts.governance import evaluate
from steward.contracts.policy import load_policy
from steward.contracts.registry import contract_for
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse.landing import land_batch
from steward.integrations.sources._records import to_batch
from steward.integrations.sources.marketo import MARKETO_STREAMS
from steward.integrations.warehouse.sample_queries import governance_sample_query
from steward.integrations.sources.streams import EXPORT_STREAMS
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.validation import check_batch

__all__ = ["AS_OF", "contact_id", "lead_id", "sf_contact", "sf_lead", "hs_contact", "hs_subscription", "cdp_profile",
           "mkto_lead", "mkto_activity", "mkto_campaign", "delete", "govern", "mart"]

AS_OF = ts("2026-03-01 12:00")
POLICY = load_policy()
STREAMS = {s.key: s for s in [*EXPORT_STREAMS, *MARKETO_STREAMS]}


def contact_id(n: int) -> str:
    return f"003{n:015d}"


def lead_id(n: int) -> str:
    return f"00Q{n:015d}"


def _sf_person(sf_id: str, email: str, opted_out: bool = False, modstamp: str = "2026-02-01") -> dict:
    return {"Id": sf_id, "FirstName": "X", "LastName": "Tester", "Email": email, "Age_Band__c": "25-34",
            "Gender__c": "female", "Region__c": "EMEA", "HasOptedOutOfEmail": opted_out,
            "CreatedDate": ts("2025-01-01"), "SystemModstamp": ts(modstamp)}


def sf_contact(n: int, email: str, account: str | None = None, **kw) -> dict:
    return _sf_person(contact_id(n), email, **kw) | {"AccountId": account, "Phone": None, "MailingCountry": "GB"}


def sf_lead(n: int, email: str, status: str) -> dict:
    return _sf_person(lead_id(n), email) | {"Company": "Acme", "Status": status, "LeadSource": "Web",
                                       "IsConverted": False}


def hs_contact(hs_id: int, email: str, stage: str, contact: str | None = None, lead: str | None = None) -> dict:
    return {"id": str(hs_id), "email": email, "firstname": "X", "lastname": "Y", "lifecyclestage": stage,
            "salesforcecontactid": contact, "salesforceleadid": lead, "createdate": ts("2025-01-01"),
            "lastmodifieddate": ts("2026-01-01"), "createdAt": ts("2025-01-01"), "updatedAt": ts("2026-01-01"),
            "archived": False}


def hs_subscription(email: str, status: str, at: str) -> dict:
    return {"recipient": email, "subscriptionId": "marketing_information", "status": status, "legalBasis": None,
            "sourceOfStatus": None, "timestamp": ts(at)}


def cdp_profile(pid: str, user_id: str | None, email: str, consent: bool = True) -> dict:
    return {"profile_id": pid, "user_id": user_id, "email": email, "age_band": None, "gender": None, "region": None,
            "consent_email": consent, "consent_ads": True, "audiences": "", "first_seen_at": None,
            "updated_at": ts("2026-02-01")}


def mkto_lead(lead: int, email: str | None, unsubscribed: bool = False, contact: str | None = None,
              lead_ref: str | None = None, updated: str = "2026-02-01") -> dict:
    return {"id": lead, "email": email, "firstName": "X", "lastName": "Y", "unsubscribed": unsubscribed,
            "emailInvalid": False, "sfdcContactId": contact, "sfdcLeadId": lead_ref, "createdAt": ts("2025-01-01"),
            "updatedAt": ts(updated)}


MARKETO_TYPES = {"send": 6, "delivered": 7, "bounce": 8, "unsubscribe": 9, "open": 10, "click": 11}


def mkto_activity(activity: int, lead: int, kind: str, at: str, campaign: int | None = 1001) -> dict:
    return {"id": activity, "marketoGUID": str(activity), "leadId": lead, "activityDate": ts(at),
            "activityTypeId": MARKETO_TYPES[kind], "primaryAttributeValueId": 7001,
            "primaryAttributeValue": "Newsletter", "campaignId": campaign, "attributes": "[]"}


def mkto_campaign(campaign: int) -> dict:
    return {"id": campaign, "name": f"Campaign {campaign}", "description": None, "createdAt": ts("2025-01-01"),
            "updatedAt": ts("2025-06-01"), "status": "Active", "type": "trigger", "isSystem": False,
            "isActive": True, "isRequestable": True, "isCommunicationLimitEnabled": False,
            "qualificationRuleType": "once", "workspace": "Default", "smartListId": campaign, "flowId": campaign,
            "computedUrl": None}


def delete(wh: Warehouse, key: str, ids: list) -> None:
    """The platform reports ``ids`` of ``key`` ("<platform>.<entity>") deleted, as an incremental pull lands it."""
    stream = STREAMS[key]
    batch = to_batch(stream.platform, stream, [], f"<test deletions of {key}>", None, [str(i) for i in ids])
    batch.frame = pd.DataFrame(columns=contract_for(key).columns())
    verdict = check_batch(batch)
    land_batch(wh, batch, verdict.valid, verdict.quarantined, verdict.drift, verdict.contract.version, "t")


def govern(root, frames: dict[str, pd.DataFrame], deletions: dict[str, list], checks: set[str],
           as_of: pd.Timestamp = AS_OF) -> tuple[Warehouse, list[Finding]]:
    """Land, delete, build every mart ``checks`` read (and what they need), and judge them with those checks only."""
    policy = POLICY.model_copy(update={"checks": {k: v for k, v in POLICY.checks.items() if k in checks}})
    assert set(policy.checks) == checks, checks - set(policy.checks)
    wh = Warehouse(root / "w.duckdb")
    land_frames(wh, frames)
    for key, ids in deletions.items():
        delete(wh, key, ids)
    marts = sorted({rule.mart for rule in policy.checks.values()})
    outcome = dbt_build.build(wh.path, root / "dbt", {**policy.dbt_vars(), "as_of": as_of.isoformat()},
                              select=[f"+{m}" for m in marts])
    assert not outcome.skipped and not outcome.test_failures, (outcome.skipped, outcome.test_failures)
    with wh.pinned():  # one open of the file for every mart the checks read
        return wh, evaluate(policy, lambda m: wh.query_df(f"select * from governance.{m}"), "t", governance_sample_query)


def mart(wh: Warehouse, name: str, key: str | list[str]) -> pd.DataFrame:
    return wh.query_df(f"select * from governance.{name}").set_index(key)
