"""Formats in the source contracts: ISO country and currency codes, optional columns, timestamps and their zones.

Each rule quarantines exactly the rows that break it, with a label naming the column, and lets the rest land. Files
are real exports read by the real adapter (CSV, NDJSON, Parquet written by DuckDB).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import duckdb
import pandas as pd

from conftest import write_text
from steward.contracts.registry import contract_for
from steward.contracts.source_checks import detect_drift
from steward.integrations.warehouse.validation import check_batch, validate_table
from steward.contracts.timestamps import apply_zone_rule
from steward.integrations.sources import ExportFilesAdapter

CONTACTS = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
            "HasOptedOutOfEmail,CreatedDate,SystemModstamp")
OPPORTUNITIES = "Id,AccountId,Name,StageName,Amount,CloseDate,CampaignId,CreatedDate,SystemModstamp"
STATS = ("campaign.id,campaign.name,campaign.status,segments.date,metrics.cost_micros,metrics.impressions,"
         "metrics.clicks,metrics.conversions")
UPLOADS = "user_list.id,user_list.name,offline_user_data_job.id,upload_time,user_identifiers.hashed_email"
ISO_COUNTRY = "isin(ISO 3166-1 alpha-2)"
ISO_CURRENCY = "isin(ISO 4217)"
COERCE = "coerce_dtype('datetime64[us, UTC]')"
DTYPE = "dtype('datetime64[us, UTC]')"


def _pull(tmp_path, platform: str, entity: str, name: str, header: str, rows: list[str]):
    write_text(tmp_path / name, "\n".join([header, *rows]) + "\n")
    return check_batch(next(ExportFilesAdapter("it", platform, tmp_path, entities=[entity]).pull(entity)))


def _contact(i: int, country: str = "US", created: str = "2026-01-01T00:00:00.000Z") -> str:
    return (f"003{i:015d},001{1:015d},Ann,Lee,a{i}@example.com,+1555,{country},25-34,female,NA,false,"
            f"{created},2026-11-01T00:00:00.000Z")


def _opportunity(i: int, currency: str | None = None) -> str:
    row = f"006{i:015d},001{1:015d},Deal {i},Closed Won,100.0,2026-11-20,701{1:015d},2026-01-01T00:00:00.000Z," \
          f"2026-11-01T00:00:00.000Z"
    return row if currency is None else f"{row},{currency}"


def _stats(i: int, currency: str | None = None) -> str:
    row = f"{9000000000 + i},Campaign {i},ENABLED,2026-11-0{i},1000000,100,10,1.0"
    return row if currency is None else f"{row},{currency}"


def _values(column: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in column]


def _reasons(verdict) -> dict[int, str]:
    return dict(zip(verdict.quarantined["source_row"], verdict.quarantined["reasons"]))


def test_country_codes_are_iso_3166_alpha2_not_any_two_capitals(tmp_path):
    verdict = _pull(tmp_path, "salesforce", "contacts", "contacts.csv", CONTACTS,
                    [_contact(1, "GB"), _contact(2, "ZZ"), _contact(3, "UK"), _contact(4, "NA"), _contact(5, "us"),
                     _contact(6, "")])
    assert _reasons(verdict) == {2: f"MailingCountry: {ISO_COUNTRY}", 3: f"MailingCountry: {ISO_COUNTRY}",
                                 5: f"MailingCountry: {ISO_COUNTRY}"}
    assert _values(verdict.valid["MailingCountry"]) == ["GB", "NA", None]
    assert verdict.failures_by_check == {f"MailingCountry: {ISO_COUNTRY}": 3}


def test_an_optional_currency_column_absent_is_no_drift_and_lands_as_nulls(tmp_path):
    verdict = _pull(tmp_path, "salesforce", "opportunities", "opportunities.csv", OPPORTUNITIES,
                    [_opportunity(1), _opportunity(2)])
    assert verdict.drift is None
    assert len(verdict.quarantined) == 0
    assert verdict.valid["CurrencyIsoCode"].isna().all() and len(verdict.valid) == 2
    assert detect_drift(["Id", "CurrencyIsoCode"], ["Id"], ["CurrencyIsoCode"]) is None
    assert detect_drift(["Id", "CurrencyIsoCode"], ["Id"]) == {"missing": ["CurrencyIsoCode"], "added": [],
                                                                 "renamed": {}}


def test_a_present_currency_column_is_checked_against_iso_4217(tmp_path):
    verdict = _pull(tmp_path, "salesforce", "opportunities", "opportunities.csv", OPPORTUNITIES + ",CurrencyIsoCode",
                    [_opportunity(1, "EUR"), _opportunity(2, "US$"), _opportunity(3, "HRK"), _opportunity(4, "usd"),
                     _opportunity(5, "XXX"), _opportunity(6, "")])
    assert verdict.drift is None
    assert _reasons(verdict) == {2: f"CurrencyIsoCode: {ISO_CURRENCY}", 4: f"CurrencyIsoCode: {ISO_CURRENCY}",
                                 5: f"CurrencyIsoCode: {ISO_CURRENCY}"}
    assert _values(verdict.valid["CurrencyIsoCode"]) == ["EUR", "HRK", None]


def test_google_ads_currency_code_is_optional_and_checked_when_reported(tmp_path):
    without = _pull(tmp_path / "a", "google_ads", "campaign_stats", "campaign_stats.csv", STATS, [_stats(1)])
    assert without.drift is None and without.valid["customer.currency_code"].isna().all()
    verdict = _pull(tmp_path / "b", "google_ads", "campaign_stats", "campaign_stats.csv",
                    STATS + ",customer.currency_code", [_stats(1, "USD"), _stats(2, "DOLLAR"), _stats(3, "JPY")])
    assert verdict.drift is None
    assert _reasons(verdict) == {2: f"customer.currency_code: {ISO_CURRENCY}"}
    assert verdict.valid["customer.currency_code"].tolist() == ["USD", "JPY"]


def test_a_warehouse_table_without_the_optional_column_is_judged_without_it():
    with duckdb.connect() as con:
        con.execute("create table opp as select '006000000000000001' as \"Id\", null::varchar as \"AccountId\", "
                    "'Deal' as \"Name\", 'Bogus' as \"StageName\", 1.0 as \"Amount\", "
                    "timestamptz '2026-11-20 00:00:00+00' as \"CloseDate\", null::varchar as \"CampaignId\", "
                    "timestamptz '2026-01-01 00:00:00+00' as \"CreatedDate\", "
                    "timestamptz '2026-11-01 00:00:00+00' as \"SystemModstamp\"")
        verdict = validate_table(con, "opp", contract_for("salesforce.opportunities"))
    assert verdict.rows == 1
    assert list(verdict.failing["reasons"]) == [
        "StageName: isin(['Prospecting', 'Qualification', 'Proposal', 'Negotiation', 'Closed Won', 'Closed Lost', "
        "'Needs Analysis', 'Value Proposition', 'Id. Decision Makers', 'Perception Analysis', "
        "'Proposal/Price Quote', 'Negotiation/Review'])"]


def test_salesforce_timestamps_without_an_offset_are_utc_and_offsets_are_converted(tmp_path):
    verdict = _pull(tmp_path, "salesforce", "contacts", "contacts.csv", CONTACTS,
                    [_contact(1, created="2026-01-01T05:00:00.000Z"), _contact(2, created="2026-01-01 05:00:00"),
                     _contact(3, created="2026-01-01T07:00:00.000+0200"), _contact(4, created="2026-01-01")])
    assert len(verdict.quarantined) == 0
    five = pd.Timestamp("2026-01-01 05:00", tz="UTC")
    assert verdict.valid["CreatedDate"].tolist() == [five, five, five, pd.Timestamp("2026-01-01", tz="UTC")]


def test_a_value_that_is_not_a_timestamp_quarantines_its_row_naming_the_column(tmp_path):
    verdict = _pull(tmp_path, "salesforce", "contacts", "contacts.csv", CONTACTS,
                    [_contact(1), _contact(2, created="yesterday"), _contact(3, created="2026-02-30T00:00:00Z"),
                     _contact(4)])
    assert _reasons(verdict) == {2: f"CreatedDate: {COERCE}; CreatedDate: {DTYPE}",
                                 3: f"CreatedDate: {COERCE}; CreatedDate: {DTYPE}"}
    record = json.loads(verdict.quarantined.set_index("source_row").loc[2, "record"])
    assert record["CreatedDate"] == "yesterday"
    assert len(verdict.valid) == 2


def test_upload_log_timestamps_must_carry_their_zone(tmp_path):
    """The team's own upload log: a time without an offset is quarantined, even among zoned values in one column."""
    digest = "a" * 64
    rows = [f"9100000001,List,5000000001,{t},{digest[:-1]}{i}" for i, t in enumerate(
        ["2026-11-01T03:00:00.000Z", "2026-11-01 03:00:00", "2026-11-01T04:00:00+01:00", "2026-11-01"])]
    verdict = _pull(tmp_path, "google_ads", "audience_uploads", "audience_uploads.csv", UPLOADS, rows)
    assert _reasons(verdict) == {2: "upload_time: timestamp_with_zone", 4: "upload_time: timestamp_with_zone"}
    assert json.loads(verdict.quarantined.iloc[0]["record"])["upload_time"] == "2026-11-01 03:00:00"
    three = pd.Timestamp("2026-11-01 03:00", tz="UTC")
    assert verdict.valid["upload_time"].tolist() == [three, three]
    assert verdict.failures_by_check == {"upload_time: timestamp_with_zone": 2}


