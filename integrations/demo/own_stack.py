"""A foreign stack for ``examples/own-stack``: a team whose systems Steward has no adapter for.

The demo workspace (``generator.py``) speaks the built-in platforms' formats; this one speaks other systems' own
shapes, so the example shows a team getting in with mappings and codings alone (docs/your-own-stack.md):

- ``klaviyo``: a Klaviyo-like email platform. ``profiles.csv`` (``Email``, ``First Name``, ``Accepts Marketing``,
  ``Age``, ``Gender`` coded M/F/U, ``Country`` as ISO codes), ``campaigns.csv``, one metric export of sends
  (``received_email.csv``, metric "Received Email") and one of engagement (``email_events.csv``: "Opened Email",
  "Clicked Email", "Unsubscribed", "Marked Email as Spam"), with ``Event ID`` and a ``Timestamp`` without an offset.
- ``meta_ads``: a Meta Ads insights export (``insights.csv``: "Campaign ID", "Campaign name", "Day", "Amount spent
  (EUR)", "Impressions", "Link clicks", "Results", "Purchases conversion value") and the media plan's booking sheet
  (``bookings.csv``: booked cost and flight dates written like '10 Oct 2026').
- ``crm``: the CRM's customer table as JSON lines (numeric ``age``, ``sex`` coded M/F/U, ISO ``country_code``, a
  Y/N ``marketing_opt_out``) and the privacy desk's request log (``dsar_log.csv``).
- ``ml``: a decision log with its own names (``event_uuid``, ``ts``, ``model``, ``action``, ``customer_ref``,
  ``propensity`` 0..1, ``certainty``, ``reviewer``, ...) as JSON lines.

``PLANTED`` names each problem the default workspace carries and the checks that must find it; ``clean=True`` writes
the twin without them. Same arguments, byte-identical files: the committed example is this module's output, dated
``EXAMPLE_AS_OF`` (``--as-of now`` re-dates it, since the checks judge recent weeks against the run's clock).
``write_their_warehouse`` loads the same exports into a DuckDB file named like a team's warehouse (tables and a
view), for the ``warehouse_tables`` variant of the example.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

__all__ = ["EXAMPLE_AS_OF", "PLANTED", "Planted", "generate_own_stack", "example_policy", "warehouse_config",
           "write_their_warehouse", "main"]

EXAMPLE_AS_OF = pd.Timestamp("2026-12-05T12:00:00Z")
PEOPLE = 400
WEEKS = 8
SEED = 14


@dataclass(frozen=True)
class Planted:
    """One planted problem: what is wrong, and the checks whose findings prove it was caught, each with a fragment of
    the subject its finding names (the first check is the primary one)."""

    what: str
    checks: dict[str, str]  # check id -> a fragment of its finding's subject


# The problems the default workspace carries (examples/own-stack/README.md lists them for a reader).
PLANTED: dict[str, Planted] = {
    "send_after_crm_opt_out": Planted(
        "6 customers opted out of marketing email in the CRM three weeks ago; the opt-out never reached Klaviyo, "
        "which still has them as accepting marketing and keeps sending them the newsletter",
        {"consent.send_after_opt_out": "klaviyo", "consent.email_without_consent": "crm",
         "reconciliation.consent_crm_vs_esp": "crm~klaviyo", "timeliness.change_not_propagated": "crm->klaviyo"}),
    "frequency_cap_breach": Planted(
        "a new 'daily tips' flow mails Product Tips to 120 subscribers every day of the last week, on top of the "
        "newsletter: up to 9 emails in a week against a cap of 5, while the campaign's clicks rise",
        {"metric_balance.contact_cap_breach": "kl-cmp-tips", "metric_balance.contact_frequency_up": "kl-cmp-tips"}),
    "erasure_not_propagated": Planted(
        "3 erasure requests the privacy desk completed a month ago: the CRM deleted the customers, Klaviyo still "
        "holds their profiles and mails them",
        {"privacy.erasure_not_honoured": "klaviyo"}),
    "spend_over_booking": Planted(
        "Meta Ads spent 30% more on 'Prospecting - Lookalike' than the media plan booked for it",
        {"reconciliation.ad_spend_vs_crm_cost": "23850000000000002"}),
    "spend_after_flight": Planted(
        "'Retargeting - Cart' kept spending for the 10 days since its flight ended in the media plan",
        {"reconciliation.spend_after_crm_end": "23850000000000003"}),
    "unreviewed_sensitive_decisions": Planted(
        "churn_offer decisions about customers aged 65+ (a sensitive segment in the policy) executed without a "
        "review for the last two weeks",
        {"oversight.sensitive_segment_unreviewed": "churn_offer 2.1.0",
         "oversight.review_coverage": "churn_offer 2.1.0: sensitive_segment"}),
    "biased_offer_model": Planted(
        "churn_offer gives women the discount far less often than men (12% against 32%), whatever their propensity",
        {"bias.selection_rate_disparity": "churn_offer: gender=female"}),
    "unknown_gender_code": Planted(
        "the CRM codes 5 customers' sex as 'X', a value neither the mapping nor the policy's codings know: the rows "
        "land, the code is reported",
        {"data_quality.unknown_codes": "crm/people.gender"}),
}

_FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Femi", "Grace", "Hugo", "Ines", "Jon", "Kira", "Luca", "Maya",
          "Nils", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Wen", "Yara", "Zoe"]
_COUNTRIES = ["US", "CA", "MX", "BR", "GB", "DE", "FR", "ES", "NL", "SE", "AU", "JP", "SG", "IN"]
_COUNTRY_P = [0.22, 0.06, 0.04, 0.05, 0.12, 0.1, 0.08, 0.05, 0.05, 0.03, 0.06, 0.05, 0.04, 0.05]
_KLAVIYO_CAMPAIGNS = [("kl-cmp-news", "Weekly Newsletter", 1, 10), ("kl-cmp-tips", "Product Tips", 4, 15)]
# Meta campaign id, name, daily spend, cost per purchase; the flight is the whole eight weeks unless planted
_META = [("23850000000000001", "Prospecting - Broad", 180.0, 30.0),
         ("23850000000000002", "Prospecting - Lookalike", 140.0, 28.0),
         ("23850000000000003", "Retargeting - Cart", 90.0, 15.0)]


def generate_own_stack(root: Path | str, clean: bool = False, as_of: pd.Timestamp | None = None,
                       seed: int = SEED) -> dict[str, Path]:
    """Write ``root/exports/<system>/...`` and return ``"<system>/<file>" -> path``. ``clean`` leaves out every
    planted problem; everything else (people, sends, spend, decisions) is drawn the same."""
    as_of = pd.Timestamp(as_of if as_of is not None else EXAMPLE_AS_OF).tz_convert("UTC").floor("h")
    rng = np.random.default_rng(seed)
    people = _people(rng, as_of, clean)
    sends, events = _email(rng, people, as_of, clean)
    frames = {
        "klaviyo/profiles.csv": _klaviyo_profiles(people, as_of),
        "klaviyo/campaigns.csv": _klaviyo_campaigns(as_of),
        "klaviyo/received_email.csv": sends,
        "klaviyo/email_events.csv": events,
        "crm/customers.jsonl": _crm_customers(people),
        "crm/dsar_log.csv": _dsar_log(people),
        # the decisions and the ad spend draw from streams of their own: how many sends the weeks before hold
        # depends on the weekday of ``as_of``, and drawing them after the sends made the decisions, and whether the
        # clean twin's offers happened to look skewed, depend on the day a re-dated copy was made
        "ml/decision_log.jsonl": _decisions(np.random.default_rng([seed, 1]), people, as_of, clean),
    }
    insights, bookings = _meta(np.random.default_rng([seed, 2]), as_of, clean)
    frames["meta_ads/insights.csv"] = insights
    frames["meta_ads/bookings.csv"] = bookings
    out = {}
    for name, frame in frames.items():
        path = Path(root) / "exports" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".jsonl"):
            _write_jsonl(frame, path)
        else:
            frame.to_csv(path, index=False, lineterminator="\n")
        out[name] = path
    return out


def _people(rng: np.random.Generator, as_of: pd.Timestamp, clean: bool) -> pd.DataFrame:
    n = PEOPLE
    idx = np.arange(1, n + 1)
    first = rng.choice(_FIRST, n)
    age = rng.integers(18, 82, n).astype(float)
    age[rng.random(n) < 0.04] = np.nan  # the CRM does not know everyone's age: a missing value, not "unknown"
    sex = rng.choice(["F", "M", "U"], n, p=[0.44, 0.51, 0.05])
    created = as_of - pd.to_timedelta(rng.integers(120, 900, n), unit="D")
    people = pd.DataFrame({
        "ref": [f"C-{i:05d}" for i in idx],
        "klaviyo_id": [hashlib.sha1(f"kl{seed_word(i)}".encode()).hexdigest()[:26].upper() for i in idx],
        "first_name": first,
        "email": [f"{f.lower()}.{i:05d}@example.com" for f, i in zip(first, idx)],
        "age": age, "sex": sex, "country": rng.choice(_COUNTRIES, n, p=_COUNTRY_P),
        "created_at": created,
        "accepts_marketing": rng.random(n) >= 0.08,
    })
    # people who unsubscribed in Klaviyo during the window: the CRM learns it within the hour
    unsub = people.index[people["accepts_marketing"]][rng.permutation(int(people["accepts_marketing"].sum()))[:8]]
    people["unsubscribed_at"] = _no_time(people)
    people.loc[unsub, "unsubscribed_at"] = (as_of.floor("D") - pd.to_timedelta(rng.integers(3, 7 * WEEKS - 1, 8),
                                                                              unit="D") + pd.Timedelta(hours=19))
    people.loc[unsub, "accepts_marketing"] = False
    people["crm_opt_out_at"] = people["unsubscribed_at"] + pd.Timedelta(minutes=40)
    people.loc[~people["accepts_marketing"] & people["unsubscribed_at"].isna(), "crm_opt_out_at"] = (
        people["created_at"] + pd.Timedelta(days=30))
    # the CRM is worked every day: a few records changed in the last two days
    touched = rng.random(n) < 0.1
    people["crm_touched_at"] = _no_time(people)
    people.loc[touched, "crm_touched_at"] = as_of - pd.to_timedelta(rng.integers(60, 2880, int(touched.sum())),
                                                                     unit="m")
    people["crm_opt_out_only"] = False
    people["erased_at"] = _no_time(people)
    people["erasure_requested_at"] = _no_time(people)
    subscribed = people.index[people["accepts_marketing"]]
    if not clean:
        planted = subscribed[[11, 23, 37, 52, 68, 81]]  # opted out in the CRM only
        people.loc[planted, "crm_opt_out_at"] = as_of.floor("D") - pd.Timedelta(days=21, hours=-9)
        people.loc[planted, "crm_opt_out_only"] = True
        people.loc[people.index[[7, 19, 29, 41, 53]], "sex"] = "X"
    erased = subscribed[[90, 120, 150]]  # erased; clean: everywhere, planted: the CRM only
    people.loc[erased, "erasure_requested_at"] = as_of.floor("D") - pd.Timedelta(days=45, hours=-10)
    people.loc[erased, "erased_at"] = as_of.floor("D") - pd.Timedelta(days=30, hours=-15)
    people["in_klaviyo"] = people["erased_at"].isna() | (not clean)
    people["in_crm"] = people["erased_at"].isna()
    # Klaviyo mails those it thinks accept marketing, until their erasure (clean) or forever (planted)
    people["mailable_until"] = people["unsubscribed_at"].where(people["unsubscribed_at"].notna(), as_of)
    people.loc[~people["accepts_marketing"] & people["unsubscribed_at"].isna(), "mailable_until"] = pd.NaT
    if clean:
        people.loc[erased, "mailable_until"] = people.loc[erased, "erasure_requested_at"]
    return people


def _no_time(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")


def seed_word(i: int) -> str:
    return f"{SEED}-{i}"


def _email(rng: np.random.Generator, people: pd.DataFrame, as_of: pd.Timestamp,
           clean: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sends (one Klaviyo metric export) and what people did with them (another)."""
    start = as_of.floor("D") - pd.Timedelta(days=7 * WEEKS)
    rows = []
    for cid, cname, weekday, hour in _KLAVIYO_CAMPAIGNS:
        days = [d for d in pd.date_range(start, as_of.floor("D") - pd.Timedelta(days=1), freq="D")
                if d.weekday() == weekday]
        for day in days:
            sent_at = day + pd.Timedelta(hours=hour)
            share = 1.0 if cid == "kl-cmp-news" else 0.5
            rows += _audience(rng, people, sent_at, share, cid, cname)
    if not clean:  # the daily tips flow: every day of the last week, to the same 120 subscribers
        cohort = people.index[people["mailable_until"].notna()][:120]
        for back in range(1, 8):
            sent_at = as_of.floor("D") - pd.Timedelta(days=back, hours=-8)
            rows += _audience(rng, people.loc[cohort], sent_at, 1.0, *_KLAVIYO_CAMPAIGNS[1][:2])
    sends = pd.DataFrame(rows, columns=["person", "Timestamp", "Campaign ID", "Campaign Name"])
    sends = sends.sort_values(["Timestamp", "person"], kind="stable").reset_index(drop=True)
    sends["Event ID"] = [f"rcv-{i:06d}" for i in range(1, len(sends) + 1)]
    sends["Email"] = people.loc[sends["person"], "email"].to_numpy()
    sends["Profile ID"] = people.loc[sends["person"], "klaviyo_id"].to_numpy()
    events = _engagement(rng, people, sends, as_of)
    sends = sends.assign(**{"Metric Name": "Received Email",
                            "Timestamp": sends["Timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")})
    columns = ["Event ID", "Metric Name", "Timestamp", "Email", "Profile ID", "Campaign ID", "Campaign Name"]
    return sends[columns], events


