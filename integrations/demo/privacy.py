"""The privacy side of the demo workspace: Customer Match uploads, erasure requests, and the problems planted there.

Every number here is drawn from its own random streams (``[seed, 101]``, ``[seed, 102]``, ``[seed, 103]``), never
from the generator's main one: adding these exports left every earlier export byte-identical for the same seed, and
one privacy switch never shifts what another one draws. With a switch off, its export is still written, clean.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np
import pandas as pd

from .exports import sf_time
from .injections import Injections

__all__ = ["sha256_email", "USER_LISTS", "UPLOAD_WEEKS", "RETIRED_EMAIL_ID", "audience_uploads", "erasure_requests",
           "expired_email_events", "retired_emails", "hubspot_event_records"]

# Google Ads user list id -> (CDP audience it is built from, list name)
USER_LISTS: dict[int, tuple[str, str]] = {
    9_100_000_001: ("high_intent", "High intent - Customer Match"),
    9_100_000_002: ("churn_risk", "Churn risk - Customer Match"),
}
UPLOAD_WEEKS = 4  # one upload job per list per week
RETIRED_EMAIL_ID = 699_001  # a HubSpot marketing email retired long ago; its events outlive the retention period


def sha256_email(emails: Iterable[str]) -> list[str]:
    """Google Customer Match's identifier: hex SHA-256 of the trimmed, lower-cased address."""
    return [hashlib.sha256(str(e).strip().lower().encode("utf-8")).hexdigest() for e in emails]


def audience_uploads(seed: int, people: pd.DataFrame, profiles: pd.DataFrame, as_of: pd.Timestamp,
                     inj: Injections, exclude: np.ndarray) -> pd.DataFrame:
    """One row per person per Customer Match upload job, as the uploader logs what it sent to Google Ads.

    Each list takes the CDP audience it is named after, but only people with ads consent; the injection adds people
    whose profile says ``consent_ads = false`` to the newest high-intent job. ``exclude`` (people who asked to be
    erased) are never uploaded, so an erasure finding is about the CRM and the ESP, not this list.
    """
    rng = np.random.default_rng([seed, 101])
    consent = profiles["consent_ads"].to_numpy(dtype=bool)
    keep = ~np.isin(np.arange(len(people)), exclude)
    segments = profiles["audiences"].fillna("").str.split(",")
    parts = []
    for list_id, (segment, _) in USER_LISTS.items():
        members = np.flatnonzero(segments.apply(lambda s, seg=segment: seg in s).to_numpy() & consent & keep)
        parts.append(pd.DataFrame({"list": list_id, "person": members,
                                   "week": rng.integers(0, UPLOAD_WEEKS, len(members))}))
    if inj.ads_upload_without_consent:
        pool = np.flatnonzero(~consent & keep)
        chosen = rng.choice(pool, min(max(5, round(len(people) / 150)), len(pool)), replace=False)
        parts.append(pd.DataFrame({"list": next(iter(USER_LISTS)), "person": np.sort(chosen),
                                   "week": UPLOAD_WEEKS - 1}))
    rows = pd.concat(parts, ignore_index=True)
    list_no = rows["list"] - 9_100_000_000
    uploaded = as_of.normalize() - pd.to_timedelta(7 * (UPLOAD_WEEKS - rows["week"]), "D") + pd.Timedelta(hours=3)
    out = pd.DataFrame({
        "user_list.id": rows["list"].astype(str), "user_list.name": rows["list"].map(lambda k: USER_LISTS[k][1]),
        "offline_user_data_job.id": (5_000_000_000 + 100 * list_no + rows["week"]).astype(str),
        "upload_time": sf_time(uploaded),
        "user_identifiers.hashed_email": sha256_email(people["email"].to_numpy()[rows["person"]]),
    })
    return out.sort_values(["offline_user_data_job.id", "user_identifiers.hashed_email"]).reset_index(drop=True)


