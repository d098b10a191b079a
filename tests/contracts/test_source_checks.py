"""Source contracts: rows that break them are quarantined with the checks they broke; drift is conformed, not fatal,
unless it is breaking (unrecognisable, primary key gone, a retype no row survives)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import write_text
from steward.contracts.source_checks import check_batch, detect_drift
from steward.integrations.errors import BreakingDrift, SourceError
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
    batch = _contacts(tmp_path, [_row(1), _row(2, email="not-an-email"), _row(3, age="99-100"), _row(4),
                                 _row(1)])  # last one duplicates the first id
    verdict = check_batch(batch)
    assert len(verdict.valid) == 2
    assert sorted(verdict.valid["Id"]) == [f"003{1:015d}", f"003{4:015d}"]
    q = verdict.quarantined.set_index("source_row")
    assert list(q.index) == [2, 3, 5]
    assert "Email: str_matches" in q.loc[2, "reasons"]
    assert "Age_Band__c: isin" in q.loc[3, "reasons"]
    assert "Id" in q.loc[5, "reasons"]
    assert json.loads(q.loc[2, "record"])["Email"] == "not-an-email"
    assert verdict.drift is None


def test_unparseable_csv_rows_are_quarantined_not_fatal(tmp_path):
    batch = _contacts(tmp_path, [_row(1), "003x,only,three", _row(2)])
    verdict = check_batch(batch)
    assert len(verdict.valid) == 2
    assert len(verdict.quarantined) == 1
    assert verdict.quarantined.iloc[0]["reasons"].startswith("unparseable CSV row")


def test_renamed_column_is_drift_with_the_rename_paired_and_data_kept(tmp_path):
    header = HEADER.replace("MailingCountry", "Mailing_Country__c")
    verdict = check_batch(_contacts(tmp_path, [_row(1), _row(2)], header=header))
    assert verdict.drift == {"missing": ["MailingCountry"], "added": ["Mailing_Country__c"],
                             "renamed": {"MailingCountry": "Mailing_Country__c"}}
    assert len(verdict.valid) == 2 and verdict.valid["MailingCountry"].isna().all()
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
