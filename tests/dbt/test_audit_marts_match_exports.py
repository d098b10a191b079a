"""The governance-audit marts (frequency, resources, oversight, transparency, anomalies) say what the exports say.

One demo workspace with every injection on is landed and built by the real dbt project; each test recomputes a mart's
numbers from the export files with pandas (never through the warehouse) and compares them, row by row.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governed import governed_copy
from steward.contracts.policy import load_policy
from steward.integrations.demo.injections import Injections

pytestmark = pytest.mark.slow
POLICY = load_policy()
SCOPE = POLICY.scope


@pytest.fixture(scope="module")
def governed(tmp_path_factory):
    copy = governed_copy(tmp_path_factory, "audit_marts", seed=11, scale=0.5, injections=Injections())
    return copy.ws, lambda name: copy.wh.query_df(f"select * from governance.{name}")


def _jsonl(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype=False)


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _events(ws) -> pd.DataFrame:
    """Email events with their CRM campaign, UTC time, and weeks back from as_of."""
    hs = ws.exports / "hubspot"
    ev = _jsonl(hs / "email_events.jsonl")
    emails = _jsonl(hs / "marketing_emails.jsonl").set_index("id")["salesforceCampaignId"]
    ev["email_id"] = ev["emailCampaignId"].astype("Int64").astype("string")
    ev["campaign_id"] = ev["email_id"].map(emails)
    ev["at"] = pd.to_datetime(ev["created"], unit="ms", utc=True)
    ev["person"] = ev["recipient"].str.strip().str.lower()
    ev["weeks_ago"] = ((ws.as_of - ev["at"]) / pd.Timedelta(hours=168)).apply(math.floor)
    return ev


def test_frequency_and_cap_match_email_events(governed):
    ws, mart = governed
    ev, cap, w = _events(ws), SCOPE.contact_cap_per_week, math.ceil(SCOPE.metric_window_days / 7)
    sent = ev[(ev["type"] == "SENT") & (ev["weeks_ago"] >= 0)]
    totals = sent.groupby(["person", "weeks_ago"]).size().rename("total")
    per = sent.dropna(subset=["campaign_id"]).groupby(["person", "campaign_id", "weeks_ago"]).size().rename("n")
    per = per.reset_index().join(totals, on=["person", "weeks_ago"])
    per = per[per["weeks_ago"] < 2 * w]
    per["pushed"] = (per["total"] > cap) & (per["total"] - per["n"] <= cap)
    per["window"] = np.where(per["weeks_ago"] < w, "recent", "prior")
    want = per.groupby(["campaign_id", "window"]).agg(sends=("n", "sum"), contact_weeks=("n", "size"),
                                                      over_cap=("pushed", "sum")).unstack("window")
    clicks = ev[(ev["type"] == "CLICK") & ev["campaign_id"].notna() & ev["weeks_ago"].between(0, 2 * w - 1)]
    clicks = clicks.groupby(["campaign_id", np.where(clicks["weeks_ago"] < w, "recent", "prior")]).size()
    got = mart("gov_metric_balance__frequency").set_index("campaign_id")
    assert set(got.index) == set(want.index)
    for cid, row in got.iterrows():
        for name in ("sends", "contact_weeks", "over_cap"):
            for window in ("prior", "recent"):
                assert row[f"{name}_{window}"] == want.loc[cid, (name, window)], (cid, name, window)
        assert row["clicks_recent"] == clicks.get((cid, "recent"), 0)
    assert got.loc["701000000000000004", "over_cap_recent"] > 0  # the reminder automation is injected


def test_resources_match_ads_report_and_opportunities(governed):
    ws, mart = governed
    n, today = SCOPE.metric_window_days, ws.as_of.normalize().tz_localize(None)
    ads = _csv(ws.exports / "google_ads" / "campaign_stats.csv")
    ads["days_ago"] = (today - pd.to_datetime(ads["segments.date"])).dt.days
    ads["cost"] = ads["metrics.cost_micros"].astype("int64") / 1e6
    ads["conv"] = ads["metrics.conversions"].astype(float)
    opps = _csv(ws.exports / "salesforce" / "opportunities.csv")
    won = opps[opps["StageName"] == "Closed Won"].assign(
        days_ago=lambda f: (today - pd.to_datetime(f["CloseDate"])).dt.days, amount=lambda f: f["Amount"].astype(float))
    camps = _csv(ws.exports / "salesforce" / "campaigns.csv").set_index("Id")
    got = mart("gov_metric_balance__resources").set_index("campaign_id")
    for cid, camp in camps[camps["Google_Ads_Campaign_Id__c"].notna()].iterrows():
        mine = ads[ads["campaign.id"] == camp["Google_Ads_Campaign_Id__c"]]
        deals = won[won["CampaignId"] == cid]
        for window, (lo, hi) in {"recent": (1, n), "prior": (n + 1, 2 * n)}.items():
            days = mine[mine["days_ago"].between(lo, hi)]
            assert got.loc[cid, f"spend_{window}"] == pytest.approx(days["cost"].sum(), abs=1e-6)
            assert got.loc[cid, f"outcomes_{window}"] == pytest.approx(days["conv"].sum(), abs=1e-6)
            assert got.loc[cid, f"revenue_{window}"] == pytest.approx(
                deals.loc[deals["days_ago"].between(lo, hi), "amount"].sum(), abs=1e-6)
    assert got.loc["701000000000000006", "cost_per_outcome_ratio"] > 1.5  # the overbidding is injected


def _decisions(ws) -> pd.DataFrame:
    dec = pd.read_parquet(ws.exports / "decisions" / "ai_decisions.parquet")
    dec["version"] = dec["model_version"].fillna("unversioned")
    return dec


def test_transparency_records_match_decision_log(governed):
    ws, mart = governed
    dec = _decisions(ws)
    dec["reproducible"] = dec["model_version"].notna() & dec["input_snapshot_id"].notna()
    want = dec.groupby(["model_name", "version"]).agg(decisions=("reproducible", "size"),
                                                      reproducible=("reproducible", "sum"))
    got = mart("gov_transparency__records").set_index(["model_name", "model_version"])
    assert set(got.index) == set(want.index)
    for (model, version), w in want.iterrows():
        row = got.loc[(model, version)]
        assert row["decisions"] == w["decisions"]
        assert row["share_reproducible"] == pytest.approx(w["reproducible"] / w["decisions"])
        registered = version in SCOPE.model_registry.get(model, [])
        assert row["is_registered"] == registered
        assert row["unregistered_decisions"] == (0 if registered else w["decisions"])
    assert not got.loc[("next_best_offer", "1.5.0-rc1"), "is_registered"]  # the canary is injected


def _review_rules(ws) -> pd.DataFrame:
    dec = _decisions(ws)
    revenue = _csv(ws.exports / "salesforce" / "accounts.csv").set_index("Id")["AnnualRevenue"].astype(float)
    profiles = pd.read_parquet(ws.exports / "cdp" / "profiles.parquet")
    tags = profiles.groupby("user_id")["audiences"].agg(lambda s: set(",".join(s.fillna("")).split(",")))
    sensitive = set(SCOPE.oversight_sensitive_segments.get("audience", []))
    low = (dec["confidence"] < SCOPE.oversight_min_confidence) & \
        (dec["account_id"].map(revenue) >= SCOPE.oversight_high_value_revenue)
    tagged = dec["subject_id"].map(tags).apply(lambda t: isinstance(t, set) and bool(t & sensitive))
    dec["rule"] = np.where(low, "low_confidence_high_value", np.where(tagged, "sensitive_segment", None))
    dec["hours"] = (dec["reviewed_at"] - dec["decided_at"]).dt.total_seconds() / 3600
    return dec


def test_review_coverage_and_latency_match_decision_log(governed):
    ws, mart = governed
    dec = _review_rules(ws)
    need = dec[dec["rule"].notna()]
    want = need.groupby(["model_name", "version", "rule"]).agg(
        requiring=("human_reviewed", "size"), reviewed=("human_reviewed", "sum"),
        unreviewed_executed=("executed", lambda s: int((s & ~need.loc[s.index, "human_reviewed"]).sum())))
    got = mart("gov_oversight__review_coverage").set_index(["model_name", "model_version", "review_rule"])
    assert set(got.index) == set(want.index)
    for key, w in want.iterrows():
        assert tuple(got.loc[key, ["requiring_review", "reviewed", "unreviewed_executed"]]) == tuple(w), key
    latency = mart("gov_oversight__review_latency").set_index(["model_name", "model_version"])
    for (model, version), hours in dec[dec["human_reviewed"]].groupby(["model_name", "version"])["hours"]:
        row = latency.loc[(model, version)]
        assert row["reviewed"] == len(hours)
        assert row["latency_median_hours"] == pytest.approx(np.percentile(hours, 50))
        assert row["latency_p90_hours"] == pytest.approx(np.percentile(hours, 90))
    assert latency.loc[("next_best_offer", "1.4.1"), "latency_p90_hours"] > 72  # the slow reviews are injected


def test_send_volume_scores_match_email_events(governed):
    ws, mart = governed
    ev = _events(ws)
    sent = ev[ev["type"] == "SENT"].assign(day=lambda f: f["at"].dt.strftime("%Y-%m-%d"))
    daily = sent.groupby(["email_id", "day"]).size()
    first = sent.groupby("email_id")["day"].min()
    got = mart("gov_anomaly__daily_metrics")
    judged = got[(got["metric"] == "send_volume") & (got["baseline_n"] > 0)]
    assert len(judged) >= 5
    for _, row in judged.iterrows():
        day = pd.Timestamp(row["anomaly_day"])
        weeks = range(SCOPE.anomaly_baseline_weeks, 0, -1)
        days = [(day - pd.Timedelta(days=7 * k)).strftime("%Y-%m-%d") for k in weeks]
        base = [float(daily.get((row["subject_id"], d), 0)) for d in days if d >= first[row["subject_id"]]]
        assert row["value"] == daily.get((row["subject_id"], row["anomaly_day"]), 0)
        assert list(row["baseline_values"]) == base
        median = float(np.median(base))
        scale = max(1.4826 * float(np.median(np.abs(np.array(base) - median))),
                    SCOPE.anomaly_min_relative_scale * abs(median), SCOPE.anomaly_min_scale["send_volume"])
        want = 0.0 if row["value"] == median else (row["value"] - median) / scale
        assert row["robust_z"] == pytest.approx(want), row["series_id"]
    spike = judged.set_index("subject_id").loc["700002"]
    assert spike["robust_z"] > 10  # the misfiring send is injected
