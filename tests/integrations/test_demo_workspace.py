"""The demo generator: deterministic, scalable, and each injection switch changes what it says and nothing else."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from steward.integrations.demo.generator import generate_workspace
from steward.integrations.demo.injections import EXPECTED_CHECKS, Injections

AS_OF = pd.Timestamp("2026-11-20 12:00", tz="UTC")


def _digests(ws) -> dict[str, str]:
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in ws.files.items()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The clean workspace at scale 0.2 that every switch is compared with, drawn once for the module (the
    generator is deterministic: test_same_seed_gives_identical_files); the tests only read it."""
    return generate_workspace(tmp_path_factory.mktemp("clean"), scale=0.2, as_of=AS_OF, injections=Injections.none())


@pytest.fixture(scope="module")
def clean_half(tmp_path_factory):
    """The same at scale 0.5, for the switches judged on a campaign's numbers."""
    return generate_workspace(tmp_path_factory.mktemp("clean_half"), scale=0.5, as_of=AS_OF,
                              injections=Injections.none())


def test_same_seed_gives_identical_files(tmp_path):
    a = generate_workspace(tmp_path / "a", seed=3, scale=0.2, as_of=AS_OF)
    b = generate_workspace(tmp_path / "b", seed=3, scale=0.2, as_of=AS_OF)
    c = generate_workspace(tmp_path / "c", seed=4, scale=0.2, as_of=AS_OF)
    assert _digests(a) == _digests(b)
    assert _digests(a)["hubspot.email_events"] != _digests(c)["hubspot.email_events"]


def test_every_platform_export_is_written_in_its_format(tmp_path):
    ws = generate_workspace(tmp_path, scale=0.2, as_of=AS_OF)
    suffixes = {k: p.suffix for k, p in ws.files.items()}
    assert suffixes["salesforce.contacts"] == ".csv"
    assert suffixes["hubspot.email_events"] == ".jsonl"
    assert suffixes["google_ads.campaign_stats"] == ".csv"
    assert suffixes["cdp.profiles"] == ".parquet"
    assert suffixes["decisions.ai_decisions"] == ".parquet"
    header = ws.files["google_ads.campaign_stats"].read_text().splitlines()[0]
    assert "metrics.cost_micros" in header and "segments.date" in header


def test_scale_multiplies_people_and_activity(tmp_path):
    small = generate_workspace(tmp_path / "s", scale=0.5, as_of=AS_OF)
    large = generate_workspace(tmp_path / "l", scale=1.0, as_of=AS_OF)
    assert large.counts["cdp.profiles"] == 2 * small.counts["cdp.profiles"] == 3000
    ratio = large.counts["hubspot.email_events"] / small.counts["hubspot.email_events"]
    assert 1.8 < ratio < 2.2


def test_schema_drift_switch_renames_one_column_only(tmp_path, clean):
    on = generate_workspace(tmp_path / "on", scale=0.2, as_of=AS_OF)
    off = clean
    on_cols = on.files["salesforce.leads"].read_text().splitlines()[0].split(",")
    off_cols = off.files["salesforce.leads"].read_text().splitlines()[0].split(",")
    assert set(on_cols) ^ set(off_cols) == {"LeadSource", "Lead_Source__c"}


def test_stale_switch_ages_only_the_cdp(tmp_path):
    on = generate_workspace(tmp_path / "on", scale=0.2, as_of=AS_OF, injections=Injections(stale_integration=True))
    profiles = pd.read_parquet(on.files["cdp.profiles"])
    assert AS_OF - profiles["updated_at"].max() >= pd.Timedelta(days=5)
    decisions = pd.read_parquet(on.files["decisions.ai_decisions"])
    assert AS_OF - decisions["decided_at"].max() < pd.Timedelta(days=1)


def test_every_switch_names_a_check_in_the_policy():
    from steward.contracts.policy import load_policy

    checks = set(load_policy().checks)
    assert set(EXPECTED_CHECKS) == set(Injections().enabled())
    for ids in EXPECTED_CHECKS.values():
        assert set(ids) <= checks


