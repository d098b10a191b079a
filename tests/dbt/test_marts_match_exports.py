"""The governance marts say what the raw exports say.

One demo workspace (every injection on) is landed and built by the real dbt project; each test then recomputes a
mart's key numbers straight from the export files (CSV, NDJSON, Parquet read with pandas, never through the
warehouse) and compares. A join on the wrong key, a lost row, a timezone slip or a wrong formula in the SQL shows up
as a mismatch here. The last test re-lands the same records and checks that staging still has one row per key.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from governed import governed_copy, land_exports
from steward.contracts.policy import load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.demo.injections import Injections
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow

SEED, SCALE = 11, 0.5
POLICY = load_policy()
MIN_CONFIDENCE = POLICY.dbt_vars()["oversight_min_confidence"]
HIGH_VALUE = POLICY.dbt_vars()["oversight_high_value_revenue"]


@pytest.fixture(scope="module")
def governed(tmp_path_factory):
    copy = governed_copy(tmp_path_factory, "marts", seed=SEED, scale=SCALE, injections=Injections())
    return copy.ws, copy.wh


@pytest.fixture(scope="module")
def exports(governed) -> Path:
    return governed[0].exports


@pytest.fixture(scope="module")
def mart(governed):
    wh = governed[1]
    return lambda name: wh.query_df(f"select * from governance.{name}")


# ---------------------------------------------------------------------------------------------- raw readers


def _csv(path: Path) -> pd.DataFrame:
    # every column as text and no NA sniffing: Salesforce's region "NA" (North America) is a value, not a null
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _jsonl(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype=False)


def _email_key(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().str.lower().replace("", pd.NA)


def _crm_people(exports: Path) -> pd.DataFrame:
    cols = ["Id", "Email", "Age_Band__c", "Gender__c", "Region__c"]
    sf = exports / "salesforce"
    return pd.concat([_csv(sf / "contacts.csv")[cols], _csv(sf / "leads.csv")[cols]], ignore_index=True)


def _decisions(exports: Path) -> pd.DataFrame:
    return pd.read_parquet(exports / "decisions" / "ai_decisions.parquet")


def test_every_export_landed_without_quarantine(governed):
    """Precondition of every comparison below: the warehouse holds all rows of the files, none set aside."""
    ws, wh = governed
    # a large export lands in several batches (bounded memory): compare per entity
    batches = wh.query_df("select integration || '.' || entity as key, sum(rows_loaded) as rows_loaded, "
                          "sum(rows_quarantined) as rows_quarantined from ledger.batches group by all").set_index("key")
    assert set(batches.index) == set(ws.counts)
    assert batches["rows_quarantined"].sum() == 0
    assert batches["rows_loaded"].to_dict() == ws.counts


# ---------------------------------------------------------------------------------------------- (a) spend


def test_spend_reconciliation_matches_ads_report_and_crm_costs(exports, mart):
    ads = _csv(exports / "google_ads" / "campaign_stats.csv")
    ads["cost"] = ads["metrics.cost_micros"].astype("int64") / 1e6
    spend = ads.groupby("campaign.id").agg(ads_spend=("cost", "sum"), days=("segments.date", "size"))
    camps = _csv(exports / "salesforce" / "campaigns.csv")
    paid = camps[camps["Google_Ads_Campaign_Id__c"].notna()].set_index("Id")
    assert len(paid) == 3

    got = mart("gov_reconciliation__spend").set_index("campaign_id")
    assert set(got.index) == set(paid.index)
    for cid, crm in paid.iterrows():
        ads_spend = float(spend.loc[crm["Google_Ads_Campaign_Id__c"], "ads_spend"])
        crm_cost = float(crm["ActualCost"])
        row = got.loc[cid]
        assert str(row["google_ads_campaign_id"]) == crm["Google_Ads_Campaign_Id__c"]
        assert row["ads_spend"] == pytest.approx(ads_spend, abs=0.005)
        assert row["crm_actual_cost"] == pytest.approx(crm_cost, abs=0.005)
        assert row["spend_diff"] == pytest.approx(ads_spend - crm_cost, abs=0.01)
        assert row["spend_diff_pct"] == pytest.approx(abs(ads_spend - crm_cost) / max(ads_spend, crm_cost), abs=1e-9)
        assert row["days_reported"] == spend.loc[crm["Google_Ads_Campaign_Id__c"], "days"]

    # the injected campaign is the only one apart, by the ~30% the generator planted
    apart = got[got["spend_diff_pct"] > 0.01]
    assert list(apart["campaign_name"]) == ["Search - Competitor"]
    assert apart["spend_diff_pct"].iat[0] == pytest.approx(0.30, abs=0.005)


def test_revenue_reconciliation_matches_ads_report_and_crm_won_deals(governed, exports, mart):
    ads = _csv(exports / "google_ads" / "campaign_stats.csv")
    ads["value"] = ads["metrics.conversions_value"].astype(float)
    ads = ads[ads["value"].notna() & (ads["segments.date"] <= governed[0].as_of.strftime("%Y-%m-%d"))]
    opps = _csv(exports / "salesforce" / "opportunities.csv")
    won = opps[opps["StageName"] == "Closed Won"].assign(Amount=lambda f: f["Amount"].astype(float))
    camps = _csv(exports / "salesforce" / "campaigns.csv")
    paid = camps[camps["Google_Ads_Campaign_Id__c"].notna()].set_index("Id")

    got = mart("gov_reconciliation__revenue").set_index("campaign_id")
    assert set(got.index) == set(paid.index)
    for cid, crm in paid.iterrows():
        days = ads[ads["campaign.id"] == crm["Google_Ads_Campaign_Id__c"]]
        first, last = days["segments.date"].min(), days["segments.date"].max()
        deals = won[(won["CampaignId"] == cid) & won["CloseDate"].between(first, last)]
        claimed, booked = round(days["value"].sum(), 2), round(deals["Amount"].sum(), 2)
        row = got.loc[cid]
        assert (row["window_start"], row["window_end"], row["days_reported"]) == (first, last, len(days))
        assert (row["ads_attributed_revenue"], row["crm_won_amount"]) == (claimed, booked)
        assert row["crm_won_opportunities"] == len(deals)
        assert row["revenue_diff_pct"] == pytest.approx(abs(claimed - booked) / max(claimed, booked), abs=1e-9)
        assert len(row["example_opportunities"]) == min(5, len(deals))

    # the injected campaign is the only one apart: 1.6x claimed is 0.6 / 1.6 of the larger amount
    apart = got[got["revenue_diff_pct"] > 0.001]
    assert len(apart) == 1 and apart["revenue_diff"].iat[0] > 0
    assert apart["revenue_diff_pct"].iat[0] == pytest.approx(0.375, abs=0.001)


# ---------------------------------------------------------------------------------------------- (b) bias


@pytest.mark.parametrize("dimension,column", [("age_band", "Age_Band__c"), ("gender", "Gender__c"),
                                              ("region", "Region__c")])
def test_bias_selection_rates_match_decision_log(exports, mart, dimension, column):
    spec = POLICY.dbt_vars()["bias_models"]["lead_scoring"]
    assert spec["favourable"] is True  # the demo's model is favourable: every ratio is of selection rates
    positives = set(spec["decisions"])
    dec = _decisions(exports)
    dec = dec[dec["model_name"] == "lead_scoring"]
    people = _crm_people(exports)
    joined = dec.merge(people, left_on="subject_id", right_on="Id", how="inner", validate="many_to_one")
    assert len(joined) == len(dec)  # every scored person is a CRM contact or lead
    joined["group"] = joined[column].fillna("unknown")
    joined["positive"] = joined["decision"].isin(positives)
    want = joined.groupby("group").agg(n=("positive", "size"), positives=("positive", "sum"))
    want["selection_rate"] = want["positives"] / want["n"]
    reference = want.sort_values("n", ascending=False, kind="stable").index[0]
    ref_n, ref_pos = want.loc[reference, ["n", "positives"]]
    ref_rate = ref_pos / ref_n

    got = mart("gov_bias__selection_rates")
    got = got[(got["model_name"] == "lead_scoring") & (got["dimension"] == dimension)].set_index("group_value")
    assert set(got.index) == set(want.index)
    assert (got["reference_group"] == reference).all()
    assert (got["reference_n"] == ref_n).all()
    for group, w in want.iterrows():
        row = got.loc[group]
        assert row["n"] == w["n"]
        assert row["positives"] == w["positives"]
        assert row["selection_rate"] == pytest.approx(w["selection_rate"])
        assert row["reference_rate"] == pytest.approx(ref_rate)
        assert row["disparity_ratio"] == pytest.approx(w["selection_rate"] / ref_rate)
        assert row["favourable"] and row["favourable_rate"] == row["selection_rate"]
        assert row["reference_favourable_rate"] == row["reference_rate"] and pd.isna(row["adverse_ratio"])
        pooled = (w["positives"] + ref_pos) / (w["n"] + ref_n)
        z = 0.0 if group == reference else \
            (w["selection_rate"] - ref_rate) / math.sqrt(pooled * (1 - pooled) * (1 / w["n"] + 1 / ref_n))
        assert row["z_vs_reference"] == pytest.approx(z, abs=1e-9)
        assert row["ci_low"] <= w["selection_rate"] <= row["ci_high"]

    if dimension == "age_band":  # the planted bias is there in the raw data and in the mart alike
        assert want.loc["55-64", "selection_rate"] / ref_rate < 0.5
        assert got.loc["55-64", "disparity_ratio"] < 0.5


# ---------------------------------------------------------------------------------------------- (c) consent


def test_sends_after_opt_out_match_esp_exports(exports, mart):
    hs = exports / "hubspot"
    subs, events = _jsonl(hs / "subscriptions.jsonl"), _jsonl(hs / "email_events.jsonl")
    subs["email_key"], events["email_key"] = _email_key(subs["recipient"]), _email_key(events["recipient"])
    events["at"] = pd.to_datetime(events["created"], unit="ms", utc=True)
    unsub = subs[subs["status"] == "UNSUBSCRIBED"]
    opt_outs = pd.concat([
        pd.DataFrame({"email_key": unsub["email_key"], "at": pd.to_datetime(unsub["timestamp"], utc=True)}),
        events.loc[events["type"] == "STATUSCHANGE", ["email_key", "at"]],
    ]).dropna(subset=["email_key"]).groupby("email_key")["at"].min().rename("opted_out_at")
    sends = events[events["type"] == "SENT"].join(opt_outs, on="email_key", how="inner")
    late = sends[sends["at"] > sends["opted_out_at"]]
    assert len(late) > 0  # the consent-mismatch injection is on

    got = mart("gov_consent__sends_after_opt_out")
    assert len(got) == 1
    row = got.iloc[0]
    assert row["platform"] == "hubspot"
    assert row["people_opted_out"] == len(opt_outs)
    assert row["sends_after_opt_out"] == len(late)
    assert row["people_sent_after_opt_out"] == late["email_key"].nunique()
    # campaigns are CRM campaigns: the reminder email (700009) belongs to Webinar Invites, like 700004
    campaign_of = _jsonl(hs / "marketing_emails.jsonl").set_index("id")["salesforceCampaignId"]
    late_campaigns = late["emailCampaignId"].astype("Int64").astype("string").map(campaign_of)
    assert row["campaigns_affected"] == late_campaigns.nunique()


# ---------------------------------------------------------------------------------------------- (d) transparency


def test_decisions_without_reason_match_decision_log(exports, mart):
    dec = _decisions(exports)
    codes = dec["reason_codes"].astype("string").str.strip()
    dec["no_reason"] = codes.isna() | (codes == "")
    want = dec.groupby(["model_name", "model_version"]).agg(decisions=("no_reason", "size"),
                                                            without_reason=("no_reason", "sum"))
    got = mart("gov_transparency__reasons").set_index(["model_name", "model_version"])
    assert set(got.index) == set(want.index)
    for key, w in want.iterrows():
        assert got.loc[key, "decisions"] == w["decisions"]
        assert got.loc[key, "without_reason"] == w["without_reason"]
        assert got.loc[key, "share_with_reason"] == pytest.approx(1 - w["without_reason"] / w["decisions"])
    assert want.loc[("lead_scoring", "3.2.0"), "without_reason"] > 0  # the missing-reason injection is on


# ---------------------------------------------------------------------------------------------- (e) oversight


def test_unreviewed_high_risk_decisions_match_decision_log(exports, mart):
    dec = _decisions(exports)
    accounts = _csv(exports / "salesforce" / "accounts.csv")[["Id", "AnnualRevenue"]]
    accounts["AnnualRevenue"] = accounts["AnnualRevenue"].astype(float)
    dec = dec.merge(accounts, left_on="account_id", right_on="Id", how="left", validate="many_to_one")
    dec["needs_review"] = (dec["confidence"] < MIN_CONFIDENCE) & (dec["AnnualRevenue"] >= HIGH_VALUE)
    dec["unreviewed"] = dec["needs_review"] & dec["executed"] & ~dec["human_reviewed"]
    want = dec.groupby(["model_name", "model_version"]).agg(
        decisions=("unreviewed", "size"), executed=("executed", "sum"),
        requiring_review=("needs_review", "sum"), unreviewed_requiring_review=("unreviewed", "sum"))

    got = mart("gov_oversight__unreviewed").set_index(["model_name", "model_version"])
    assert set(got.index) == set(want.index)
    for key, w in want.iterrows():
        for col in want.columns:
            assert got.loc[key, col] == w[col], (key, col)
    nbo = ("next_best_offer", "1.4.1")
    assert want.loc[nbo, "unreviewed_requiring_review"] > 0  # the unreviewed-decisions injection is on
    unreviewed_ids = sorted(dec.loc[dec["unreviewed"] & (dec["model_name"] == "next_best_offer"), "decision_id"])
    assert list(got.loc[nbo, "example_decisions"]) == unreviewed_ids[:5]


@pytest.mark.parametrize("name,column", [("gov_oversight__unreviewed", "example_decisions"),
                                         ("gov_reconciliation__revenue", "example_opportunities"),
                                         ("gov_reconciliation__consent", "example_ids"),
                                         ("gov_consent__sends_after_opt_out", "example_recipients")])
def test_example_evidence_names_only_real_subjects(mart, name, column):
    """Examples go into findings and Slack as evidence: a row with nothing to show lists nothing, never a null."""
    for examples in mart(name)[column]:
        assert None not in list(examples), f"{name}.{column} = {list(examples)}"


# ---------------------------------------------------------------------------------------------- landing twice

STAGING_KEYS = {
    "stg_salesforce__accounts": "account_id", "stg_salesforce__contacts": "contact_id",
    "stg_salesforce__leads": "lead_id", "stg_salesforce__campaigns": "campaign_id",
    "stg_salesforce__campaign_members": "campaign_member_id", "stg_salesforce__opportunities": "opportunity_id",
    "stg_hubspot__contacts": "hubspot_contact_id", "stg_hubspot__email_events": "email_event_id",
    "stg_hubspot__marketing_emails": "marketing_email_id", "stg_hubspot__subscriptions": "subscription_key",
    "stg_google_ads__campaign_stats": "campaign_day_id", "stg_cdp__profiles": "profile_id",
    "stg_decisions__ai_decisions": "decision_id",
    "stg_google_ads__audience_uploads": "upload_row_id", "stg_cdp__erasure_requests": "request_id",
}
STABLE_MARTS = ["gov_reconciliation__spend", "gov_reconciliation__revenue", "gov_bias__selection_rates",
                "gov_consent__sends_after_opt_out", "gov_transparency__reasons", "gov_oversight__unreviewed",
                "gov_reconciliation__consent", "gov_metric_balance__frequency", "gov_metric_balance__resources",
                "gov_transparency__records", "gov_oversight__review_coverage", "gov_oversight__review_latency"]


def _staging_profile(wh: Warehouse) -> dict[str, tuple[int, int]]:
    """(rows, distinct keys) of every staging model."""
    with wh.connect() as con:
        return {m: con.execute(f"select count(*), count(distinct {k}) from staging.{m}").fetchone()
                for m, k in STAGING_KEYS.items()}


def _re_export(src: Path, dst: Path) -> None:
    """The same records written again with different bytes, as a platform's next full export would be."""
    shutil.copytree(src, dst)
    for path in dst.rglob("*"):
        if path.suffix in (".csv", ".jsonl"):
            path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
        elif path.suffix == ".parquet":
            pq.write_table(pq.read_table(path), path, compression="zstd")


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.map(lambda v: tuple(v) if isinstance(v, (list, np.ndarray)) else v)
    return frame.sort_values(list(frame.columns)[:3]).reset_index(drop=True)


