"""What misbehaving automations add on top of the simulated stack: the governance audits' planted problems.

Each defect draws from its own random stream, ``np.random.default_rng([seed, 202, n])``, never from the workspace's
main generator, and only when its switch is on. So a workspace with these switches off has exactly the draws, and
the exports, it had before they existed; and turning one of them on never changes what another one planted.
Which check must catch each defect is named in ``injections.EXPECTED_CHECKS``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .activity import _BASE, _one_send
from .injections import Injections

__all__ = ["extra_sends", "extra_emails", "overbid", "overclaim_revenue", "decision_defects", "tag_vulnerable",
           "snapshot_ids", "SPIKE_CAMPAIGN", "REMINDER_EMAIL", "REMINDER_OF", "OVERBID_CAMPAIGN", "OVERCLAIM_FACTOR",
           "UNREGISTERED_VERSION", "SENSITIVE_AUDIENCE", "stages_out_of_sync"]

SPIKE_CAMPAIGN = 2  # a misfiring trigger mails Product Launch Teaser to everyone, on a day it never sends
REMINDER_EMAIL, REMINDER_OF = 9, 4  # HubSpot email 700009 "Webinar Reminders", attributed to Webinar Invites
OVERBID_CAMPAIGN = 6  # Search - Brand: automated bidding chases conversions at any price
UNREGISTERED_VERSION = "1.5.0-rc1"  # a next-best-offer canary nobody put in the model registry
SENSITIVE_AUDIENCE = "vulnerable_customer"  # mirrors the default policy's oversight_sensitive_segments
_OUTAGE_DAYS = (12, 10)  # the feature-store snapshot writer was down from 12 to 10 days before as_of


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, 202, stream])


def _planned_sends(people: pd.DataFrame, audience: pd.DataFrame, as_of: pd.Timestamp,
                   inj: Injections) -> list[tuple[pd.Timestamp, int, np.ndarray]]:
    """(send time, HubSpot email key, intended recipients) of every extra send, all after the last weekly send."""
    plan = []
    if inj.send_volume_spike:  # yesterday afternoon, to every person who had not opted out before the window
        everyone = people.loc[~people["opted_out_before"], "person"].to_numpy()
        plan.append((as_of.normalize() - pd.Timedelta(hours=8), SPIKE_CAMPAIGN, everyone))
    if inj.frequency_cap_breach:  # a daily reminder on each of the six days after the last weekly invite
        members = audience.loc[audience["campaign"] == REMINDER_OF, "person"].to_numpy()
        invite = as_of - pd.Timedelta(days=7) + pd.Timedelta(hours=9 + REMINDER_OF)
        plan += [(invite + pd.Timedelta(days=k), REMINDER_EMAIL, members) for k in range(1, 7)]
    return sorted(plan, key=lambda p: p[0])


def extra_sends(seed: int, people: pd.DataFrame, audience: pd.DataFrame, events: pd.DataFrame,
                unsubs: pd.DataFrame, as_of: pd.Timestamp, inj: Injections) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events of the extra sends, and unsubscribes updated with the people they drove away.

    Extra sends respect opt-outs exactly as the weekly sends do (the consent-mismatch people, whose opt-out the
    stack ignores, keep receiving), so they plant a frequency or volume problem and no consent problem.
    """
    plan = _planned_sends(people, audience, as_of, inj)
    if not plan:
        return events, unsubs
    rng = _rng(seed, 1)
    # per person: when they opted out (ns since the epoch; NEVER if they did not), and whether the stack ignores it
    never = np.iinfo(np.int64).max
    opted = np.full(len(people), never, dtype=np.int64)
    opted[unsubs["person"].to_numpy()] = unsubs["unsubscribed_at"].dt.as_unit("ns").astype("int64").to_numpy()
    ignored = np.zeros(len(people), dtype=bool)
    ignored[unsubs.loc[unsubs["ignored"], "person"].to_numpy()] = True
    frames, fresh = [events], {}
    for send_at, email, pool in plan:
        still = ignored[pool] | (opted[pool] > send_at.value)
        frame, left = _one_send(rng, pool[still], email, send_at, _BASE)
        left = left[opted[left] == never]
        opted[left] = (send_at + pd.Timedelta(hours=5)).value
        fresh.update(dict.fromkeys(left.tolist(), send_at + pd.Timedelta(hours=5)))
        frames.append(frame)
    new = pd.DataFrame({"person": list(fresh), "unsubscribed_at": pd.to_datetime(list(fresh.values()), utc=True),
                        "ignored": False})
    unsubs = pd.concat([unsubs, new], ignore_index=True).sort_values("person", kind="stable")
    return pd.concat(frames, ignore_index=True), unsubs.reset_index(drop=True)


def extra_emails(as_of_text: str, inj: Injections) -> list[dict]:
    """HubSpot marketing emails that exist only because of an injection (the reminder automation)."""
    if not inj.frequency_cap_breach:
        return []
    return [{"id": str(700_000 + REMINDER_EMAIL), "name": "Webinar Reminders", "state": "PUBLISHED",
             "subject": "Starting soon: your webinar", "salesforceCampaignId": f"701{REMINDER_OF:015d}",
             "updatedAt": as_of_text}]