def test_a_parquet_column_written_without_zone_is_refused_and_one_with_zone_lands(tmp_path):
    base = ("select 'p1' as profile_id, null::varchar as user_id, 'a@example.com' as email, '25-34' as age_band, "
            "'female' as gender, 'EMEA' as region, true as consent_email, false as consent_ads, null::varchar as "
            "audiences, {first} as first_seen_at, timestamptz '2026-11-01 00:00:00+00' as updated_at")
    for folder, first in (("naive", "timestamp '2026-01-01 00:00:00'"),
                          ("zoned", "timestamptz '2026-01-01 01:00:00+01'")):
        (tmp_path / folder).mkdir()
        with duckdb.connect() as con:
            con.execute(f"copy ({base.format(first=first)}) to '{(tmp_path / folder / 'profiles.parquet').as_posix()}'"
                        f" (format parquet)")
    naive = check_batch(next(ExportFilesAdapter("cdp", "cdp", tmp_path / "naive", entities=["profiles"])
                             .pull("profiles")))
    assert _reasons(naive) == {1: "first_seen_at: timestamp_with_zone"} and len(naive.valid) == 0
    zoned = check_batch(next(ExportFilesAdapter("cdp", "cdp", tmp_path / "zoned", entities=["profiles"])
                             .pull("profiles")))
    assert len(zoned.quarantined) == 0
    assert zoned.valid["first_seen_at"].tolist() == [pd.Timestamp("2026-01-01", tz="UTC")]


