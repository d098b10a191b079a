"""Source contracts: rows that break them are quarantined with the checks they broke; drift is conformed, not fatal,
unless it is breaking (unrecognisable, primary key gone, a retype no row survives)."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from conftest import write_text
from steward.contracts.registry import contract_for
from steward.contracts.source_checks import detect_drift
from steward.integrations.warehouse.validation import check_batch, validate_table
from steward.contracts.errors import BreakingDrift, SourceError
from steward.integrations.sources import ExportFilesAdapter

HEADER = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
          "HasOptedOutOfEmail,CreatedDate,SystemModstamp")


def _row(i: int, email: str = "a{i}@example.com", age: str = "25-34", country: str = "US") -> str:
    return (f"003{i:015d},001{1:015d},Ann,Lee,{email.format(i=i)},+1555,{country},{age},female,NA,false,"
            f"2026-01-01T00:00:00.000Z,2026-11-01T00:00:00.000Z")


def _contacts(tmp_path, rows: list[str], header: str = HEADER):
    write_text(tmp_path / "contacts.csv", "\n".join([header, *rows]) + "\n")
    adapter = ExportFilesAdapter("crm", "salesforce", tmp_path, entities=["contacts"])
    return next(adapter.pull("contacts"))


def test_valid_rows_flow_and_bad_rows_are_quarantined_with_reasons(tmp_path):
    batch = _contacts(tmp_path, [_row(1), _row(2, email="not-an-email"), _row(3, country="UK"), _row(4),
                                 _row(1), _row(6, age="99-100")])  # row 5 duplicates the first id
    verdict = check_batch(batch)
    assert len(verdict.valid) == 3  # an age band outside the policy's codings lands (reported, not quarantined)
    assert sorted(verdict.valid["Id"]) == [f"003{1:015d}", f"003{4:015d}", f"003{6:015d}"]
    q = verdict.quarantined.set_index("source_row")
    assert list(q.index) == [2, 3, 5]
    assert "Email: str_matches" in q.loc[2, "reasons"]
    assert "MailingCountry: isin" in q.loc[3, "reasons"]
    assert "Id" in q.loc[5, "reasons"]
    assert json.loads(q.loc[2, "record"])["Email"] == "not-an-email"
    assert verdict.drift is None


def test_unparseable_csv_rows_are_quarantined_not_fatal(tmp_path):
    batch = _contacts(tmp_path, [_row(1), "003x,only,three", _row(2)])
    verdict = check_batch(batch)
    assert len(verdict.valid) == 2
    assert len(verdict.quarantined) == 1
    assert verdict.quarantined.iloc[0]["reasons"].startswith("unreadable CSV record")


def test_renamed_column_is_drift_with_the_rename_paired_and_data_kept(tmp_path):
    header = HEADER.replace("MailingCountry", "Mailing_Country__c")
    verdict = check_batch(_contacts(tmp_path, [_row(1), _row(2)], header=header))
    assert verdict.drift == {"missing": ["MailingCountry"], "added": ["Mailing_Country__c"],
                             "renamed": {"MailingCountry": "Mailing_Country__c"}}
    # the paired rename lands under the contract's name (a merge never nulls the stored column), and is kept as sent
    assert len(verdict.valid) == 2 and (verdict.valid["MailingCountry"] == "US").all()
    assert json.loads(verdict.valid["_unmapped"].iloc[0]) == {"Mailing_Country__c": "US"}


def test_unrelated_added_column_is_not_called_a_rename():
    drift = detect_drift(["Id", "Email"], ["Id", "Email", "Favourite_Colour"])
    assert drift == {"missing": [], "added": ["Favourite_Colour"], "renamed": {}}


def test_a_file_that_is_not_the_export_is_refused_with_its_name(tmp_path):
    (tmp_path / "contacts.csv").write_bytes(b"\x00\x01garbage\xff\n\x03\n")
    adapter = ExportFilesAdapter("crm", "salesforce", tmp_path, entities=["contacts"])
    with pytest.raises(SourceError, match=r"contacts\.csv: does not look like a salesforce\.contacts export"):
        check_batch(next(adapter.pull("contacts")))


def test_missing_primary_key_column_is_refused(tmp_path):
    header = HEADER.replace("Id,", "ContactKey,", 1)
    with pytest.raises(SourceError, match="primary key column 'Id'"):
        check_batch(_contacts(tmp_path, [_row(1)], header=header))


def test_missing_export_file_names_the_file(tmp_path):
    adapter = ExportFilesAdapter("crm", "salesforce", tmp_path, entities=["contacts"])
    with pytest.raises(SourceError, match=r"contacts\.csv: export file for salesforce\.contacts is missing"):
        next(adapter.pull("contacts"))


# ---------------------------------------------------------------------------------------------- optional columns

ADS_HEADER = ("campaign.id,campaign.name,campaign.status,segments.date,metrics.cost_micros,metrics.impressions,"
              "metrics.clicks,metrics.conversions")
ADS_ROWS = ["9000000006,Search - Brand,ENABLED,2026-11-18,420000000,16000,500,20.5",
            "9000000006,Search - Brand,ENABLED,2026-11-19,0,0,0,0"]


def _campaign_stats(tmp_path, header: str, rows: list[str]):
    write_text(tmp_path / "campaign_stats.csv", "\n".join([header, *rows]) + "\n")
    return next(ExportFilesAdapter("ads", "google_ads", tmp_path, entities=["campaign_stats"]).pull("campaign_stats"))


def test_an_export_without_an_optional_column_lands_it_as_null_without_drift(tmp_path):
    """Reports exported before ``metrics.conversions_value`` existed are not schema drift."""
    verdict = check_batch(_campaign_stats(tmp_path, ADS_HEADER, ADS_ROWS))
    assert verdict.drift is None and verdict.quarantined.empty
    assert verdict.valid["metrics.conversions_value"].isna().all() and len(verdict.valid) == 2
    assert verdict.valid["_unmapped"].isna().all()


def test_an_optional_column_is_checked_when_present(tmp_path):
    rows = [ADS_ROWS[0] + ",15000.5", ADS_ROWS[1] + ",-3", ADS_ROWS[1].replace("11-19", "11-20") + ","]
    verdict = check_batch(_campaign_stats(tmp_path, ADS_HEADER + ",metrics.conversions_value", rows))
    assert verdict.drift is None
    assert list(verdict.valid["metrics.conversions_value"].astype(object).where(
        verdict.valid["metrics.conversions_value"].notna(), None)) == [15000.5, None]
    assert list(verdict.quarantined["source_row"]) == [2]
    assert verdict.quarantined["reasons"].iat[0] == "metrics.conversions_value: greater_than_or_equal_to(0)"


def test_a_renamed_optional_column_is_drift():
    """Missing alone it is fine; an unknown column that looks like its new name means the platform renamed it."""
    expected = ["campaign.id", "metrics.conversions_value"]
    optional = ["metrics.conversions_value"]
    assert detect_drift(expected, ["campaign.id"], optional) is None
    assert detect_drift(expected, ["campaign.id", "metrics.conversion_value"], optional) == {
        "missing": ["metrics.conversions_value"], "added": ["metrics.conversion_value"],
        "renamed": {"metrics.conversions_value": "metrics.conversion_value"}}


def test_validate_table_skips_an_optional_column_the_table_lacks_but_not_a_required_one():
    contract = contract_for("google_ads.campaign_stats")
    with duckdb.connect() as con:
        con.execute('create table old as select * from (values (\'9000000006\', \'Brand\', \'ENABLED\', '
                    'TIMESTAMPTZ \'2026-11-18\', 1::BIGINT, 10::BIGINT, 5::BIGINT, 1.0), (\'9000000006\', '
                    '\'Brand\', \'ENABLED\', TIMESTAMPTZ \'2026-11-19\', -1::BIGINT, 10::BIGINT, 5::BIGINT, 1.0)) '
                    't("campaign.id", "campaign.name", "campaign.status", "segments.date", "metrics.cost_micros", '
                    '"metrics.impressions", "metrics.clicks", "metrics.conversions")')
        verdict = validate_table(con, "old", contract)
        assert verdict.rows == 2
        assert dict(zip(verdict.failing["__row"], verdict.failing["reasons"])) == {
            1: "metrics.cost_micros: greater_than_or_equal_to(0)"}
        con.execute('alter table old drop column "metrics.clicks"')
        with pytest.raises(SourceError, match="column 'metrics.clicks' of google_ads.campaign_stats is missing"):
            validate_table(con, "old", contract)


OPP_HEADER = "Id,AccountId,Name,StageName,Amount,CloseDate,CampaignId,CreatedDate,SystemModstamp"


def _opp(i: int, amount: str = "1200.5") -> str:
    return (f"006{i:015d},001{1:015d},Deal {i},Prospecting,{amount},2026-12-01,701{1:015d},"
            f"2026-01-01T00:00:00.000Z,2026-11-01T00:00:00.000Z")


def _opportunities(folder, rows: list[str], header: str = OPP_HEADER):
    write_text(folder / "opportunities.csv", "\n".join([header, *rows]) + "\n")
    return next(ExportFilesAdapter("crm", "salesforce", folder, entities=["opportunities"]).pull("opportunities"))


def test_column_types_are_recorded_with_their_family(tmp_path):
    verdict = check_batch(_opportunities(tmp_path, [_opp(1), _opp(2)]))
    assert verdict.types["Amount"] == {"dtype": "float64", "family": "number"}
    assert verdict.types["SystemModstamp"]["family"] == "temporal"
    assert verdict.types["StageName"] == {"dtype": "str", "family": "text"}
    assert verdict.types["Id"] == {"dtype": "str", "family": "number"}  # every value reads as a number
    assert set(verdict.types) == set(OPP_HEADER.split(","))


def test_a_column_whose_type_family_changed_is_retyped_with_the_diff(tmp_path):
    before = check_batch(_opportunities(tmp_path / "a", [_opp(1), _opp(2)])).types
    # the export started writing "n/a" for unknown amounts: DuckDB now reads the column as text
    verdict = check_batch(_opportunities(tmp_path / "b", [_opp(3), _opp(4, amount="n/a"), _opp(5, amount="80")]),
                          before)
    assert verdict.drift == {"missing": [], "added": [], "renamed": {},
                             "retyped": {"Amount": {"from": "number", "to": "text"}}}
    assert sorted(verdict.valid["Id"]) == [f"006{3:015d}", f"006{5:015d}"]  # the numbers still coerce and land
    assert list(verdict.quarantined["source_row"]) == [2]


def test_widening_and_empty_columns_are_not_retyped():
    from steward.contracts.schema_types import column_types, detect_retyped

    old = column_types(pd.DataFrame({"n": pd.Series([1, 2], dtype="int32"), "d": pd.to_datetime(["2026-01-01"] * 2),
                                     "e": [None, None], "t": ["a", "b"]}))
    new = column_types(pd.DataFrame({"n": [1.5, 2.0], "d": pd.to_datetime(["2026-01-01T10:00Z"] * 2),
                                     "e": [3, 4], "t": [None, None]}))
    assert detect_retyped(old, new) == {}  # int32 -> float64, naive -> aware timestamp, empty either side
    flag = column_types(pd.DataFrame({"t": [True, False]}))
    assert detect_retyped(flag, column_types(pd.DataFrame({"t": [0, 1]}))) == {"t": {"from": "boolean",
                                                                                   "to": "number"}}


def test_text_that_reads_as_the_old_type_is_not_retyped():
    """An export reader sniffs ids, timestamps and flags into typed columns; the platform's API sends them as JSON
    strings. Moving an integration from its files to its API (or back) is not a retype."""
    from steward.contracts.schema_types import column_types, detect_retyped

    sniffed = column_types(pd.DataFrame({"CampaignId": [701000000000000001, 701000000000000002],
                                         "updatedAt": pd.to_datetime(["2026-11-20T12:00:00Z"] * 2),
                                         "IsActive": [True, False]}))
    api = column_types(pd.DataFrame({"CampaignId": ["701000000000000001", "701000000000000002"],
                                     "updatedAt": ["2026-11-20T12:00:00.000Z", "2026-11-21T08:30:00.000Z"],
                                     "IsActive": ["true", "false"]}))
    assert detect_retyped(sniffed, api) == {} and detect_retyped(api, sniffed) == {}
    dates = column_types(pd.DataFrame({"updatedAt": ["2026-11-20T12:00:00.000Z", "last tuesday"]}))
    assert detect_retyped(api, dates) == {"updatedAt": {"from": "temporal", "to": "text"}}


def test_a_retype_that_fails_every_row_is_breaking_drift(tmp_path):
    before = check_batch(_opportunities(tmp_path / "a", [_opp(1)])).types
    batch = _opportunities(tmp_path / "b", [_opp(2, amount="USD 1200"), _opp(3, amount="USD 80")])
    with pytest.raises(BreakingDrift) as err:
        check_batch(batch, before)
    assert err.value.kind == "retype_fails_every_row"
    assert str(err.value) == (f"{tmp_path / 'b' / 'opportunities.csv'}: every row of salesforce.opportunities fails "
                              f"its contract after 'Amount' (number -> text) changed type; cannot land it")
    assert err.value.drift == {"missing": [], "added": [], "renamed": {},
                               "retyped": {"Amount": {"from": "number", "to": "text"}}}


def test_missing_primary_key_is_breaking_drift_with_the_diff(tmp_path):
    header = HEADER.replace("Id,", "ContactKey,", 1)
    with pytest.raises(BreakingDrift) as err:
        check_batch(_contacts(tmp_path, [_row(1)], header=header))
    assert err.value.kind == "primary_key_missing"
    assert err.value.drift == {"missing": ["Id"], "added": ["ContactKey"], "renamed": {}}