def overbid(ads: pd.DataFrame, inj: Injections) -> pd.DataFrame:
    """Search - Brand's daily spend ramps from 1x to 6x over the 8 weeks while its conversions grow only 40%.

    A ramp, not a step: each day is close to the same weekday a week before, so the spend anomaly check stays quiet
    and the problem is the one metric balance sees between the two windows (about 2.1x the spend for 1.2x the
    conversions).
    """
    if not inj.paid_overbidding:
        return ads
    out = ads.copy()
    rows = out.index[out["campaign"] == OVERBID_CAMPAIGN]
    order = out.loc[rows, "date"].rank(method="first").to_numpy() - 1
    ramp = order / max(1, len(rows) - 1)
    out.loc[rows, "cost"] = np.round(out.loc[rows, "cost"].to_numpy() * (1 + 5 * ramp), 2)
    out.loc[rows, "conversions"] = np.round(out.loc[rows, "conversions"].to_numpy() * (1 + 0.4 * ramp), 2)
    return out


OVERCLAIM_FACTOR = 1.6  # a conversion value rule "+60%" left on the CRM import


def overclaim_revenue(ads: pd.DataFrame, inj: Injections) -> pd.DataFrame:
    """Google Ads credits one paid campaign with 1.6x the Closed Won amounts the CRM import sent it.

    The campaign is the one with the most conversion value in the report, so the planted gap is never 1.6 x 0 at
    any seed or scale. Draws nothing.
    """
    value = ads.groupby("campaign")["conversions_value"].sum()
    if not inj.revenue_overclaimed or value.max() <= 0:
        return ads
    target = ads["campaign"] == value.idxmax()
    out = ads.copy()
    out.loc[target, "conversions_value"] = np.round(out.loc[target, "conversions_value"] * OVERCLAIM_FACTOR, 2)
    return out


def decision_defects(seed: int, decisions: pd.DataFrame, as_of: pd.Timestamp, inj: Injections) -> pd.DataFrame:
    """An unregistered canary version among last week's offers, and a review queue that fell days behind."""
    out = decisions.copy()
    n, offers = len(out), (out["model_name"] == "next_best_offer").to_numpy()
    decided = pd.to_datetime(out["decided_at"], utc=True)
    if inj.unregistered_model_version:  # a fifth of last week's offers came from the canary
        canary = offers & (decided > as_of - pd.Timedelta(days=7)).to_numpy() & (_rng(seed, 2).random(n) < 0.2)
        out.loc[canary, "model_version"] = UNREGISTERED_VERSION
    if inj.slow_reviews:  # 30% of offer reviews older than a week took 1.5 to 6.5 days
        rng = _rng(seed, 3)
        slow = offers & out["human_reviewed"].astype(bool).to_numpy() & \
            (decided < as_of - pd.Timedelta(days=7)).to_numpy() & (rng.random(n) < 0.3)
        late = decided + pd.to_timedelta(rng.uniform(36, 156, n), "h")
        late = late.where(late < as_of - pd.Timedelta(hours=1), as_of - pd.Timedelta(hours=1))
        out["reviewed_at"] = pd.to_datetime(out["reviewed_at"], utc=True).where(~slow, late)
    return out


def tag_vulnerable(seed: int, audiences: pd.Series, inj: Injections) -> pd.Series:
    """The CDP starts tagging about 4% of people as vulnerable customers; nobody tells the review queue."""
    if not inj.unreviewed_sensitive_segment:
        return audiences
    chosen = _rng(seed, 4).random(len(audiences)) < 0.04
    tagged = [f"{a},{SENSITIVE_AUDIENCE}" if a else SENSITIVE_AUDIENCE for a in audiences]
    return pd.Series(np.where(chosen, tagged, audiences), index=audiences.index, dtype=object)


def stages_out_of_sync(seed: int, stage: np.ndarray, crm_state: np.ndarray, inj: Injections) -> np.ndarray:
    """A HubSpot workflow marks every lead who opened a pricing email as ``customer``: about 10% of the CRM's leads
    (open or disqualified) show as customers in HubSpot, and onboarding journeys start mailing them."""
    if not inj.lifecycle_stage_out_of_sync:
        return stage
    chosen = (_rng(seed, 5).random(len(stage)) < 0.10) & np.char.startswith(crm_state.astype(str), "lead")
    return np.where(chosen, "customer", stage)


def snapshot_ids(decision_ids: pd.Series, decided_at: pd.Series, as_of: pd.Timestamp, inj: Injections) -> list:
    """The feature-store snapshot each decision read; none during the outage when ``missing_input_snapshots``."""
    decided = pd.to_datetime(decided_at, utc=True)
    start, end = (as_of - pd.Timedelta(days=d) for d in _OUTAGE_DAYS)
    lost = ((decided >= start) & (decided < end)).to_numpy() if inj.missing_input_snapshots \
        else np.zeros(len(decided), dtype=bool)
    return [None if gone else f"fs_{hashlib.md5(str(i).encode()).hexdigest()[:16]}"
            for i, gone in zip(decision_ids, lost)]
