"""The deterministic demo workspace: a whole marketing stack's exports, drawn from one seed.

``generate_workspace(folder, seed=7, scale=1.0)`` writes ``exports/<platform>/<entity>.<ext>`` in each platform's
real export format and returns a ``Workspace`` naming every file. Same seed, scale and ``as_of`` give byte-identical
files; ``scale`` multiplies people, and with them sends, events and decisions (3,000 people at scale 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time
from itertools import chain
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from ...contracts.policy import LIFECYCLE_STAGE_REQUIRES

from . import activity, misfires, privacy
from .activity import CAMPAIGNS, OVER_OPTIMISED, SPEND_AFTER_END, SPEND_MISMATCH
from .exports import (hex_ids, hubspot_objects_frame, sf_time, write_csv, write_ndjson, write_ndjson_frames,
                      write_parquet)
from .injections import Injections
from .people import draw_accounts, draw_people, sfdc_id

__all__ = ["Workspace", "generate_workspace", "BASE_PEOPLE"]

BASE_PEOPLE = 3000


@dataclass
class Workspace:
    root: Path
    seed: int
    scale: float
    as_of: pd.Timestamp
    injections: Injections
    files: dict[str, Path] = field(default_factory=dict)  # "<platform>.<entity>" -> file
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def exports(self) -> Path:
        return self.root / "exports"


def generate_workspace(root: Path | str, seed: int = 7, scale: float = 1.0,
                       injections: Injections | None = None, as_of: pd.Timestamp | None = None,
                       progress: Callable[[str], None] | None = None) -> Workspace:
    """Draw the stack and write every export under ``root/exports``. ``as_of`` defaults to this hour (UTC).
    ``progress``, when given, hears one line per platform written (a scale-100 workspace takes minutes)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    inj = injections or Injections()
    as_of = (as_of or pd.Timestamp.now(tz="UTC")).floor("h")
    rng = np.random.default_rng(seed)
    ws = Workspace(Path(root), seed, scale, as_of, inj)
    say = _progress(ws, progress)

    people = draw_people(rng, max(200, round(BASE_PEOPLE * scale)))
    accounts = draw_accounts(rng, max(30, len(people) // 6))
    contact_account = pd.Series(rng.integers(0, len(accounts), len(people)), index=people.index)
    events, audience, unsubs = activity.simulate_email(rng, people, as_of, inj)
    ads = activity.simulate_ads(rng, as_of)
    decisions = activity.simulate_decisions(rng, people, contact_account, accounts["annual_revenue"], as_of, inj)
    # governance-audit problems: their own random streams, applied after every main draw
    events, unsubs = misfires.extra_sends(seed, people, audience, events, unsubs, as_of, inj)
    ads = misfires.overbid(ads, inj)
    decisions = misfires.decision_defects(seed, decisions, as_of, inj)

    erasures, erased = privacy.erasure_requests(seed, people, events, unsubs, as_of, inj)
    expired = privacy.expired_email_events(seed, people, unsubs, as_of, inj, exclude=erased)

    say("people and activity drawn", "")
    crm, opportunities = _salesforce(ws, rng, people, accounts, contact_account, unsubs, audience, ads)
    say("salesforce", "salesforce.")
    _hubspot(ws, rng, people, crm, events, unsubs, expired)
    say("hubspot", "hubspot.")
    ads = ads.assign(conversions_value=activity.conversion_values(ads, opportunities))
    _google_ads(ws, misfires.overclaim_revenue(ads, inj))
    profiles = _cdp(ws, rng, people, crm, unsubs)
    _decisions(ws, decisions, crm, accounts, people)
    _privacy(ws, people, profiles, erasures, erased)
    say("google_ads, cdp, decisions", "")
    return ws


def _progress(ws: Workspace, progress: Callable[[str], None] | None) -> Callable[[str, str], None]:
    """``say(step, prefix)``: one line with the seconds since the last one and the records of files under ``prefix``
    written since (every file when ``prefix`` is empty)."""
    last, told = [time.monotonic()], set()

    def say(step: str, prefix: str) -> None:
        if progress is None:
            return
        fresh = {k: n for k, n in ws.counts.items() if k not in told and k.startswith(prefix)}
        told.update(fresh)
        now = time.monotonic()
        records = f": {sum(fresh.values()):,} records" if fresh else ""
        progress(f"{step}{records} ({now - last[0]:.0f} s)")
        last[0] = now

    return say


def _record(ws: Workspace, key: str, path: Path, rows: int) -> None:
    ws.files[key], ws.counts[key] = path, rows


def _modstamps(rng: np.random.Generator, n: int, as_of: pd.Timestamp, max_days: int = 20) -> pd.Series:
    return pd.Series(as_of - pd.to_timedelta(rng.integers(10, max_days * 24 * 60, n), "min"))


def _salesforce(ws: Workspace, rng, people, accounts, contact_account, unsubs, audience,
                ads) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Writes the CRM objects. Returns one row per person with their CRM id, as the other platforms know it, and the
    opportunities as exported (Google Ads' conversion values come from the deals won)."""
    as_of, out = ws.as_of, ws.exports / "salesforce"
    acc = pd.DataFrame({
        "Id": sfdc_id("001", accounts["account"]), "Name": accounts["name"], "Industry": accounts["industry"],
        "AnnualRevenue": accounts["annual_revenue"], "BillingCountry": accounts["country"],
        "CreatedDate": sf_time(as_of - pd.to_timedelta(rng.integers(200, 1500, len(accounts)), "D")),
        "SystemModstamp": sf_time(_modstamps(rng, len(accounts), as_of, 30)),
    })
    _record(ws, "salesforce.accounts", write_csv(acc, out / "accounts.csv"), len(acc))

    opted_out = people["opted_out_before"].to_numpy().copy()
    synced = unsubs[~unsubs["ignored"]]["person"].to_numpy()
    opted_out[synced] = True  # the CRM sync carries normal unsubscribes over; the injected ones it misses
    created = sf_time(as_of - pd.to_timedelta(people["created_days_ago"], "D"))
    modstamp = sf_time(_modstamps(rng, len(people), as_of))
    common = {"FirstName": people["first_name"], "LastName": people["last_name"], "Email": people["email"],
              "Age_Band__c": people["age_band"], "Gender__c": people["gender"], "Region__c": people["region"],
              "HasOptedOutOfEmail": opted_out, "CreatedDate": created, "SystemModstamp": modstamp}
    crm_ids = pd.Series([None] * len(people), dtype=object)
    is_contact = people["is_contact"].to_numpy()
    crm_ids[is_contact] = sfdc_id("003", people.index[is_contact]).to_numpy()
    crm_ids[~is_contact] = sfdc_id("00Q", people.index[~is_contact]).to_numpy()
    base = pd.DataFrame({"Id": crm_ids, **common})
    contacts = base[is_contact].assign(
        AccountId=sfdc_id("001", contact_account[is_contact]).to_numpy(),
        Phone=people["phone"][is_contact], MailingCountry=people["country"][is_contact])
    _record(ws, "salesforce.contacts", write_csv(contacts, out / "contacts.csv"), len(contacts))
    leads = base[~is_contact].assign(
        Company=rng.choice(accounts["name"], int((~is_contact).sum())),
        Status=rng.choice(["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"],
                          int((~is_contact).sum()), p=[0.5, 0.35, 0.15]),
        LeadSource=rng.choice(["Web", "Webinar", "Partner", "Paid Search", "Event"], int((~is_contact).sum())),
        IsConverted=False)
    if ws.injections.schema_drift:
        leads = leads.rename(columns={"LeadSource": "Lead_Source__c"})
    _record(ws, "salesforce.leads", write_csv(leads, out / "leads.csv"), len(leads))

    camps = _campaigns(ws, ads)
    _record(ws, "salesforce.campaigns", write_csv(camps, out / "campaigns.csv"), len(camps))
    members = audience.assign(Id=sfdc_id("00v", np.arange(len(audience))).to_numpy())
    member_ids = crm_ids.to_numpy()[members["person"]]
    members = pd.DataFrame({
        "Id": members["Id"], "CampaignId": sfdc_id("701", members["campaign"]).to_numpy(),
        "ContactId": np.where(is_contact[members["person"]], member_ids, None),
        "LeadId": np.where(~is_contact[members["person"]], member_ids, None),
        "Status": "Sent", "CreatedDate": sf_time(pd.Series([as_of - pd.Timedelta(days=7 * activity.WEEKS + 1)]
                                                           * len(members))),
        "SystemModstamp": sf_time(_modstamps(rng, len(members), as_of, 7)),
    })
    _record(ws, "salesforce.campaign_members", write_csv(members, out / "campaign_members.csv"), len(members))

    opps = _opportunities(rng, accounts, as_of)
    _record(ws, "salesforce.opportunities", write_csv(opps, out / "opportunities.csv"), len(opps))
    return pd.DataFrame({"person": people["person"], "crm_id": crm_ids, "is_contact": is_contact,
                         "opted_out": opted_out, "crm_state": _crm_states(contacts, leads, opps, is_contact)}), opps


def _crm_states(contacts: pd.DataFrame, leads: pd.DataFrame, opps: pd.DataFrame, is_contact: np.ndarray) -> np.ndarray:
    """Each person's CRM state as gov_reconciliation__stages derives it, so HubSpot's stages can agree with it."""
    won = set(opps.loc[opps["StageName"] == "Closed Won", "AccountId"])
    open_ = set(opps.loc[~opps["StageName"].str.startswith("Closed"), "AccountId"])
    states = np.empty(len(is_contact), dtype=object)
    states[is_contact] = ["customer" if a in won else "opportunity" if a in open_ else "contact"
                          for a in contacts["AccountId"]]
    states[~is_contact] = np.where(leads["Status"].str.startswith("Closed").to_numpy(), "lead_closed", "lead_open")
    return states


def _campaigns(ws: Workspace, ads: pd.DataFrame) -> pd.DataFrame:
    spend = ads.groupby("campaign")["cost"].sum()
    rows = []
    for c in CAMPAIGNS:
        cost = round(float(spend.get(c.key, 0.0)), 2) if c.channel == "paid" else 1500.0 + 250 * c.key
        if c.key == SPEND_MISMATCH and ws.injections.spend_mismatch:
            cost = round(cost * 0.70, 2)  # finance booked only part of what Google Ads charged
        # marketing ended the campaign in the CRM ten days ago; Google Ads' automated bidding never stopped, and
        # finance booked its invoice in full, so only the dates disagree
        ended = c.key == SPEND_AFTER_END and ws.injections.spend_after_crm_end
        end = ws.as_of - pd.Timedelta(days=10) if ended else ws.as_of + pd.Timedelta(days=30)
        rows.append({
            "Id": f"701{c.key:015d}", "Name": c.name, "Type": "Email" if c.channel == "email" else "Advertisement",
            "Status": "Completed" if ended else "In Progress", "IsActive": not ended,
            "StartDate": (ws.as_of - pd.Timedelta(days=7 * activity.WEEKS + 1)).date().isoformat(),
            "EndDate": end.date().isoformat(),
            "BudgetedCost": round(cost * 1.1 + 1000, 2), "ActualCost": cost,
            "Google_Ads_Campaign_Id__c": f"{9_000_000_000 + c.key}" if c.channel == "paid" else None,
            "SystemModstamp": sf_time(pd.Series([ws.as_of - pd.Timedelta(hours=2 + c.key)])).iat[0],
        })
    return pd.DataFrame(rows)


def _opportunities(rng, accounts: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    per_account = rng.integers(0, 3, len(accounts))
    account = np.repeat(accounts["account"].to_numpy(), per_account)
    n = len(account)
    return pd.DataFrame({
        "Id": sfdc_id("006", np.arange(n)), "AccountId": sfdc_id("001", account), "Name": [f"Deal {i}" for i in range(n)],
        "StageName": rng.choice(["Prospecting", "Qualification", "Proposal", "Closed Won", "Closed Lost"], n),
        "Amount": np.round(rng.lognormal(9.5, 0.8, n), 2),
        "CloseDate": [(as_of + pd.Timedelta(days=int(d))).date().isoformat() for d in rng.integers(-60, 90, n)],
        "CampaignId": [f"701{int(k):015d}" for k in rng.choice([c.key for c in CAMPAIGNS], n)],
        "CreatedDate": sf_time(as_of - pd.to_timedelta(rng.integers(30, 400, n), "D")),
        "SystemModstamp": sf_time(_modstamps(rng, n, as_of)),
    })


def _hubspot(ws: Workspace, rng, people, crm, events, unsubs, expired: pd.DataFrame) -> None:
    out, as_of = ws.exports / "hubspot", ws.as_of
    hs_id = (people["person"] + 51_000).astype(str)
    stage = rng.choice(["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "customer"], len(people))
    stage = _stages_the_crm_justifies(stage, crm["crm_state"].to_numpy())
    stage = misfires.stages_out_of_sync(ws.seed, stage, crm["crm_state"].to_numpy(), ws.injections)
    contacts = pd.DataFrame({
        "hs_object_id": hs_id, "email": people["email"], "firstname": people["first_name"],
        "lastname": people["last_name"], "lifecyclestage": stage,
        "salesforcecontactid": crm["crm_id"].where(crm["is_contact"]),
        "salesforceleadid": crm["crm_id"].where(~crm["is_contact"]),
        "createdate": as_of - pd.to_timedelta(people["created_days_ago"], "D"),
        "lastmodifieddate": _modstamps(rng, len(people), as_of),
    })
    objects = hubspot_objects_frame(contacts, "hs_object_id", "createdate", "lastmodifieddate")
    path = out / "contacts.jsonl"
    _record(ws, "hubspot.contacts", path, write_ndjson_frames([objects], path))

    emails = [{"id": str(700_000 + c.key), "name": c.name, "state": "PUBLISHED", "subject": f"{c.name} - this week",
               "salesforceCampaignId": f"701{c.key:015d}", "updatedAt": sf_time(pd.Series([as_of])).iat[0]}
              for c in CAMPAIGNS if c.channel == "email"]
    emails += misfires.extra_emails(sf_time(pd.Series([as_of])).iat[0], ws.injections)
    emails += privacy.retired_emails(sf_time(pd.Series([as_of])).iat[0], ws.injections)
    _record(ws, "hubspot.marketing_emails", write_ndjson(emails, out / "marketing_emails.jsonl"), len(emails))

    ev = events.sort_values(["created", "person", "type"], kind="stable").reset_index(drop=True)
    path = out / "email_events.jsonl"
    live = _email_event_records(ev, people["email"].to_numpy(), ws.seed)
    expired_records = pd.DataFrame(privacy.hubspot_event_records(expired, people, len(ev), ws.seed))  # after: live
    _record(ws, "hubspot.email_events", path,  # ids stay put
            write_ndjson_frames(chain(live, [expired_records]), path, omit_null=("emailCampaignId",)))

    unsub_at = unsubs.set_index("person")["unsubscribed_at"]
    status = np.where(people["opted_out_before"], "UNSUBSCRIBED", "SUBSCRIBED").astype(object)
    status[unsub_at.index.to_numpy()] = "UNSUBSCRIBED"
    changed = pd.Series(as_of - pd.to_timedelta(people["created_days_ago"], "D"))
    changed.loc[unsub_at.index] = unsub_at.to_numpy()
    subs = pd.DataFrame({"recipient": people["email"], "subscriptionId": "marketing_information",
                         "status": status, "legalBasis": "CONSENT_WITH_NOTICE", "sourceOfStatus": "SUBSCRIPTION_STATUS",
                         "timestamp": sf_time(changed)})
    path = out / "subscriptions.jsonl"
    _record(ws, "hubspot.subscriptions", path, write_ndjson_frames([subs], path))


EVENT_CHUNK = 500_000  # email events are rendered and written this many at a time: memory stays flat at any scale


def _email_event_records(ev: pd.DataFrame, emails: np.ndarray, seed: int) -> Iterator[pd.DataFrame]:
    """The Email Events API records of ``ev`` (sorted), a chunk at a time; preference-centre changes are not tied
    to an email, so they carry no ``emailCampaignId``."""
    for start in range(0, len(ev), EVENT_CHUNK):
        part = ev.iloc[start:start + EVENT_CHUNK]
        campaign = part["campaign"].to_numpy()
        yield pd.DataFrame({
            "id": hex_ids(start, len(part), f"-{seed:04x}"), "type": part["type"].to_numpy(),
            "recipient": emails[part["person"].to_numpy()],
            "emailCampaignId": pd.Series(700_000 + campaign, dtype="Int64").where(campaign > 0),
            "created": (pd.to_datetime(part["created"], utc=True).astype("int64") // 10**6).to_numpy(),
            "portalId": 4_210_042,
        })


def _stages_the_crm_justifies(stage: np.ndarray, crm_state: np.ndarray) -> np.ndarray:
    """HubSpot's lifecycle sync keeps the stage within what the CRM knows: a drawn stage the person's CRM state does
    not justify (``LIFECYCLE_STAGE_REQUIRES``) falls back to ``lead``, a stage every state allows."""
    justified = np.array([s not in LIFECYCLE_STAGE_REQUIRES or c in LIFECYCLE_STAGE_REQUIRES[s]
                          for s, c in zip(stage, crm_state)], dtype=bool)
    return np.where(justified, stage, "lead")


def _google_ads(ws: Workspace, ads: pd.DataFrame) -> None:
    names = {c.key: c.name for c in CAMPAIGNS}
    report = pd.DataFrame({
        "campaign.id": 9_000_000_000 + ads["campaign"], "campaign.name": ads["campaign"].map(names),
        "campaign.status": "ENABLED", "segments.date": [d.isoformat() for d in ads["date"]],
        "metrics.cost_micros": (ads["cost"] * 1_000_000).round().astype("int64"),
        "metrics.impressions": ads["impressions"], "metrics.clicks": ads["clicks"],
        "metrics.conversions": ads["conversions"], "metrics.conversions_value": ads["conversions_value"],
    })
    _record(ws, "google_ads.campaign_stats",
            write_csv(report, ws.exports / "google_ads" / "campaign_stats.csv"), len(report))


def _cdp(ws: Workspace, rng, people, crm, unsubs) -> pd.DataFrame:
    lag = pd.Timedelta(days=5) if ws.injections.stale_integration else pd.Timedelta(0)
    consent_email = ~crm["opted_out"].to_numpy()
    profiles = pd.DataFrame({
        "profile_id": [f"prof_{i:08x}" for i in people["person"]], "user_id": crm["crm_id"],
        "email": people["email"], "age_band": people["age_band"], "gender": people["gender"],
        "region": people["region"], "consent_email": consent_email,
        "consent_ads": rng.random(len(people)) < 0.8,
        "audiences": rng.choice(["high_intent", "newsletter", "churn_risk", "high_intent,newsletter", ""], len(people)),
        "first_seen_at": ws.as_of - pd.to_timedelta(people["created_days_ago"], "D"),
        "updated_at": _modstamps(rng, len(people), ws.as_of - lag, 2),
    })
    profiles["audiences"] = misfires.tag_vulnerable(ws.seed, profiles["audiences"], ws.injections)
    _record(ws, "cdp.profiles", write_parquet(profiles, ws.exports / "cdp" / "profiles.parquet"), len(profiles))
    return profiles


def _decisions(ws: Workspace, decisions: pd.DataFrame, crm: pd.DataFrame, accounts: pd.DataFrame,
               people: pd.DataFrame) -> None:
    n = len(decisions)
    log = pd.DataFrame({
        "decision_id": [f"dec_{i:09d}" for i in range(n)], "decided_at": decisions["decided_at"],
        "model_name": decisions["model_name"], "model_version": decisions["model_version"],
        "decision_type": decisions["decision_type"], "subject_id": crm["crm_id"].to_numpy()[decisions["person"]],
        "account_id": [None if pd.isna(a) else f"001{int(a):015d}" for a in decisions["account"]],
        "campaign_id": [None if pd.isna(c) else f"701{int(c):015d}" for c in decisions["campaign"]],
        "score": decisions["score"].astype(float), "decision": decisions["decision"],
        "confidence": decisions["confidence"].astype(float), "reason_codes": decisions["reason_codes"],
        "human_reviewed": decisions["human_reviewed"].astype(bool), "reviewed_at": decisions["reviewed_at"],
        "executed": decisions["executed"].astype(bool),
    })
    log["input_snapshot_id"] = misfires.snapshot_ids(log["decision_id"], log["decided_at"], ws.as_of, ws.injections)
    if ws.injections.pii_in_decision_log:  # a debugging aid someone shipped: the subject's address on every row
        log["debug_contact_email"] = people["email"].to_numpy()[decisions["person"].to_numpy(dtype=int)]
    _record(ws, "decisions.ai_decisions",
            write_parquet(log, ws.exports / "decisions" / "ai_decisions.parquet"), len(log))


def _privacy(ws: Workspace, people: pd.DataFrame, profiles: pd.DataFrame, erasures: pd.DataFrame,
             erased: np.ndarray) -> None:
    uploads = privacy.audience_uploads(ws.seed, people, profiles, ws.as_of, ws.injections, exclude=erased)
    _record(ws, "google_ads.audience_uploads",
            write_csv(uploads, ws.exports / "google_ads" / "audience_uploads.csv"), len(uploads))
    _record(ws, "cdp.erasure_requests",
            write_parquet(erasures, ws.exports / "cdp" / "erasure_requests.parquet"), len(erasures))
