"""Export files staged whole and landed in SQL (issue #12, item 2): the same verdict as the batch path, a daily file
merged by key without rewriting what did not change, an untouched file not read again, garbage still quarantined."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from steward.flows.pull import pull_entity
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.sources import export_files
from steward.integrations.warehouse import Warehouse

HEADER = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
          "HasOptedOutOfEmail,CreatedDate,SystemModstamp")


def _contact(i: int, email: str | None = None, band: str = "25-34", modstamp: str = "2026-11-01T00:00:00.000Z",
             created: str = "2026-01-01T00:00:00.000Z", country: str = "GB") -> str:
    return (f"003{i:015d},,Ana,Tester,{email or f'a{i}@example.com'},,{country},{band},female,EMEA,false,"
            f"{created},{modstamp}")


def _write(path, lines: list[str]) -> None:
    path.write_text("\n".join([HEADER, *lines]) + "\n")


def _pull(wh, folder, platform="salesforce", entity="contacts", run="r1", stage=True, keep_max=1000):
    adapter = ExportFilesAdapter(platform, platform, folder, wh, entities=[entity], stage=stage)
    return pull_entity(adapter, adapter.streams()[0], wh, run, keep_max=keep_max)


def _rows(wh, table):
    """The raw rows, ``_unmapped`` parsed (SQL writes it compact, ``json.dumps`` with spaces: the same object)."""
    frame = wh.query_df(f'select * exclude (_batch_id, _loaded_at) from raw."{table}"')
    frame["_unmapped"] = [None if u is None or u is pd.NA else json.loads(u) for u in frame["_unmapped"]]
    return frame.sort_values(list(frame.columns[:1])).reset_index(drop=True)


def _quarantine(wh):
    return wh.query_df("select source_row, reasons, record from ledger.quarantine order by source_row")


def _bad_contacts() -> list[str]:
    lines = [_contact(i) for i in range(300)]
    lines[3] = _contact(3, email="not-an-email")
    lines[10] = _contact(10, band="99-120")
    lines[20] = _contact(20, created="not a date")  # does not coerce: coerce_dtype, named by column
    lines[30] = _contact(30, country="ZZ")
    lines[40] = _contact(5)  # a repeated key: the first row stays, the repeat is quarantined
    lines[50] = _contact(50, created="2026-01-01T10:00:00")  # no offset: Salesforce's rule reads it as UTC
    return lines


@pytest.mark.parametrize("platform, entity, name, body", [
    ("salesforce", "contacts", "contacts.csv", None),
    ("salesforce", "contacts", "contacts.csv",  # drift: a renamed column (paired) and one the contract lacks
     "\n".join([HEADER.replace("Age_Band__c", "AgeBand") + ",Favourite_Colour__c",
                *(line + ",blue" for line in _bad_contacts())]) + "\n"),
    ("hubspot", "email_events", "email_events.jsonl",
     "".join(json.dumps({"id": f"e{i}", "type": "BOUNCE?" if i == 7 else "OPEN", "recipient": f"p{i}@example.com",
                         "emailCampaignId": 700001, "created": -5 if i == 9 else 1791637200000 + i,
                         "portalId": 4210042}) + "\n" for i in range(200))),
])
def test_a_staged_file_gets_the_batch_paths_verdict(tmp_path, platform, entity, name, body):
    """Judged in SQL over the whole file, the rows that land, the rows quarantined, their reasons and records, and
    the counts are those of the DataFrame path."""
    (tmp_path / "in").mkdir()
    if body is None:
        _write(tmp_path / "in" / name, _bad_contacts())
    else:
        (tmp_path / "in" / name).write_text(body)
    staged, batched = Warehouse(tmp_path / "s.duckdb"), Warehouse(tmp_path / "b.duckdb")
    [s] = _pull(staged, tmp_path / "in", platform, entity)
    [b] = _pull(batched, tmp_path / "in", platform, entity, stage=False)
    assert s.result.rows_changed is not None and b.result.rows_changed is None  # one was staged, one was not
    assert (s.result.rows_read, s.result.rows_loaded, s.result.rows_quarantined) == \
        (b.result.rows_read, b.result.rows_loaded, b.result.rows_quarantined)
    assert s.result.rows_quarantined >= 2
    pd.testing.assert_frame_equal(_quarantine(staged), _quarantine(batched))
    drift = "select drift from ledger.batches"
    assert staged.query_df(drift)["drift"].tolist() == batched.query_df(drift)["drift"].tolist()
    table = f"{platform}__{entity}"
    pd.testing.assert_frame_equal(_rows(staged, table), _rows(batched, table), check_dtype=False)


def test_a_delta_merges_by_key_and_leaves_other_rows_untouched(tmp_path):
    path = tmp_path / "contacts.csv"
    _write(path, [_contact(i) for i in range(100)])
    wh = Warehouse(tmp_path / "w.duckdb")
    [first] = _pull(wh, tmp_path)
    assert (first.result.rows_loaded, first.result.rows_changed) == (100, 100)
    lines = [_contact(i) for i in range(100)]
    lines[7] = _contact(7, email="new7@example.com", modstamp="2026-12-01T00:00:00.000Z")
    lines[8] = _contact(8, band="35-44", modstamp="2026-12-01T00:00:00.000Z")
    _write(path, lines + [_contact(i) for i in range(100, 103)])
    [daily] = _pull(wh, tmp_path, run="r2")
    assert not daily.result.skipped
    assert (daily.result.rows_read, daily.result.rows_loaded, daily.result.rows_changed) == (103, 103, 5)
    stored = wh.query_df('select "Id", "Email", "Age_Band__c", _batch_id from raw."salesforce__contacts"')
    assert len(stored) == stored["Id"].nunique() == 103  # merged by key: nothing duplicated
    by_id = stored.set_index("Id")
    assert by_id.loc["003000000000000007", "Email"] == "new7@example.com"
    assert by_id.loc["003000000000000008", "Age_Band__c"] == "35-44"
    changed = {"003000000000000007", "003000000000000008", *(f"003{i:015d}" for i in range(100, 103))}
    assert set(by_id.index[by_id["_batch_id"] == daily.result.batch_id]) == changed
    assert (by_id.drop(index=list(changed))["_batch_id"] == first.result.batch_id).all()  # untouched rows stay


def test_an_unchanged_file_is_skipped_without_being_read(tmp_path, monkeypatch):
    path = tmp_path / "contacts.csv"
    _write(path, [_contact(i) for i in range(50)])
    wh = Warehouse(tmp_path / "w.duckdb")
    [first] = _pull(wh, tmp_path)

    def unread(_path):
        raise AssertionError("an unchanged export was read")
    monkeypatch.setattr(export_files, "_scan", unread)
    [again] = _pull(wh, tmp_path, run="r2")
    assert again.result.skipped and again.result.batch_id == first.result.batch_id
    monkeypatch.undo()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: read again, same content: skipped
    [touched] = _pull(wh, tmp_path, run="r3")
    assert touched.result.skipped
    monkeypatch.setattr(export_files, "_scan", unread)  # read once after the touch: known by its new stat since
    [again] = _pull(wh, tmp_path, run="r4")
    assert again.result.skipped and again.result.batch_id == first.result.batch_id
    monkeypatch.undo()
    assert wh.query_df('select count(*) as n from raw."salesforce__contacts"')["n"].iat[0] == 50
    assert wh.query_df("select count(*) as n from ledger.batches")["n"].iat[0] == 1


def test_well_formed_garbage_is_quarantined_in_sql_with_exact_counts(tmp_path):
    """Every field of every row is wrong but the file parses: the staged path judges it in SQL, keeps the first
    ``keep_max`` rows with their reasons and counts all of them; only the good rows land."""
    good = [_contact(i) for i in range(20)]
    junk = [f"x{i},y,{i},z,nope{i},1,QQ,old,robot,MARS,maybe,soon,later" for i in range(3000)]
    _write(tmp_path / "contacts.csv", good + junk)
    wh = Warehouse(tmp_path / "w.duckdb")
    [landed] = _pull(wh, tmp_path, keep_max=100)
    assert landed.refused is None and landed.result.rows_changed is not None  # staged, not screened
    assert (landed.result.rows_read, landed.result.rows_loaded, landed.result.rows_quarantined) == (3020, 20, 3000)
    kept = _quarantine(wh)
    assert len(kept) == 100 and kept["source_row"].tolist() == list(range(21, 121))
    reasons = kept["reasons"].iat[0]
    assert "Id: str_startswith('003')" in reasons and "Email: str_matches" in reasons
    assert "CreatedDate: coerce_dtype('datetime64[us, UTC]')" in reasons
    assert json.loads(kept["record"].iat[0])["Email"] == "nope0"
    assert wh.query_df('select count(*) as n from raw."salesforce__contacts"')["n"].iat[0] == 20


def test_a_file_with_an_unreadable_record_is_screened_not_staged(tmp_path):
    """A record the screen would set aside (a wrong field count) sends the file through the screen, which names
    it as before."""
    lines = [_contact(i) for i in range(30)]
    lines[4] = "003000000000000004,too,few"
    _write(tmp_path / "contacts.csv", lines)
    wh = Warehouse(tmp_path / "w.duckdb")
    [landed] = _pull(wh, tmp_path)
    assert landed.result.rows_changed is None and (landed.result.rows_loaded, landed.result.rows_quarantined) == (29, 1)
    assert _quarantine(wh)["reasons"].tolist() == ["unreadable CSV record: 3 fields where the header has 13"]


def test_a_file_holding_only_the_days_delta_merges_and_keeps_every_other_row(tmp_path):
    """The delivery docs/integrations.md recommends: each day's export holds only new and changed records."""
    path = tmp_path / "contacts.csv"
    _write(path, [_contact(i) for i in range(100)])
    wh = Warehouse(tmp_path / "w.duckdb")
    [first] = _pull(wh, tmp_path)
    _write(path, [_contact(3, email="moved3@example.com", modstamp="2026-12-02T00:00:00.000Z"), _contact(100)])
    [delta] = _pull(wh, tmp_path, run="r2")
    assert (delta.result.rows_read, delta.result.rows_loaded, delta.result.rows_changed) == (2, 2, 2)
    stored = wh.query_df('select "Id", "Email", _batch_id from raw."salesforce__contacts"').set_index("Id")
    assert len(stored) == 101 and stored.index.is_unique
    assert stored.loc["003000000000000003", "Email"] == "moved3@example.com"
    assert (stored["_batch_id"] == first.result.batch_id).sum() == 99