def test_landing_the_same_workspace_twice_keeps_one_row_per_key(governed, tmp_path):
    ws, original = governed
    # a copy, so the other tests keep their warehouse as govern() left it; dbt-duckdb keeps the database open in
    # this process, so its models may still sit in the write-ahead log until a checkpoint
    with original.connect() as con:
        con.execute("checkpoint")
    wh = Warehouse(shutil.copy(original.path, tmp_path / "w.duckdb"))
    before = _staging_profile(wh)
    assert all(rows == keys for rows, keys in before.values())
    assert before["stg_salesforce__contacts"][0] == ws.counts["salesforce.contacts"]
    with wh.pinned():  # the twelve marts read through one open of the file, not one open and checkpoint each
        marts_before = {m: wh.query_df(f"select * from governance.{m}") for m in STABLE_MARTS}

    # the identical files again: recognised by content and skipped, nothing appended
    again = land_exports(wh, ws.exports, run_id="t2")
    assert {f"{r.integration}.{r.entity}" for r in again} == set(ws.counts)
    assert all(r.skipped and r.rows_loaded == 0 for r in again)

    # a byte-different re-export of the same records: every batch lands again, and replaces its rows by key
    _re_export(ws.exports, tmp_path / "exports2")
    second = land_exports(wh, tmp_path / "exports2", run_id="t3")
    assert not any(r.skipped for r in second)
    loaded: dict[str, int] = {}
    for r in second:
        loaded[f"{r.integration}.{r.entity}"] = loaded.get(f"{r.integration}.{r.entity}", 0) + r.rows_loaded
    assert loaded == ws.counts
    with wh.connect() as con:
        raw_contacts = con.execute('select count(*) from raw."salesforce__contacts"').fetchone()[0]
    assert raw_contacts == ws.counts["salesforce.contacts"]  # merged by key, not appended

    # dbt's unit tests read fixture rows, not the landed ones: the session's template build runs them (governed.py)
    dbt_build.build(wh.path, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": pd.Timestamp.now(tz="UTC").isoformat()},
                    exclude=["test_type:unit"])
    with wh.pinned():  # dbt is done: the same reads through one open again
        assert _staging_profile(wh) == before
        for m, frame in marts_before.items():
            pd.testing.assert_frame_equal(_sorted(wh.query_df(f"select * from governance.{m}")), _sorted(frame),
                                          check_exact=False, obj=m)
