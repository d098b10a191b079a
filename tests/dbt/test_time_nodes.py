"""Issue #12, the nodes every governance run rebuilds: the models that read the run's time (as_of) are cheap.

A run with nothing new rebuilds only the models whose SQL reads as_of and what reads them. Two of them used to read
every email event at every run: int_email_sends__contact_weeks, a view that hashed every recipient and grouped every
send again for each of its readers and for its key test (6.2 s for the test alone at 1M contacts / 10M events), and
the frequency and over-optimisation marts, which counted every event through the int_email_events__attributed view.
The part that does not depend on as_of now lives in tables such a run keeps (int_email_sends__addressed: each send,
masked and attributed; int_email_events__instants: events per email, campaign, type and instant), and the as_of
models regroup those.

What must hold, and is checked here on a tiny warehouse built by the real dbt project:
- the weekly sends are still counted back from as_of to the instant (a send exactly 168 h before as_of is week 1,
  one a millisecond later week 0, one after as_of is not counted), at the build's as_of and at any other;
- counting events per instant gives exactly what counting each event gives, for the frequency, over-optimisation and
  anomaly marts, at any as_of;
- no as_of model is a view read twice or by a data test (a view runs its whole query again for each reader and each
  test), and none reads the event-grain view int_email_events__attributed.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiny import AS_OF, Compiled, build, ms, tiny_policy, tiny_warehouse, ts

POLICY = tiny_policy(metric_window_days=7, contact_cap_per_week=2)
SELECT = ["+gov_metric_balance__frequency", "+gov_metric_balance__campaigns", "+gov_anomaly__daily_metrics"]
C1, C2 = (f"701{k:015d}" for k in (1, 2))
EMAILS = {"700001": C1, "700002": C2, "700003": C1}  # 799999 belongs to no campaign
WEEK = pd.Timedelta(hours=168)
TIME_INDEPENDENT = ["int_email_events__instants", "int_email_sends__addressed"]
AS_OF_MODELS = ["int_email_sends__contact_weeks", "int_metrics__daily", "gov_metric_balance__frequency",
                "gov_metric_balance__campaigns", "gov_anomaly__daily_metrics"]


def _events() -> pd.DataFrame:
    """Sends and engagement over four weeks, with sends on the week edges as_of defines."""
    rows = []

    def add(kind: str, email: int, people: str, at: pd.Timestamp) -> None:
        rows.extend({"type": kind, "recipient": f"{p}@example.com", "emailCampaignId": email, "created": ms_of(at),
                     "portalId": 1} for p in people)

    for week in range(4):
        at = AS_OF - week * WEEK - pd.Timedelta(days=2)
        add("SENT", 700001, "abcd", at)
        add("DELIVERED", 700001, "abc", at + pd.Timedelta(minutes=2))
        add("CLICK", 700001, "a" if week else "ab", at + pd.Timedelta(hours=1))
        add("SENT", 700002, "ad", at + pd.Timedelta(hours=3))
        add("STATUSCHANGE", 700002, "d", at + pd.Timedelta(hours=5))
    add("SENT", 700003, "ab", AS_OF - WEEK)  # exactly 168 h back: week 1
    add("SENT", 700003, "ab", AS_OF - WEEK + pd.Timedelta(milliseconds=1))  # a millisecond later: week 0
    add("SENT", 700003, "c", AS_OF)  # at as_of: week 0
    add("SENT", 700003, "c", AS_OF + pd.Timedelta(minutes=1))  # after as_of: not counted
    add("SENT", 799999, "aa", AS_OF - pd.Timedelta(days=1))  # no campaign: counts towards a's total only
    add("SPAMREPORT", 700001, "b", AS_OF - pd.Timedelta(days=9))
    frame = pd.DataFrame(rows)
    return frame.assign(id=[f"ev{i:04d}" for i in range(len(frame))])


def ms_of(at: pd.Timestamp) -> int:
    return int(at.value // 10**6)


def _emails() -> pd.DataFrame:
    return pd.DataFrame({"id": list(EMAILS), "name": ["Nurture", "Teaser", "Reminder"], "state": "PUBLISHED",
                         "subject": "s", "salesforceCampaignId": list(EMAILS.values()), "updatedAt": AS_OF})


def _campaigns() -> pd.DataFrame:
    return pd.DataFrame({"Id": [C1, C2], "Name": ["Nurture", "Teaser"], "Type": "Email", "Status": "In Progress",
                         "IsActive": True, "StartDate": ts("2026-10-01"), "EndDate": ts("2026-12-31"),
                         "ActualCost": 0.0, "Google_Ads_Campaign_Id__c": None, "SystemModstamp": AS_OF})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("time_nodes")
    wh = tiny_warehouse(root, {"hubspot.email_events": _events(), "hubspot.marketing_emails": _emails(),
                               "salesforce.campaigns": _campaigns()})
    build(wh, root / "dbt", POLICY, SELECT)
    return wh, Compiled(root / "dbt"), root / "dbt"


def _weekly_reference(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """int_email_sends__contact_weeks by its definition, in pandas: whole weeks of 168 h back from as_of."""
    sent = events[(events["type"] == "SENT")].copy()
    sent["at"] = pd.to_datetime(sent["created"], unit="ms", utc=True)
    sent = sent[sent["at"] <= as_of]
    sent["weeks_ago"] = ((as_of - sent["at"]) / WEEK).apply(np.floor).astype(int)
    sent["campaign_id"] = sent["emailCampaignId"].astype(str).map(EMAILS)
    person = sent.groupby(["recipient", "weeks_ago"]).size().rename("person_sends")
    campaign = sent.dropna(subset=["campaign_id"]).groupby(["recipient", "campaign_id", "weeks_ago"]).size()
    out = campaign.rename("campaign_sends").reset_index().join(person, on=["recipient", "weeks_ago"])
    return out.sort_values(["recipient", "campaign_id", "weeks_ago"]).reset_index(drop=True)


def _comparable(weeks: pd.DataFrame, tokens: dict[str, str]) -> pd.DataFrame:
    out = weeks.assign(recipient=weeks["contact_token"].map(tokens))
    out = out[["recipient", "campaign_id", "weeks_ago", "campaign_sends", "person_sends"]]
    return out.astype({"weeks_ago": int, "campaign_sends": int, "person_sends": int}) \
        .sort_values(["recipient", "campaign_id", "weeks_ago"]).reset_index(drop=True)


def _tokens(wh) -> dict[str, str]:
    """Masked token -> address, for the tiny workspace's few people (the mask is the project's own macro)."""
    frame = wh.query_df("select distinct email_key from staging.int_email_events__attributed")
    with wh.connect() as con:
        pairs = con.execute("select left(md5(lower(trim(e))), 10), e from unnest(?) as t(e)",
                            [frame["email_key"].tolist()]).fetchall()
    return {f"h:{token}": email for token, email in pairs}


def test_weekly_sends_count_back_from_as_of_to_the_instant(built):
    wh = built[0]
    weeks = wh.query_df("select * from staging.int_email_sends__contact_weeks")
    got = _comparable(weeks, _tokens(wh))
    want = _weekly_reference(_events(), AS_OF)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    reminder = got[(got["campaign_id"] == C1) & (got["recipient"] == "c@example.com")]
    assert reminder[["weeks_ago", "campaign_sends"]].values.tolist() == [[0, 2], [1, 1], [2, 1], [3, 1]]
    edge = got[(got["recipient"] == "b@example.com") & (got["campaign_id"] == C1)].set_index("weeks_ago")
    assert edge.loc[0, "campaign_sends"] == 1 + 1 and edge.loc[1, "campaign_sends"] == 1 + 1  # the edge sends
    a_week0 = got[(got["recipient"] == "a@example.com") & (got["weeks_ago"] == 0)]
    assert set(a_week0["person_sends"]) == {1 + 1 + 1 + 2}  # Nurture, Teaser, Reminder, two without a campaign
    # the key no data test reads any more: unique and never null by construction
    assert (weeks["contact_week_id"] == weeks["contact_token"] + "|" + weeks["campaign_id"] + "|"
            + weeks["weeks_ago"].astype(str)).all()
    assert weeks["contact_week_id"].notna().all() and weeks["contact_week_id"].is_unique


def _at(sql: str, as_of: pd.Timestamp) -> str:
    """The compiled SQL of an as_of model, as dbt would compile it at another as_of."""
    return sql.replace(AS_OF.isoformat(), as_of.isoformat())


def _run_at(compiled: Compiled, models: list[str], inputs: dict[str, pd.DataFrame],
            as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    original = dict(compiled.sql)
    try:
        for model in models:
            compiled.sql[model] = _at(original[model], as_of)
        return compiled.run_many(models, inputs)
    finally:
        compiled.sql.clear()
        compiled.sql.update(original)


def _inputs(wh) -> dict[str, pd.DataFrame]:
    names = ["int_email_events__attributed", "int_touches__attributed", "int_campaigns__directory",
             "stg_salesforce__campaigns", "stg_hubspot__marketing_emails", "stg_google_ads__campaign_stats",
             "stg_steward__batches", "stg_custom__ad_spend"]
    return {f"staging.{n}": wh.query_df(f"select * from staging.{n}") for n in names}


AS_OFS = st.builds(lambda hours, seconds: AS_OF + pd.Timedelta(hours=hours, seconds=seconds),
                   st.integers(-24 * 10, 24 * 10), st.integers(0, 3599))


@settings(max_examples=10, deadline=None)
@given(AS_OFS)
def test_the_kept_tables_regrouped_at_any_as_of_give_the_definition(built, as_of):
    """The time-independent tables built at the first as_of, regrouped by the as_of models at another, give what the
    definition gives at that other as_of: a run with nothing new may keep them."""
    wh, compiled, _ = built
    kept = {f"staging.{n}": wh.query_df(f"select * from staging.{n}") for n in TIME_INDEPENDENT}
    weeks = _run_at(compiled, ["int_email_sends__contact_weeks"], kept, as_of)["int_email_sends__contact_weeks"]
    pd.testing.assert_frame_equal(_comparable(weeks, _tokens(wh)), _weekly_reference(_events(), as_of),
                                  check_dtype=False)


@settings(max_examples=4, deadline=None)
@given(AS_OFS)
def test_counting_per_instant_is_counting_each_event(built, as_of):
    """The marts over int_email_events__instants equal the marts over a table with one row per event (events = 1):
    grouping the events of one instant changes no count, at any as_of."""
    wh, compiled, _ = built
    inputs = _inputs(wh)
    models = [*TIME_INDEPENDENT, *AS_OF_MODELS]
    grouped = _run_at(compiled, models, inputs, as_of)
    each = compiled.sql["int_email_events__instants"]
    compiled.sql["int_email_events__instants"] = re.sub(r"count\(\*\)", "cast(1 as bigint)", each.split("group by")[0])
    try:
        one_by_one = _run_at(compiled, models, inputs, as_of)
    finally:
        compiled.sql["int_email_events__instants"] = each
    assert len(one_by_one["int_email_events__instants"]) == len(inputs["staging.int_email_events__attributed"])
    assert len(grouped["int_email_events__instants"]) < len(one_by_one["int_email_events__instants"])
    for model in AS_OF_MODELS:
        key = {"int_email_sends__contact_weeks": "contact_week_id", "int_metrics__daily": "series_day_id",
               "gov_anomaly__daily_metrics": "series_id"}.get(model, "campaign_id")
        a = grouped[model].sort_values(key).reset_index(drop=True)
        b = one_by_one[model].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a.map(_hashable), b.map(_hashable), check_dtype=True, obj=model)
    assert not grouped["gov_metric_balance__frequency"].empty and not grouped["gov_metric_balance__campaigns"].empty


def _hashable(value):
    return tuple(value) if isinstance(value, (list, np.ndarray)) else value


def test_no_as_of_model_is_a_view_read_twice_or_reads_every_event(built):
    """A view runs its whole query again for each reader and each data test. The one as_of view left,
    int_email_sends__contact_weeks (a row per person, campaign and week: writing it would cost more than reading
    it once), has one reader in a governance build and no data test; every other as_of model is a table."""
    wh, compiled, work = built
    as_of_models = {m for m, sql in compiled.sql.items() if AS_OF.isoformat() in sql}
    assert set(AS_OF_MODELS) <= as_of_models
    assert not as_of_models & set(TIME_INDEPENDENT)  # what a run with nothing new keeps does not read as_of
    kinds = dict(wh.query_df("select table_name, table_type from information_schema.tables").values.tolist())
    views = {m for m in as_of_models if kinds[m] == "VIEW"}
    assert views == {"int_email_sends__contact_weeks"}
    assert {m for m in as_of_models - views if kinds[m] != "BASE TABLE"} == set()
    relation = '"int_email_sends__contact_weeks"'  # as compiled SQL names a relation (comments name it bare)
    readers = {m for m, sql in compiled.sql.items() if relation in sql} - views
    assert readers == {"gov_metric_balance__frequency"}
    compiled_tests = [p for p in (work / "target" / "compiled").rglob("*.sql")
                      if any(d.endswith(".yml") for d in p.parts)]
    assert compiled_tests, "the build compiled its data tests"
    assert [p.name for p in compiled_tests if relation in p.read_text()] == []
    assert {m for m in as_of_models if '"int_email_events__attributed"' in compiled.sql[m]} == set()