def erasure_requests(seed: int, people: pd.DataFrame, events: pd.DataFrame, unsubs: pd.DataFrame,
                     as_of: pd.Timestamp, inj: Injections) -> tuple[pd.DataFrame, np.ndarray]:
    """The privacy desk's log of erasure requests (hashed address only), and the people the injection leaves in place.

    Honoured requests belong to former customers who are in no export any more (their index is past the people
    table). The injection marks requests of current people completed about a month ago, although every system still
    holds them and the weekly sends still reach them.
    """
    rng = np.random.default_rng([seed, 102])
    n, m = len(people), max(5, round(len(people) / 100))
    former = [f"former.customer{n + i}@example.org" for i in range(m)]
    requested = as_of - pd.to_timedelta(rng.integers(2 * 24, 120 * 24, m), "h")
    frames = [pd.DataFrame({"email": former, "requested_at": requested,
                            "completed_at": requested + pd.to_timedelta(rng.integers(1, 10, m), "D")})]
    erased = np.array([], dtype=int)
    if inj.erasure_not_propagated:
        recent = events.loc[(events["type"] == "SENT") & (events["created"] > as_of - pd.Timedelta(days=7)), "person"]
        pool = np.setdiff1d(np.unique(recent), unsubs["person"].to_numpy())
        pool = pool[~people["opted_out_before"].to_numpy()[pool]]
        erased = np.sort(rng.choice(pool, min(max(3, round(n / 300)), len(pool)), replace=False))
        asked = as_of - pd.to_timedelta(rng.integers(26 * 24, 34 * 24, len(erased)), "h")
        frames.append(pd.DataFrame({"email": people["email"].to_numpy()[erased], "requested_at": asked,
                                    "completed_at": asked + pd.Timedelta(days=2)}))
    req = pd.concat(frames, ignore_index=True)
    req["completed_at"] = req["completed_at"].where(req["completed_at"] < as_of)  # still being worked on
    req = req.sort_values(["requested_at", "email"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame({
        "request_id": [f"dsr-{i + 1:06d}" for i in range(len(req))], "request_type": "erasure",
        "email_sha256": sha256_email(req["email"]),
        "status": np.where(req["completed_at"].notna(), "completed", "in_progress"),
        "requested_at": req["requested_at"], "completed_at": req["completed_at"],
        "updated_at": req["completed_at"].fillna(req["requested_at"]), "source": "privacy_portal",
    })
    return out, erased


def retired_emails(as_of_text: str, inj: Injections) -> list[dict]:
    """The retired email the expired events belong to, archived in HubSpot: the events reference a real email (an
    event of an email HubSpot does not hold is a broken reference, another defect), only too old to keep."""
    if not inj.expired_email_events:
        return []
    return [{"id": str(RETIRED_EMAIL_ID), "name": "Spring Newsletter (retired)", "state": "ARCHIVED",
             "subject": "Spring news", "salesforceCampaignId": None, "updatedAt": as_of_text}]


def expired_email_events(seed: int, people: pd.DataFrame, unsubs: pd.DataFrame, as_of: pd.Timestamp,
                         inj: Injections, exclude: np.ndarray) -> pd.DataFrame:
    """Sends of a long-retired email, 740+ days old, that nobody deleted: empty unless the injection is on.

    Recipients never opted out and were customers already then, so the only thing wrong with these events is age.
    """
    cols = ["person", "type", "created"]
    if not inj.expired_email_events:
        return pd.DataFrame(columns=cols)
    rng = np.random.default_rng([seed, 103])
    age = people["created_days_ago"].to_numpy()
    ok = ~people["opted_out_before"].to_numpy() & (age >= 800)
    ok[unsubs["person"].to_numpy()] = False
    ok[exclude] = False
    pool = np.flatnonzero(ok)
    chosen = np.sort(rng.choice(pool, min(max(5, round(len(people) / 100)), len(pool)), replace=False))
    sent = as_of - pd.to_timedelta(rng.integers(740, age[chosen] - 5), "D") + pd.Timedelta(hours=10)
    parts = [pd.DataFrame({"person": chosen, "type": kind, "created": sent + pd.Timedelta(minutes=delay)})
             for kind, delay in (("SENT", 0), ("DELIVERED", 2), ("OPEN", 60))]
    return pd.concat(parts, ignore_index=True).sort_values(["created", "person"], kind="stable")[cols]


def hubspot_event_records(expired: pd.DataFrame, people: pd.DataFrame, start: int, seed: int) -> list[dict]:
    """The expired events as Email Events API records, numbered after the live ones so their ids do not move."""
    frame = pd.DataFrame({
        "id": [f"{start + i:012x}-{seed:04x}" for i in range(len(expired))], "type": expired["type"].to_numpy(),
        "recipient": people["email"].to_numpy()[expired["person"].to_numpy(dtype=int)],
        "emailCampaignId": RETIRED_EMAIL_ID,
        "created": pd.to_datetime(expired["created"], utc=True).dt.as_unit("ms").astype("int64").to_numpy(),
        "portalId": 4_210_042,
    })
    return frame.to_dict("records")
