"""What the automations did over the observed window: email sends and reactions, ad spend, AI decisions.

Rates are chosen so that the clean workspace stays well inside the default policy's thresholds at any scale, and
each injection moves exactly one measure far outside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .injections import Injections

__all__ = ["Campaign", "CAMPAIGNS", "simulate_email", "simulate_ads", "conversion_values", "simulate_decisions",
           "WEEKS", "OVERSIGHT_MIN_CONFIDENCE", "HIGH_VALUE_REVENUE"]

WEEKS = 8
# These mirror contracts/policy.yaml's defaults so that the clean workspace reviews what policy says must be reviewed.
OVERSIGHT_MIN_CONFIDENCE = 0.6
HIGH_VALUE_REVENUE = 1_000_000


@dataclass(frozen=True)
class Campaign:
    key: int
    name: str
    channel: str  # "email" or "paid"
    daily_budget: float = 0.0


CAMPAIGNS = [
    Campaign(1, "Spring Nurture", "email"),
    Campaign(2, "Product Launch Teaser", "email"),
    Campaign(3, "Win-back Offers", "email"),  # (e) over-optimised when injected
    Campaign(4, "Webinar Invites", "email"),
    Campaign(5, "Monthly Newsletter", "email"),
    Campaign(6, "Search - Brand", "paid", 420.0),
    Campaign(7, "Search - Competitor", "paid", 650.0),  # (c) spend mismatch when injected
    Campaign(8, "Display - Retargeting", "paid", 300.0),  # (c3) keeps spending after its CRM end when injected
]
OVER_OPTIMISED = 3
SPEND_MISMATCH = 7
SPEND_AFTER_END = 8

_BASE = {"deliver": 0.97, "open": 0.25, "click": 0.025, "unsub": 0.004, "complaint": 0.001}
_OVER = {"deliver": 0.97, "open": 0.30, "click": 0.045, "unsub": 0.020, "complaint": 0.005}  # 5x the guardrail


def simulate_email(rng: np.random.Generator, people: pd.DataFrame, as_of: pd.Timestamp,
                   inj: Injections) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Weekly sends of every email campaign and the events they caused.

    Returns (events, audiences, unsubscribes): events has one row per HubSpot email event, audiences one row per
    campaign member, unsubscribes one row per person with the time they opted out during the window. People who
    unsubscribe leave every later send, except the consent-mismatch people when that injection is on.
    """
    n = len(people)
    eligible = ~people["opted_out_before"].to_numpy()
    unsub_at = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    ignored_optout = np.zeros(n, dtype=bool)
    if inj.consent_mismatch:
        k = max(5, round(n / 120))
        chosen = rng.choice(np.flatnonzero(eligible), k, replace=False)
        ignored_optout[chosen] = True
        # they opted out in HubSpot's preference centre five to six weeks ago
        opted = as_of.tz_convert(None) - pd.Timedelta(days=40) + pd.to_timedelta(rng.integers(0, 96, k), "h")
        unsub_at[chosen] = opted.to_numpy()

    audiences = []
    for c in (c for c in CAMPAIGNS if c.channel == "email"):
        members = np.flatnonzero(eligible & (rng.random(n) < 0.5))
        members = np.union1d(members, np.flatnonzero(ignored_optout)) if c.key in (1, 2) else members
        audiences.append(pd.DataFrame({"campaign": c.key, "person": members}))
    audience = pd.concat(audiences, ignore_index=True)

    frames = []
    for week in range(WEEKS):
        for c_key, group in audience.groupby("campaign", sort=True):
            send_at = as_of - pd.Timedelta(days=7 * (WEEKS - week)) + pd.Timedelta(hours=9 + c_key)
            people_idx = group["person"].to_numpy()
            still = np.isnat(unsub_at[people_idx]) | (unsub_at[people_idx] > send_at.to_datetime64())
            still |= ignored_optout[people_idx]
            recipients = people_idx[still]
            rates = _OVER if (inj.over_optimised_campaign and c_key == OVER_OPTIMISED and week >= WEEKS // 2) else _BASE
            frame, new_unsubs = _one_send(rng, recipients, c_key, send_at, rates)
            fresh = new_unsubs[np.isnat(unsub_at[new_unsubs])]
            unsub_at[fresh] = (send_at + pd.Timedelta(hours=5)).to_datetime64()
            frames.append(frame)
    events = pd.concat(frames, ignore_index=True)
    unsubs = pd.DataFrame({"person": np.flatnonzero(~np.isnat(unsub_at))})
    unsubs["unsubscribed_at"] = pd.to_datetime(unsub_at[unsubs["person"]]).tz_localize("UTC")
    unsubs["ignored"] = ignored_optout[unsubs["person"]]
    # the preference-centre opt-outs are events too
    pref = unsubs[unsubs["ignored"]]
    events = pd.concat([events, pd.DataFrame({
        "person": pref["person"], "campaign": 0, "type": "STATUSCHANGE", "created": pref["unsubscribed_at"]})],
        ignore_index=True)
    return events, audience, unsubs


def _one_send(rng: np.random.Generator, recipients: np.ndarray, campaign: int, send_at: pd.Timestamp,
              rates: dict[str, float]) -> tuple[pd.DataFrame, np.ndarray]:
    m = len(recipients)
    delivered = rng.random(m) < rates["deliver"]
    opened = delivered & (rng.random(m) < rates["open"])
    clicked = delivered & (rng.random(m) < rates["click"])
    unsub = delivered & (rng.random(m) < rates["unsub"])
    complaint = delivered & (rng.random(m) < rates["complaint"])
    parts = [("SENT", np.ones(m, bool), 0), ("DELIVERED", delivered, 2), ("BOUNCE", ~delivered, 2),
             ("OPEN", opened, 60), ("CLICK", clicked, 75), ("STATUSCHANGE", unsub, 300), ("SPAMREPORT", complaint, 320)]
    rows = [pd.DataFrame({"person": recipients[mask], "campaign": campaign, "type": kind,
                          "created": send_at + pd.Timedelta(minutes=delay)}) for kind, mask, delay in parts]
    return pd.concat(rows, ignore_index=True), recipients[unsub]


def simulate_ads(rng: np.random.Generator, as_of: pd.Timestamp) -> pd.DataFrame:
    """Daily Google Ads stats of the paid campaigns, up to yesterday (reports lag a day)."""
    last = (as_of.normalize() - pd.Timedelta(days=1))
    days = pd.date_range(end=last, periods=7 * WEEKS, freq="D")
    frames = []
    for c in (c for c in CAMPAIGNS if c.channel == "paid"):
        k = len(days)
        cost = np.round(c.daily_budget * rng.uniform(0.85, 1.05, k), 2)
        impressions = rng.poisson(cost * 40)
        clicks = rng.binomial(impressions, 0.031)
        frames.append(pd.DataFrame({"campaign": c.key, "date": days.date, "cost": cost,
                                    "impressions": impressions, "clicks": clicks,
                                    "conversions": np.round(clicks * rng.uniform(0.03, 0.06, k), 2)}))
    return pd.concat(frames, ignore_index=True)


def conversion_values(ads: pd.DataFrame, opportunities: pd.DataFrame) -> np.ndarray:
    """Google Ads conversion value of every row of ``ads``, from the CRM's opportunities (Salesforce export shape).

    Teams feed Google the deals they win through offline-conversion imports, so in a healthy stack a paid campaign's
    conversion value on a day is the amount of its Closed Won deals closed that day, cent for cent. Deals that close
    outside the report's days (today, or in the future) are in no report row. Draws nothing: the random streams of
    every other export stay as they were.
    """
    won = opportunities[opportunities["StageName"] == "Closed Won"]
    per_day = pd.DataFrame({"campaign": won["CampaignId"].str[3:].astype(int),
                            "date": pd.to_datetime(won["CloseDate"]).dt.date,
                            "amount": won["Amount"].astype(float)}).groupby(["campaign", "date"])["amount"].sum()
    keys = pd.MultiIndex.from_arrays([ads["campaign"].to_numpy(), ads["date"].to_numpy()])
    return np.round(per_day.reindex(keys).fillna(0.0).to_numpy(), 2)


_REASONS = ["ENGAGEMENT_HIGH", "FIRMOGRAPHIC_FIT", "RECENT_WEB_VISIT", "EMAIL_CLICKS", "TITLE_MATCH",
            "INTENT_SIGNAL"]
_OFFERS = ["UPSELL_PREMIUM", "DISCOUNT_15", "WEBINAR_INVITE", "CASE_STUDY"]


def simulate_decisions(rng: np.random.Generator, people: pd.DataFrame, contact_account: pd.Series,
                       account_revenue: pd.Series, as_of: pd.Timestamp, inj: Injections) -> pd.DataFrame:
    """The AI decision log: a lead score for everyone, a next-best offer for every contact with an account."""
    n = len(people)
    score = 100 * rng.beta(6, 5, n)
    if inj.biased_lead_scoring:
        score = np.where(people["age_band"].to_numpy() == "55-64", score * 0.75, score)
    reasons = np.array(["|".join(rng.choice(_REASONS, rng.integers(1, 4), replace=False)) for _ in range(n)],
                       dtype=object)
    if inj.missing_reason_codes:
        reasons[rng.random(n) < 0.08] = None
    reviewed = rng.random(n) < 0.10
    leads = pd.DataFrame({
        "person": people["person"], "model_name": "lead_scoring", "model_version": "3.2.0",
        "decision_type": "lead_score", "score": np.round(score, 1),
        "decision": np.where(score >= 60, "priority", "nurture"),
        "confidence": np.round(rng.beta(9, 2, n), 3), "reason_codes": reasons,
        "human_reviewed": reviewed, "executed": True, "account": pd.NA, "campaign": pd.NA,
    })

    with_account = people[people["is_contact"]].copy()
    m = len(with_account)
    account = contact_account.loc[with_account.index].to_numpy()
    confidence = np.round(rng.beta(6, 3, m), 3)
    high_risk = (confidence < OVERSIGHT_MIN_CONFIDENCE) & (account_revenue.to_numpy()[account] >= HIGH_VALUE_REVENUE)
    reviewed = high_risk | (rng.random(m) < 0.15)
    if inj.unreviewed_low_confidence:
        k = max(5, round(m / 60))
        skip = rng.choice(np.flatnonzero(high_risk), min(k, int(high_risk.sum())), replace=False)
        reviewed[skip] = False
    offers = pd.DataFrame({
        "person": with_account["person"].to_numpy(), "model_name": "next_best_offer", "model_version": "1.4.1",
        "decision_type": "next_best_offer", "score": np.round(confidence * 100, 1),
        "decision": rng.choice(_OFFERS, m), "confidence": confidence,
        "reason_codes": ["|".join(rng.choice(_REASONS, 2, replace=False)) for _ in range(m)],
        "human_reviewed": reviewed, "executed": ~(high_risk & reviewed & (rng.random(m) < 0.3)),
        "account": account, "campaign": rng.choice([1, 2, 4], m),
    })
    out = pd.concat([leads, offers], ignore_index=True)
    out["decided_at"] = as_of - pd.to_timedelta(rng.integers(1, 28 * 24 * 60, len(out)), "min")
    out["reviewed_at"] = (out["decided_at"] + pd.Timedelta(hours=3)).where(out["human_reviewed"].astype(bool))
    return out
