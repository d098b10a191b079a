"""Source contracts: rows that break them are quarantined with the checks they broke; drift is conformed, not fatal."""

from __future__ import annotations

import json

import pytest

from conftest import write_text
from steward.contracts.source_checks import check_batch, detect_drift
from steward.integrations.errors import SourceError
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