def test_calendar_dates_carry_no_zone_and_land_as_midnight_utc(tmp_path):
    verdict = _pull(tmp_path, "google_ads", "campaign_stats", "campaign_stats.csv", STATS, [_stats(1), _stats(2)])
    assert len(verdict.quarantined) == 0
    assert verdict.valid["segments.date"].tolist() == [pd.Timestamp("2026-11-01", tz="UTC"),
                                                       pd.Timestamp("2026-11-02", tz="UTC")]


def test_the_zone_rule_reads_text_and_reader_types_alike():
    frame = pd.DataFrame({"t": pd.Series(["2026-01-01T00:00:00Z", "2026-01-01 01:00", None, "soon"], dtype="object"),
                          "n": pd.to_datetime(["2026-01-01", None, "2026-01-02", "2026-01-03"])})
    out, labels = apply_zone_rule(frame, ["t", "n"], "refuse")
    assert labels.values.tolist() == [[1, "t: timestamp_with_zone"], [0, "n: timestamp_with_zone"],
                                      [2, "n: timestamp_with_zone"], [3, "n: timestamp_with_zone"]]
    assert out["t"].tolist() == [pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-01-01 01:00", tz="UTC"),
                                 None, "soon"]
    _, none = apply_zone_rule(frame, ["t", "n"], "utc")
    assert len(none) == 0