def test_scale_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        generate_workspace(tmp_path, scale=0)


# switch -> (the export it plants in, exports it may also touch): erased people also leave the Customer Match lists
PRIVACY_SWITCHES = {"ads_upload_without_consent": ("google_ads.audience_uploads", set()),
                    "erasure_not_propagated": ("cdp.erasure_requests", {"google_ads.audience_uploads"}),
                    "expired_email_events": ("hubspot.email_events", {"hubspot.marketing_emails"}),
                    "pii_in_decision_log": ("decisions.ai_decisions", set())}


@pytest.mark.parametrize("name", sorted(PRIVACY_SWITCHES))
def test_privacy_switch_changes_only_its_own_exports(tmp_path, clean, name):
    """Privacy draws use their own random streams: a switch moves its exports and nothing else, on or off."""
    from dataclasses import replace

    off = clean
    on = generate_workspace(tmp_path / "on", scale=0.2, as_of=AS_OF,
                            injections=replace(Injections.none(), **{name: True}))
    assert {"google_ads.audience_uploads", "cdp.erasure_requests"} <= set(off.files)  # written clean when off
    a, b = _digests(off), _digests(on)
    changed, (primary, also) = {k for k in a if a[k] != b[k]}, PRIVACY_SWITCHES[name]
    assert primary in changed and changed <= {primary} | also


# governance-audit switch -> (the export it plants in, exports it may also touch). Extra sends drive a few people to
# unsubscribe, and the stack syncs that opt-out to the CRM and the CDP as it does for every unsubscribe.
_UNSUBSCRIBES = {"hubspot.subscriptions", "salesforce.contacts", "salesforce.leads", "cdp.profiles"}
AUDIT_SWITCHES = {"send_volume_spike": ("hubspot.email_events", _UNSUBSCRIBES),
                  "frequency_cap_breach": ("hubspot.email_events", _UNSUBSCRIBES | {"hubspot.marketing_emails"}),
                  "paid_overbidding": ("google_ads.campaign_stats", {"salesforce.campaigns"}),
                  "revenue_overclaimed": ("google_ads.campaign_stats", set()),
                  "spend_after_crm_end": ("salesforce.campaigns", set()),
                  "unregistered_model_version": ("decisions.ai_decisions", set()),
                  "missing_input_snapshots": ("decisions.ai_decisions", set()),
                  "slow_reviews": ("decisions.ai_decisions", set()),
                  "unreviewed_sensitive_segment": ("cdp.profiles", set())}


@pytest.mark.parametrize("name", sorted(AUDIT_SWITCHES))
def test_audit_switch_changes_only_its_own_exports(tmp_path, clean, name):
    """Audit problems draw from ``[seed, 202, n]``: a switch moves its exports and leaves every other one as it was."""
    from dataclasses import replace

    off = clean
    on = generate_workspace(tmp_path / "on", scale=0.2, as_of=AS_OF,
                            injections=replace(Injections.none(), **{name: True}))
    a, b = _digests(off), _digests(on)
    changed, (primary, also) = {k for k in a if a[k] != b[k]}, AUDIT_SWITCHES[name]
    assert primary in changed and changed <= {primary} | also


def test_clean_decision_log_records_an_input_snapshot_for_every_decision(clean):
    ws = clean
    log = pd.read_parquet(ws.files["decisions.ai_decisions"])
    assert log["input_snapshot_id"].notna().all() and log["input_snapshot_id"].is_unique
    assert set(log["model_version"]) == {"3.2.0", "1.4.1"}  # exactly the registered versions of the policy


def _won_by_campaign_day(ws) -> pd.Series:
    opps = pd.read_csv(ws.files["salesforce.opportunities"], dtype=str)
    won = opps[opps["StageName"] == "Closed Won"]
    return won.assign(key=9_000_000_000 + won["CampaignId"].str[3:].astype(int), Amount=won["Amount"].astype(float)
                      ).groupby(["key", "CloseDate"])["Amount"].sum().round(2)