def test_the_demo_workspace_lands_the_same_staged_as_in_batches(tmp_path):
    """Every export of the demo (its injected drift, renames and bad rows included) lands the same rows and the
    same quarantine through the staged path as through the DataFrame path."""
    from steward.integrations.demo.generator import generate_workspace
    from steward.integrations.sources.streams import streams_for

    ws = generate_workspace(tmp_path / "ws", scale=0.2)
    staged, batched = Warehouse(tmp_path / "s.duckdb"), Warehouse(tmp_path / "b.duckdb")
    modes = {}
    for platform in ("salesforce", "hubspot", "google_ads", "cdp", "decisions"):
        for stream in streams_for(platform):
            if not (ws.exports / platform / stream.path).is_file():
                continue
            [s] = _pull(staged, ws.exports / platform, platform, stream.entity)
            [b] = _pull(batched, ws.exports / platform, platform, stream.entity, stage=False)
            modes[stream.key] = s.result.rows_changed is not None
            assert (s.result.rows_read, s.result.rows_loaded, s.result.rows_quarantined) == \
                (b.result.rows_read, b.result.rows_loaded, b.result.rows_quarantined), stream.key
            pd.testing.assert_frame_equal(_rows(staged, stream.table), _rows(batched, stream.table),
                                          check_dtype=False, obj=stream.key)
    assert modes["hubspot.email_events"] and modes["salesforce.leads"] and modes["decisions.ai_decisions"]
    pd.testing.assert_frame_equal(_quarantine(staged).sort_values(["source_row", "reasons"]).reset_index(drop=True),
                                  _quarantine(batched).sort_values(["source_row", "reasons"]).reset_index(drop=True))