def test_hubspot_legal_basis_is_one_of_hubspots(tmp_path):
    rows = [json.dumps({"recipient": f"a{i}@example.com", "subscriptionId": "marketing_information",
                        "status": "SUBSCRIBED", "legalBasis": basis, "sourceOfStatus": "SUBSCRIPTION_STATUS",
                        "timestamp": "2026-11-01T00:00:00.000Z"})
            for i, basis in enumerate(["CONSENT_WITH_NOTICE", "BECAUSE_WE_CAN", None, "NON_GDPR"])]
    write_text(tmp_path / "subscriptions.jsonl", "\n".join(rows) + "\n")
    verdict = check_batch(next(ExportFilesAdapter("hs", "hubspot", tmp_path, entities=["subscriptions"])
                               .pull("subscriptions")))
    assert list(verdict.quarantined["source_row"]) == [2]
    assert verdict.quarantined.iloc[0]["reasons"].startswith("legalBasis: isin(['LEGITIMATE_INTEREST_PQL'")
    assert _values(verdict.valid["legalBasis"]) == ["CONSENT_WITH_NOTICE", None, "NON_GDPR"]


def test_since_still_filters_an_export_whose_times_are_text(tmp_path):
    write_text(tmp_path / "contacts.csv", "\n".join([CONTACTS, _contact(1), _contact(2).replace(
        "2026-11-01T00:00:00.000Z", "2026-11-03T00:00:00.000Z")]) + "\n")
    adapter = ExportFilesAdapter("crm", "salesforce", tmp_path, entities=["contacts"])
    batch = next(adapter.pull("contacts", since=datetime(2026, 11, 2, tzinfo=timezone.utc)))
    assert batch.frame["Id"].tolist() == [f"003{2:015d}"]


def test_a_warehouse_table_follows_the_zone_rule_whatever_the_session_time_zone():
    digest = "b" * 64
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'America/New_York'")
        con.execute(f"create table up as select * from (values "
                    f"('1', 'L', '5', '2026-11-01T03:00:00Z', '{digest}'), ('1', 'L', '5', '2026-11-01 03:00:00', "
                    f"'{digest[:-1]}c'), ('1', 'L', '5', 'soon', '{digest[:-1]}d')) "
                    f"t(\"user_list.id\", \"user_list.name\", \"offline_user_data_job.id\", upload_time, "
                    f"\"user_identifiers.hashed_email\")")
        text = validate_table(con, "up", contract_for("google_ads.audience_uploads"))
        con.execute("create table up_naive as select * replace (try_cast(upload_time as timestamp) as upload_time) "
                    "from up")
        naive = validate_table(con, "up_naive", contract_for("google_ads.audience_uploads"))
        zone = con.execute("select current_setting('TimeZone')").fetchall()[0][0]
    assert dict(zip(text.failing["__row"], text.failing["reasons"])) == {
        1: "upload_time: timestamp_with_zone",
        2: f"upload_time: {COERCE}; upload_time: {DTYPE}"}
    assert dict(zip(naive.failing["__row"], naive.failing["reasons"])) == {
        0: "upload_time: timestamp_with_zone", 1: "upload_time: timestamp_with_zone", 2: "upload_time: not_nullable"}
    assert zone == "America/New_York"