def test_clean_conversion_value_is_the_crm_won_amount_of_each_campaign_day(clean_half):
    """Google credits each paid campaign exactly the Closed Won deals the CRM import sends it, on their close day."""
    ws = clean_half
    ads = pd.read_csv(ws.files["google_ads.campaign_stats"], dtype={"segments.date": str})
    value = ads.set_index(["campaign.id", "segments.date"])["metrics.conversions_value"]
    won = _won_by_campaign_day(ws)
    reported = won[won.index.isin(value.index)]
    assert len(reported) > 0 and (value > 0).sum() == len(reported)
    assert value.loc[reported.index].tolist() == reported.tolist()


def test_revenue_switch_inflates_one_campaign_by_the_factor(tmp_path, clean_half):
    from dataclasses import replace

    from steward.integrations.demo.misfires import OVERCLAIM_FACTOR

    off = clean_half
    on = generate_workspace(tmp_path / "on", scale=0.5, as_of=AS_OF,
                            injections=replace(Injections.none(), revenue_overclaimed=True))
    before, after = (pd.read_csv(w.files["google_ads.campaign_stats"]).groupby("campaign.id")[
        "metrics.conversions_value"].sum() for w in (off, on))
    changed = before[before.round(2) != after.round(2)].index.tolist()
    assert changed == [before.idxmax()]  # the campaign with the most conversion value, and only it
    assert after[changed[0]] / before[changed[0]] == pytest.approx(OVERCLAIM_FACTOR, abs=1e-4)


def test_spend_after_end_switch_ends_one_crm_campaign_while_google_ads_keeps_reporting_it(tmp_path, clean_half):
    from dataclasses import replace

    off = clean_half
    on = generate_workspace(tmp_path / "on", scale=0.5, as_of=AS_OF,
                            injections=replace(Injections.none(), spend_after_crm_end=True))
    before, after = (pd.read_csv(w.files["salesforce.campaigns"], dtype=str).set_index("Id") for w in (off, on))
    changed = after.compare(before)
    assert changed.index.tolist() == ["701000000000000008"]  # Display - Retargeting, and only it
    assert set(changed.columns.get_level_values(0)) == {"Status", "IsActive", "EndDate"}  # not its ActualCost
    end = pd.Timestamp(after.loc["701000000000000008", "EndDate"])
    assert end == (AS_OF - pd.Timedelta(days=10)).tz_localize(None).normalize()
    ads = pd.read_csv(on.files["google_ads.campaign_stats"], dtype={"campaign.id": str})
    days = pd.to_datetime(ads.loc[ads["campaign.id"] == "9000000008", "segments.date"])
    assert (days > end).sum() == 9 and days.max() == (AS_OF.tz_localize(None).normalize() - pd.Timedelta(days=1))


def test_column_wise_ndjson_is_byte_for_byte_what_json_dumps_writes(tmp_path):
    """Email events are written a column at a time (minutes -> seconds at scale 100); the bytes stay json.dumps'."""
    from steward.integrations.demo.exports import hex_ids, write_ndjson, write_ndjson_frames

    strings = ["plain", 'quo"te', "back\\slash", "tab\there", "é ünï ☃", None]
    numbers = [1, None, 3, 700_001, -5, 0]
    frame = pd.DataFrame({"s": strings, "n": pd.array(numbers, dtype="Int64"), "b": [True, False] * 3,
                          "i": np.arange(6) * 10**12})
    records = [{"s": s, **({"n": n} if n is not None else {}), "b": b, "i": int(i)}
               for s, n, b, i in zip(strings, numbers, [True, False] * 3, np.arange(6) * 10**12)]
    assert write_ndjson_frames([frame.iloc[:4], frame.iloc[4:]], tmp_path / "cols.jsonl", omit_null=("n",)) == 6
    write_ndjson(records, tmp_path / "dicts.jsonl")
    assert (tmp_path / "cols.jsonl").read_bytes() == (tmp_path / "dicts.jsonl").read_bytes()
    start = 16**11 - 2  # the ids cross into their twelfth hex digit
    assert list(hex_ids(start, 5, "-0007")) == [f"{i:012x}-0007" for i in range(start, start + 5)]
