"""Ad spend against the CRM, per campaign (its ActualCost) and per day (its dates), on a workspace worked by hand.

The real dbt project builds ``gov_reconciliation__spend``, ``gov_reconciliation__spend_days`` and
``gov_reconciliation__spend_flight`` from hand-built raw rows at AS_OF (2026-11-20 12:00 UTC), with one grace day,
and the packaged policy judges them. Per day:

    9006 Search - Brand      CRM 11-01..11-10. Google 100 a day 11-05..11-19, and 999 on 11-21 (after AS_OF, not
                             counted). 11-11 is the grace day; 11-12..11-19 are 8 days and 800 after the end, of
                             1500: 0.5333 -> critical (> 0.05), pause in Google Ads
    9007 Search - Competitor CRM 11-10..12-31. Google 200 on 11-07 (3 days early), 100 on 11-09 (the grace day),
                             100 a day 11-10..11-12. 200 of 600 before the start: 0.3333 -> warn (> 0)
    9008 Display - Retarget. CRM 11-01..11-15. Google 300 on 11-14, 300 on 11-16 (the grace day): no finding
    9009 Video - Awareness   CRM without dates: every day is inside. No finding
    9010 Display - Prosp.    CRM 11-01..11-17. Google 1000 on 11-15 and 11-16, 40 on 11-19 (2 days after the end):
                             40 / 2040 = 0.0196 -> warn (> 0, not > 0.05)
    701..1 Nurture (email)   no Google Ads id: in no mart

Per campaign, every reported day against ActualCost: 9006 2499 (the day after AS_OF included) vs 2499, 9007 600 vs
600, 9010 2040 vs 2040 agree; 9008 600 vs 500 is 100 / 600 = 0.1667 apart -> warn (> 0.05); 9009 100 vs 0 -> 1.0,
critical (> 0.20). The totals agree for 9006: only the days show that a fifth of its money came after the end.

Hypothesis then runs the SQL dbt compiled for both marts on generated rows against their definition in pandas.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.contracts.campaigns import campaign_key
from steward.contracts.governance import evaluate
from steward.integrations.warehouse.sample_queries import governance_sample_query
from tiny import AS_OF, Compiled, build, mart, tiny_policy, tiny_warehouse, ts

pytestmark = pytest.mark.slow

AFTER, BEFORE = "reconciliation.spend_after_crm_end", "reconciliation.spend_before_crm_start"
TOTAL = "reconciliation.ad_spend_vs_crm_cost"
POLICY = tiny_policy()
FLIGHT_POLICY = POLICY.model_copy(update={"checks": {k: POLICY.checks[k] for k in (AFTER, BEFORE)}})
SPEND_POLICY = POLICY.model_copy(update={"checks": {k: POLICY.checks[k] for k in (TOTAL, AFTER, BEFORE)}})
NAMES = {1: "Nurture", 6: "Search - Brand", 7: "Search - Competitor", 8: "Display - Retargeting",
         9: "Video - Awareness", 10: "Display - Prospecting"}
CRM = {k: f"701{k:015d}" for k in NAMES}
FLIGHTS = {1: ("2026-11-01", "2026-11-30"), 6: ("2026-11-01", "2026-11-10"), 7: ("2026-11-10", "2026-12-31"),
           8: ("2026-11-01", "2026-11-15"), 9: (None, None), 10: ("2026-11-01", "2026-11-17")}
SPEND = [*[(6, f"2026-11-{d:02d}", 100.0) for d in range(5, 20)], (6, "2026-11-21", 999.0),
         (7, "2026-11-07", 200.0), (7, "2026-11-09", 100.0), *[(7, f"2026-11-{d}", 100.0) for d in (10, 11, 12)],
         (8, "2026-11-14", 300.0), (8, "2026-11-16", 300.0), (9, "2026-01-02", 50.0), (9, "2026-11-19", 50.0),
         (10, "2026-11-15", 1000.0), (10, "2026-11-16", 1000.0), (10, "2026-11-19", 40.0)]
ACTUAL_COST = {1: 4000.0, 6: 2499.0, 7: 600.0, 8: 500.0, 9: 0.0, 10: 2040.0}


def _campaigns(flights: dict = FLIGHTS, actual_cost: dict = ACTUAL_COST) -> pd.DataFrame:
    keys = list(NAMES)
    return pd.DataFrame({
        "Id": [CRM[k] for k in keys], "Name": [NAMES[k] for k in keys],
        "Type": ["Email" if k == 1 else "Advertisement" for k in keys], "Status": "In Progress", "IsActive": True,
        "StartDate": [ts(flights[k][0]) if flights[k][0] else pd.NaT for k in keys],
        "EndDate": [ts(flights[k][1]) if flights[k][1] else pd.NaT for k in keys],
        "ActualCost": [actual_cost[k] for k in keys],
        "Google_Ads_Campaign_Id__c": [None if k == 1 else f"{9000 + k}" for k in keys], "SystemModstamp": AS_OF})


def _ads() -> pd.DataFrame:
    return pd.DataFrame({
        "campaign.id": [f"{9000 + k}" for k, _, _ in SPEND], "campaign.name": [NAMES[k] for k, _, _ in SPEND],
        "campaign.status": "ENABLED", "segments.date": [ts(d) for _, d, _ in SPEND],
        "metrics.cost_micros": [int(cost * 10**6) for _, _, cost in SPEND], "metrics.impressions": 1000,
        "metrics.clicks": 50, "metrics.conversions": 2.0, "metrics.conversions_value": 0.0})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("spend-flight")
    wh = tiny_warehouse(root, {"salesforce.campaigns": _campaigns(), "google_ads.campaign_stats": _ads()})
    build(wh, root / "dbt", POLICY, ["+gov_reconciliation__spend_flight", "+gov_reconciliation__spend"])
    return wh, Compiled(root / "dbt")


@pytest.fixture(scope="module")
def wh(built):
    return built[0]


def _day(n: int) -> pd.Timestamp:
    return pd.Timestamp(f"2026-11-{n:02d}")


def test_every_reported_day_is_placed_against_the_crm_dates(wh):
    days = mart(wh, "gov_reconciliation__spend_days", "campaign_id, spend_date")
    assert len(days) == len(SPEND) - 1  # 11-21 is after AS_OF's day; the email campaign has no Google Ads id
    brand = days[days["google_ads_campaign_id"] == "9006"].set_index("spend_date")
    assert brand.loc[_day(10), ["flight_position", "days_outside", "is_beyond_grace"]].tolist() == [
        "in_flight", 0, False]
    assert brand.loc[_day(11), ["flight_position", "days_outside", "is_beyond_grace"]].tolist() == [
        "after_end", 1, False]
    assert brand.loc[_day(19), ["flight_position", "days_outside", "is_beyond_grace"]].tolist() == [
        "after_end", 9, True]
    competitor = days[days["google_ads_campaign_id"] == "9007"].set_index("spend_date")
    assert competitor.loc[_day(7), ["flight_position", "days_outside", "is_beyond_grace"]].tolist() == [
        "before_start", 3, True]
    video = days[days["google_ads_campaign_id"] == "9009"]
    assert set(video["flight_position"]) == {"in_flight"} and video["crm_end_date"].isna().all()


def test_the_flight_mart_sums_the_spend_outside_beyond_the_grace_days(wh):
    got = mart(wh, "gov_reconciliation__spend_flight").set_index("google_ads_campaign_id")
    assert sorted(got.index) == ["9006", "9007", "9008", "9009", "9010"]
    brand = got.loc["9006"]
    assert (brand["days_reported"], brand["ads_spend"], brand["days_after_end"], brand["spend_after_end"]) == (
        15, 1500.0, 8, 800.0)
    assert (brand["first_day_after_end"], brand["last_day_after_end"], brand["crm_end_date"]) == (
        "2026-11-12", "2026-11-19", "2026-11-10")
    assert brand["spend_after_end_pct"] == pytest.approx(800 / 1500)
    assert (brand["days_before_start"], brand["spend_before_start"], brand["spend_before_start_pct"]) == (0, 0.0, 0.0)
    assert (brand["control_platform"], brand["control_campaign_id"], brand["campaign_id"]) == (
        "google_ads", "9006", CRM[6])
    competitor = got.loc["9007"]
    assert (competitor["days_before_start"], competitor["spend_before_start"]) == (1, 200.0)
    assert (competitor["first_day_before_start"], competitor["last_day_before_start"]) == ("2026-11-07", "2026-11-07")
    assert competitor["spend_before_start_pct"] == pytest.approx(200 / 600)
    assert got.loc["9008", ["spend_after_end", "spend_before_start"]].tolist() == [0.0, 0.0]
    assert got.loc["9009", ["spend_after_end_pct", "spend_before_start_pct"]].tolist() == [0.0, 0.0]
    assert got.loc["9010", "spend_after_end_pct"] == pytest.approx(40 / 2040)


def test_policy_finds_exactly_the_spend_outside_the_crm_dates(wh):
    findings = evaluate(FLIGHT_POLICY, lambda name: mart(wh, name), "run-1", governance_sample_query)
    by_subject = {(f.check_id, f.subject): f for f in findings}
    assert sorted(by_subject) == [(AFTER, CRM[6]), (AFTER, CRM[10]), (BEFORE, CRM[7])]

    brand = by_subject[(AFTER, CRM[6])]
    assert (brand.family, brand.severity.value, brand.subject_type, brand.metric) == (
        "reconciliation", "critical", "campaign", "spend_after_end_pct")
    assert (brand.threshold, brand.owner, brand.action) == (0.05, "paid-media", "pause")
    assert brand.observed == pytest.approx(800 / 1500)
    assert brand.evidence == {"campaign_name": "Search - Brand", "crm_end_date": "2026-11-10", "days_after_end": 8,
                              "spend_after_end": 800.0, "first_day_after_end": "2026-11-12",
                              "last_day_after_end": "2026-11-19", "ads_spend": 1500.0,
                              "campaign": f"salesforce:{CRM[6]}", "pause_campaign": "google_ads:9006"}
    assert brand.explanation == (
        "Google Ads kept charging 'Search - Brand' after the CRM campaign ended on 2026-11-10: 800.00 on 8 day(s) "
        "from 2026-11-12 to 2026-11-19, 53% of its spend (tolerance 5%). No campaign in the CRM plans or books that "
        "money; stop the ad campaign or extend the CRM campaign's dates.")
    assert brand.target == {"platform": "google_ads", "campaign_id": "9006"}
    assert brand.sample_query == (
        f"select * from governance.gov_reconciliation__spend_flight where campaign_id = '{CRM[6]}'")

    prospecting = by_subject[(AFTER, CRM[10])]
    assert (prospecting.severity.value, prospecting.threshold, prospecting.action) == ("warn", 0.0, "alert")
    assert prospecting.evidence["days_after_end"] == 1 and prospecting.evidence["spend_after_end"] == 40.0

    competitor = by_subject[(BEFORE, CRM[7])]
    assert (competitor.severity.value, competitor.action, competitor.owner) == ("warn", "alert", "paid-media")
    assert competitor.observed == pytest.approx(1 / 3)
    assert competitor.explanation.startswith(
        "Google Ads charged 'Search - Competitor' 200.00 on 1 day(s) from 2026-11-07 to 2026-11-07, before the CRM "
        "campaign starts on 2026-11-10: 33% of its spend")


def test_the_totals_and_the_days_each_find_their_own_problems(wh):
    findings = evaluate(SPEND_POLICY, lambda name: mart(wh, name), "run-1")
    got = sorted((f.check_id, f.subject, f.severity.value, round(f.observed, 4), f.action) for f in findings)
    assert got == [(TOTAL, CRM[8], "warn", round(100 / 600, 4), "alert"), (TOTAL, CRM[9], "critical", 1.0, "alert"),
                   (AFTER, CRM[6], "critical", round(800 / 1500, 4), "pause"),
                   (AFTER, CRM[10], "warn", round(40 / 2040, 4), "alert"),
                   (BEFORE, CRM[7], "warn", round(200 / 600, 4), "alert")]
    total = next(f for f in findings if f.subject == CRM[9])
    assert total.evidence == {"campaign_name": "Video - Awareness", "ads_spend": 100.0, "crm_actual_cost": 0.0,
                              "spend_diff": 100.0, "days_reported": 2, "campaign": f"salesforce:{CRM[9]}",
                              "pause_campaign": campaign_key(**total.target)}


def test_a_clean_twin_gives_no_finding(tmp_path_factory):
    """The same spend, with CRM dates that cover every day and costs that match: nothing to find, yet every linked
    campaign is compared."""
    root = tmp_path_factory.mktemp("spend-clean")
    flights = {k: ("2026-01-01", "2026-12-31") for k in NAMES}
    cost = {k: sum(c for key, _, c in SPEND if key == k) for k in NAMES}
    wh = tiny_warehouse(root, {"salesforce.campaigns": _campaigns(flights, cost), "google_ads.campaign_stats": _ads()})
    build(wh, root / "dbt", POLICY, ["+gov_reconciliation__spend_flight", "+gov_reconciliation__spend"])
    assert evaluate(SPEND_POLICY, lambda name: mart(wh, name), "run-1") == []
    assert len(mart(wh, "gov_reconciliation__spend_flight")) == len(mart(wh, "gov_reconciliation__spend")) == 5


def test_a_wider_grace_forgives_the_edge_days_and_nothing_else(tmp_path_factory):
    """Three grace days: 9007's early day (3 days out) and 9010's late day (2 out) are forgiven; 9006 keeps 6."""
    root = tmp_path_factory.mktemp("spend-flight-grace")
    wh = tiny_warehouse(root, {"salesforce.campaigns": _campaigns(), "google_ads.campaign_stats": _ads()})
    policy = tiny_policy(FLIGHT_POLICY, spend_flight_grace_days=3)
    build(wh, root / "dbt", policy, ["+gov_reconciliation__spend_flight"])
    findings = evaluate(policy, lambda name: mart(wh, name), "run-1")
    assert [(f.check_id, f.subject, f.evidence["days_after_end"]) for f in findings] == [(AFTER, CRM[6], 6)]


# ---------------------------------------------------------------------------------------------- properties
# The exact SQL dbt compiled, over generated staging rows, against the marts' definition written in pandas.

FIRST_DAY = date(2026, 11, 1)  # generated days run to 11-25, past AS_OF's day (11-20)
NO_CUSTOM_SPEND = pd.DataFrame({  # no custom ad platform: int_ad_spend__booked is empty
    "campaign_key": pd.Series(dtype=object), "campaign_name": pd.Series(dtype=object),
    "system": pd.Series(dtype=object), "booked_in": pd.Series(dtype=object),
    "report_date": pd.Series(dtype="datetime64[ns]"), "spend": pd.Series(dtype="float64"),
    "start_date": pd.Series(dtype="datetime64[ns]"), "end_date": pd.Series(dtype="datetime64[ns]")})
_cost = st.integers(0, 100_000).map(lambda cents: cents / 100)
_edge = st.one_of(st.none(), st.integers(0, 24))


def _oracle(start: int | None, end: int | None, days: dict[int, float]) -> dict:
    """The flight mart's row as the models' header comments define it (grace = 1 day)."""
    seen = {d: cost for d, cost in days.items() if FIRST_DAY + timedelta(d) <= AS_OF.date()}
    after = {d: c for d, c in seen.items() if end is not None and d - end > 1}
    before = {d: c for d, c in seen.items() if start is not None and start - d > 1}
    total = sum(seen.values())
    return {"days_reported": len(seen), "ads_spend": total, "days_after_end": len(after),
            "spend_after_end": sum(after.values()), "days_before_start": len(before),
            "spend_before_start": sum(before.values()),
            "last_day_after_end": str(FIRST_DAY + timedelta(max(after))) if after else None}


@settings(max_examples=80, deadline=None)
@given(_edge, _edge, st.dictionaries(st.integers(0, 24), _cost, min_size=1, max_size=15))
def test_the_compiled_marts_match_their_definition(built, start, end, days):
    if start is not None and end is not None and start > end:
        start, end = end, start  # Salesforce refuses a campaign that ends before it starts
    day = lambda n: FIRST_DAY + timedelta(n) if n is not None else None  # noqa: E731
    inputs = {
        "staging.stg_salesforce__campaigns": pd.DataFrame({
            "campaign_id": ["701A"], "campaign_name": ["A"], "google_ads_campaign_id": ["9001"],
            "start_date": pd.Series([day(start)], dtype=object), "end_date": pd.Series([day(end)], dtype=object)}),
        "staging.stg_google_ads__campaign_stats": pd.DataFrame({
            "google_ads_campaign_id": pd.Series(["9001"] * len(days), dtype=object),
            "report_date": pd.Series([day(d) for d in days], dtype=object),
            "cost": pd.Series(list(days.values()), dtype="float64")}),
        "staging.int_ad_spend__booked": NO_CUSTOM_SPEND}
    rows = built[1].chain(["gov_reconciliation__spend_days", "gov_reconciliation__spend_flight"], inputs)
    want = _oracle(start, end, days)
    if not want["days_reported"]:
        assert rows.empty
        return
    row = rows.iloc[0].to_dict()
    assert (row["days_reported"], row["days_after_end"], row["days_before_start"]) == (
        want["days_reported"], want["days_after_end"], want["days_before_start"])
    for money in ("ads_spend", "spend_after_end", "spend_before_start"):
        assert row[money] == pytest.approx(want[money], abs=0.006), money
    assert (row["last_day_after_end"] if not pd.isna(row["last_day_after_end"]) else None) == \
        want["last_day_after_end"]
    if want["ads_spend"] >= 0.01:
        assert 0.0 <= row["spend_after_end_pct"] + row["spend_before_start_pct"] <= 1.0 + 1e-9
