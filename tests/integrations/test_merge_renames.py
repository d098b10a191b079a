"""A renamed column never erases stored values on merge (issue #16, case 10).

The contacts export renamed ``LastName`` to ``Last_Name``: every stored contact's last name used to be replaced with
null by the merge (2,093 -> 0 non-null), the values surviving only in ``_unmapped``. A rename the drift logic pairs
now lands under the stored column; a required column missing without a pairable rename refuses the batch.
"""

from __future__ import annotations

import json

from conftest import write_text
from steward.flows.pull import pull_entity
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse

HEADER = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
          "HasOptedOutOfEmail,CreatedDate,SystemModstamp")
ROWS = 40


def _row(i: int, modstamp: str = "2026-11-01") -> str:
    return (f"003{i:015d},001{1:015d},Ann,Lee{i},a{i}@example.com,+1555,US,25-34,female,NA,false,"
            f"2026-01-01T00:00:00.000Z,{modstamp}T00:00:00.000Z")


def _pull(wh: Warehouse, folder, run: str, header: str = HEADER, modstamp: str = "2026-11-01"):
    write_text(folder / "contacts.csv", "\n".join([header, *(_row(i, modstamp) for i in range(ROWS))]) + "\n")
    adapter = ExportFilesAdapter("crm", "salesforce", folder, wh, entities=["contacts"])
    [item] = pull_entity(adapter, adapter.streams()[0], wh, run)
    return item


def _last_names(wh: Warehouse) -> dict[str, str | None]:
    rows = wh.query_df('select "Id", "LastName" from raw."salesforce__contacts"')
    return dict(zip(rows["Id"], rows["LastName"]))


def test_a_paired_rename_lands_in_the_stored_column_and_erases_nothing(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    _pull(wh, tmp_path, "r1")
    stored = _last_names(wh)
    assert len(stored) == ROWS and all(stored.values())
    item = _pull(wh, tmp_path, "r2", HEADER.replace("LastName", "Last_Name"), modstamp="2026-11-02")
    assert item.refused is None and item.result.rows_loaded == ROWS
    assert item.drift["renamed"] == {"LastName": "Last_Name"}  # still reported as drift
    assert _last_names(wh) == stored  # the merge replaced every row, and no last name became null
    modstamps = wh.query_df('select distinct "SystemModstamp" from raw."salesforce__contacts"')
    assert len(modstamps) == 1 and str(modstamps.iat[0, 0]).startswith("2026-11-02")  # the new rows did land
    unmapped = wh.query_df('select any_value(_unmapped) as u from raw."salesforce__contacts"')["u"].iat[0]
    assert json.loads(unmapped)["Last_Name"].startswith("Lee")  # and the column as sent is kept too


def test_a_required_column_missing_without_a_pairable_rename_is_refused_and_stored_values_stay(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    _pull(wh, tmp_path, "r1")
    before = wh.query_df('select * from raw."salesforce__contacts" order by "Id"')
    item = _pull(wh, tmp_path, "r2", HEADER.replace("LastName", "Surname"), modstamp="2026-11-02")
    assert item.drift == {"missing": ["LastName"], "added": ["Surname"], "renamed": {}}
    assert item.refused and "required column 'LastName' of salesforce.contacts is missing" in item.refused
    assert item.result.rows_loaded == 0
    assert wh.query_df('select * from raw."salesforce__contacts" order by "Id"').equals(before)
    assert wh.query_df("select count(*) as n from ledger.batches")["n"].iat[0] == 1
    refusal = wh.query_df("select kind, rows_refused from ledger.schema_refusals").iloc[0]
    assert (refusal["kind"], refusal["rows_refused"]) == ("required_column_missing", ROWS)


def test_the_same_unpaired_column_on_a_first_load_still_lands(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")  # nothing stored, so nothing to erase: conformed drift, as before
    item = _pull(wh, tmp_path, "r1", HEADER.replace("LastName", "Surname"))
    assert item.refused is None and item.result.rows_loaded == ROWS
    assert not any(_last_names(wh).values())