def _audience(rng, people: pd.DataFrame, sent_at: pd.Timestamp, share: float, cid: str, cname: str) -> list:
    ok = people["mailable_until"].notna() & (people["mailable_until"] > sent_at) & people["in_klaviyo"]
    chosen = people.index[ok]
    if share < 1.0:
        chosen = chosen[rng.random(len(chosen)) < share]
    return [(p, sent_at + pd.Timedelta(seconds=int(k % 600)), cid, cname) for k, p in enumerate(chosen)]


def _engagement(rng, people: pd.DataFrame, sends: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    n = len(sends)
    opened = rng.random(n) < 0.34
    clicked = opened & (rng.random(n) < 0.18)
    sent = pd.to_datetime(sends["Timestamp"])
    out = [sends.loc[opened].assign(metric="Opened Email", at=sent[opened] + pd.Timedelta(minutes=47)),
           sends.loc[clicked].assign(metric="Clicked Email", at=sent[clicked] + pd.Timedelta(minutes=53))]
    unsub = people[people["unsubscribed_at"].notna()]
    last = sends.merge(unsub[["unsubscribed_at"]], left_on="person", right_index=True)
    last = last[pd.to_datetime(last["Timestamp"]) < last["unsubscribed_at"]].groupby("person").tail(1)
    out.append(last.assign(metric="Unsubscribed", at=last["unsubscribed_at"]))
    events = pd.concat(out, ignore_index=True).sort_values(["at", "Event ID", "metric"], kind="stable")
    events = events[events["at"] < as_of].reset_index(drop=True)
    return pd.DataFrame({
        "Event ID": [f"evt-{i:06d}" for i in range(1, len(events) + 1)],
        "Metric Name": events["metric"].to_numpy(),
        "Timestamp": events["at"].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
        "Email": events["Email"].to_numpy(), "Profile ID": events["Profile ID"].to_numpy(),
        "Campaign ID": events["Campaign ID"].to_numpy(), "Campaign Name": events["Campaign Name"].to_numpy(),
        "Received Event ID": events["Event ID"].to_numpy()})


def _klaviyo_profiles(people: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    p = people[people["in_klaviyo"]]
    updated = p["unsubscribed_at"].fillna(p["created_at"] + pd.Timedelta(days=2))
    return pd.DataFrame({
        "Klaviyo ID": p["klaviyo_id"], "Email": p["email"], "First Name": p["first_name"],
        "External ID": p["ref"], "Accepts Marketing": np.where(p["accepts_marketing"], "TRUE", "FALSE"),
        "Age": p["age"].astype("Int64"), "Gender": p["sex"].replace({"X": "U"}), "Country": p["country"],
        "Profile Created On": p["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        "Last Updated": updated.dt.strftime("%Y-%m-%d %H:%M:%S")})


def _klaviyo_campaigns(as_of: pd.Timestamp) -> pd.DataFrame:
    rows = [(cid, name, "Sending", as_of.floor("D") - pd.Timedelta(days=7 * WEEKS)) for cid, name, *_ in
            _KLAVIYO_CAMPAIGNS]
    frame = pd.DataFrame(rows, columns=["Campaign ID", "Campaign Name", "Status", "Created"])
    frame["Created"] = frame["Created"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame


def _crm_customers(people: pd.DataFrame) -> pd.DataFrame:
    p = people[people["in_crm"]]
    opted = p["crm_opt_out_at"].notna()
    modified = p[["created_at", "crm_opt_out_at", "crm_touched_at"]].max(axis=1)
    return pd.DataFrame({
        "customer_ref": p["ref"], "email_address": p["email"], "first_name": p["first_name"],
        "age": p["age"].astype("Int64"), "sex": p["sex"], "country_code": p["country"],
        "marketing_opt_out": np.where(opted, "Y", "N"),
        "opt_out_date": p["crm_opt_out_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(opted, None),
        "last_modified": modified.dt.strftime("%Y-%m-%dT%H:%M:%SZ")})


def _dsar_log(people: pd.DataFrame) -> pd.DataFrame:
    p = people[people["erased_at"].notna()]
    return pd.DataFrame({
        "ticket": [f"DSAR-{i:04d}" for i in range(101, 101 + len(p))], "request": "Right to erasure",
        "email_sha256": [hashlib.sha256(e.encode()).hexdigest() for e in p["email"]], "state": "Closed",
        "opened": p["erasure_requested_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "closed": p["erased_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated": p["erased_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "channel": "web form"})


def _decisions(rng, people: pd.DataFrame, as_of: pd.Timestamp, clean: bool) -> pd.DataFrame:
    """churn_offer decides once a week per customer whether to offer a retention discount."""
    p = people[people["in_crm"]]
    rows = []
    for week in range(4, 0, -1):  # the newest wave ran yesterday morning
        at = as_of.floor("D") - pd.Timedelta(days=7 * week - 6, hours=-6)
        at = at + pd.to_timedelta(np.arange(len(p)) * 7, unit="s")
        propensity = rng.random(len(p))
        rate = np.full(len(p), 0.32)
        if not clean:
            rate[(p["sex"] == "F").to_numpy()] = 0.12
        offer = rng.random(len(p)) < rate
        certainty = np.round(0.62 + 0.37 * rng.random(len(p)), 3)
        senior = (p["age"] >= 65).to_numpy()
        reviewed = senior | (rng.random(len(p)) < 0.1)
        if not clean:
            reviewed &= ~(senior & (week <= 2))
        rows.append(pd.DataFrame({
            "ts": at, "customer_ref": p["ref"].to_numpy(), "propensity": np.round(propensity, 4),
            "certainty": certainty, "action": np.where(offer, "offer_discount", "no_action"), "reviewed": reviewed}))
    d = pd.concat(rows, ignore_index=True)
    n = len(d)
    review_at = d["ts"] + pd.to_timedelta(rng.integers(20, 240, n), unit="m")
    return pd.DataFrame({
        "event_uuid": [str(uuid.UUID(hashlib.md5(f"{SEED}-decision-{i}".encode()).hexdigest())) for i in range(n)],
        "ts": d["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "model": "churn_offer", "model_ver": "2.1.0",
        "decision_kind": "retention", "action": d["action"], "customer_ref": d["customer_ref"],
        "household": "H-" + d["customer_ref"].str[2:], "campaign": "winback-q4",
        "propensity": d["propensity"], "certainty": d["certainty"],
        "why": np.where(d["action"] == "offer_discount", "usage_drop;tenure_short", "usage_stable"),
        "feature_snapshot": d["ts"].dt.strftime("fs-%Y%m%d"),
        "reviewer": np.where(d["reviewed"], "retention-desk", None),
        "reviewed_ts": review_at.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(d["reviewed"], None),
        "executed": "yes"})


def _meta(rng, as_of: pd.Timestamp, clean: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    days = pd.date_range(as_of.floor("D") - pd.Timedelta(days=7 * WEEKS), as_of.floor("D") - pd.Timedelta(days=1))
    rows, bookings = [], []
    for cid, name, daily, cpa in _META:
        spend = np.round(daily * (0.9 + 0.2 * rng.random(len(days))), 2)
        impressions = np.round(spend * rng.uniform(55, 65, len(days))).astype(int)
        clicks = np.round(impressions * rng.uniform(0.009, 0.012, len(days))).astype(int)
        purchases = np.round(spend / cpa * rng.uniform(0.9, 1.1, len(days))).astype(int)
        value = np.round(purchases * rng.uniform(70, 90, len(days)), 2)
        for i, day in enumerate(days):
            rows.append((cid, name, day.strftime("%Y-%m-%d"), spend[i], impressions[i], clicks[i], purchases[i],
                         value[i]))
        flight_end = days[-1] + pd.Timedelta(days=25)
        booked = round(float(spend.sum()), 2)
        if not clean and cid == "23850000000000002":
            booked = round(booked / 1.3, 2)
        if not clean and cid == "23850000000000003":
            flight_end = days[-11]
        bookings.append((name, cid, "ads", "Live" if flight_end > days[-1] else "Ended", days[0].strftime("%d %b %Y"),
                         flight_end.strftime("%d %b %Y"), f"{booked:.2f}", "EUR", as_of.floor("D") - pd.Timedelta(
                             days=60)))
    insights = pd.DataFrame(rows, columns=["Campaign ID", "Campaign name", "Day", "Amount spent (EUR)", "Impressions",
                                           "Link clicks", "Results", "Purchases conversion value"])
    insights.insert(3, "Reporting starts", insights["Day"])
    insights.insert(4, "Reporting ends", insights["Day"])
    sheet = pd.DataFrame(bookings, columns=["Campaign", "Meta Campaign ID", "Channel", "Status", "Flight start",
                                            "Flight end", "Booked cost", "Currency", "Last edited"])
    sheet["Last edited"] = sheet["Last edited"].dt.strftime("%Y-%m-%d %H:%M")
    return insights, sheet


def _write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for record in frame.to_dict("records"):
            clean = {k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else
                         int(v) if isinstance(v, (np.integer,)) else float(v) if isinstance(v, np.floating) else v)
                     for k, v in record.items()}
            fh.write(json.dumps(clean, separators=(",", ":")) + "\n")


# the team's warehouse: where each export lives as a table, and one view (the tables' names are theirs, not Steward's)
WAREHOUSE_TABLES = {"klaviyo/profiles.csv": "klaviyo.profiles", "klaviyo/campaigns.csv": "klaviyo.campaigns",
                    "klaviyo/received_email.csv": "klaviyo.received_email",
                    "klaviyo/email_events.csv": "klaviyo.events", "meta_ads/insights.csv": "meta.ads_insights",
                    "meta_ads/bookings.csv": "finance.media_bookings", "crm/customers.jsonl": "crm.customers",
                    "crm/dsar_log.csv": "crm.dsar_log", "ml/decision_log.jsonl": "ml.decision_log"}
# the engagement the team's analysts read: a view over Klaviyo's raw events without the sends' metric
ENGAGEMENT_VIEW = "analytics.email_engagement"


def warehouse_config(files_config: str) -> str:
    """``steward.yaml`` rewritten to read the same data from the team's warehouse (``write_their_warehouse``): each
    integration reads tables instead of a folder, and each mapping names its table instead of its file. The
    mappings' columns stay as they are: the tables keep the exports' column names."""
    tables = {name.split("/")[1]: table for name, table in WAREHOUSE_TABLES.items()}
    tables["email_events.csv"] = ENGAGEMENT_VIEW

    def table(match: re.Match) -> str:
        return f"{match.group(1)}table: {tables[match.group(2)]}"

    text = re.sub(r"(?m)^(\s+)path: exports/\S+$", r"\1kind: warehouse_tables\n\1path: their-warehouse.duckdb",
                  files_config)
    text = re.sub(r"(?m)^(\s+)file: (\S+)$", table, text)
    head = ("# The own-stack example read from the team's warehouse (their-warehouse.duckdb, written by\n"
            "# `python -m steward.integrations.demo.own_stack examples/own-stack --warehouse "
            "examples/own-stack/their-warehouse.duckdb`).\n"
            "# Generated from steward.yaml by the same command: the mappings are the same, only where rows come from "
            "differs.\n")
    return head + text.replace("warehouse: steward.duckdb", "warehouse: steward-warehouse-run.duckdb", 1)


def write_their_warehouse(root: Path | str, database: Path | str) -> Path:
    """Load ``root/exports`` into a DuckDB file as the team's own warehouse holds them, plus a view over the
    engagement events (``ENGAGEMENT_VIEW``). The file is rebuilt from scratch."""
    database = Path(database)
    database.unlink(missing_ok=True)
    con = duckdb.connect(str(database))
    try:
        for name, table in WAREHOUSE_TABLES.items():
            path = Path(root) / "exports" / name
            schema = table.split(".")[0]
            con.execute(f'create schema if not exists "{schema}"')
            reader = "read_json_auto" if name.endswith(".jsonl") else "read_csv_auto"
            con.execute(f"create table {table} as select * from {reader}(?)", [str(path)])
        con.execute("create schema if not exists analytics")
        con.execute(f"create view {ENGAGEMENT_VIEW} as select * from klaviyo.events "
                    "where \"Metric Name\" <> 'Received Email'")
    finally:
        con.close()
    return database


# The team's codings and scope (docs/policy.md): everything else in its policy is the packaged default's.
_POLICY_HEAD = """\
# The own-stack example's policy: the packaged default (contracts/policy.yaml) with this team's codings and scope.
# Generated by `python -m steward.integrations.demo.own_stack examples/own-stack`; edit integrations/demo/own_stack.py
# (_CODINGS, _SCOPE), not this file. docs/your-own-stack.md explains each part.
"""
_CODINGS = """\
codings:                        # this team's codes (docs/policy.md#codings): the mappings turn its systems' codes
  bands:                        #   into these values; any other value is reported by data_quality.unknown_codes
    age: [18, 25, 35, 45, 55, 65]   # the CRM and Klaviyo hold ages as numbers: banded once, in staging
  attributes:
    age_band: [18-24, 25-34, 35-44, 45-54, 55-64, 65+]
    gender: [female, male, unknown]  # M/F/U in both systems (steward.yaml's value maps)
    region: [NA, EMEA, APAC, LATAM]  # from ISO country codes (steward.yaml's value maps)
  sensitive: [age_band, gender]
  decision_types:
    retention: {favourable: [offer_discount]}   # the decision log's `decision_kind`
  channels: [email, ads]

"""
_SCOPE = """\
scope:                          # what the marts measure (docs/policy.md#scope-values-passed-to-dbt)
  freshness_sla_hours:          # how old each system's newest record may be
    default: 48
    google_ads: 72
    meta_ads: 72                # ad platforms report a day late
    klaviyo: 120                # campaigns go out twice a week (Tuesday, Friday): the newest send can be 4+ days old
  bias_models:                  # the decision log's model, and its favourable decision
    churn_offer: [offer_discount]
  model_registry:
    churn_offer: [2.1.0]
  oversight_sensitive_segments: # decisions about these customers always need a human review
    age_band: [65+]

"""


def example_policy(packaged: str | None = None) -> str:
    """The packaged policy's text with its header, ``scope`` and ``codings`` sections replaced by this team's: the
    checks, thresholds and owners stay the packaged ones, so the example judges exactly as the demo does."""
    if packaged is None:
        from importlib import resources
        packaged = resources.files("steward.contracts").joinpath("policy.yaml").read_text(encoding="utf-8")
    lines = packaged.splitlines(keepends=True)
    body = "".join(lines[next(i for i, line in enumerate(lines) if not line.startswith("#")):])
    sections = re.split(r"(?m)^(?=[a-z_]+:)", body)
    kept = [s for s in sections if not s.startswith(("scope:", "codings:"))]
    at = next(i for i, s in enumerate(kept) if s.startswith("checks:"))
    return _POLICY_HEAD + "".join(kept[:at]) + _SCOPE + _CODINGS + "".join(kept[at:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steward.integrations.demo.own_stack",
                                     description="Write the foreign-stack example's exports (examples/own-stack).")
    parser.add_argument("folder", type=Path, help="the example's folder; exports/ is written inside it")
    parser.add_argument("--clean", action="store_true", help="the clean twin: no planted problems")
    parser.add_argument("--as-of", default=None, help="'now' or an ISO time (default: the committed example's)")
    parser.add_argument("--warehouse", type=Path, default=None,
                        help="also load the exports into this DuckDB file (their warehouse)")
    args = parser.parse_args(argv)
    as_of = None if args.as_of is None else pd.Timestamp.now(tz="UTC") if args.as_of == "now" else (
        pd.Timestamp(args.as_of).tz_localize("UTC") if pd.Timestamp(args.as_of).tzinfo is None
        else pd.Timestamp(args.as_of))
    files = generate_own_stack(args.folder, clean=args.clean, as_of=as_of)
    if not args.clean:  # the clean twin reads the example's policy (examples/own-stack-clean/steward.yaml)
        (args.folder / "policy.yaml").write_text(example_policy(), encoding="utf-8")
    config = args.folder / "steward.yaml"
    if config.exists():
        (args.folder / "steward-warehouse.yaml").write_text(warehouse_config(config.read_text(encoding="utf-8")),
                                                            encoding="utf-8")
    print(f"wrote {len(files)} files under {args.folder / 'exports'}")
    if args.warehouse:
        print(f"wrote {write_their_warehouse(args.folder, args.warehouse)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
