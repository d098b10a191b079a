"""Landing is atomic per batch, idempotent per content, and never loses what an earlier batch landed."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from conftest import write_text
from steward.contracts.errors import WarehouseError
from steward.integrations.warehouse.landing import land_batch, latest_types
from steward.flows.pull import pull_entity
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.validation import check_batch

HEADER = "Id,Name,Industry,AnnualRevenue,BillingCountry,CreatedDate,SystemModstamp"


def _accounts(folder, rows):
    write_text(folder / "accounts.csv", "\n".join([HEADER, *rows]) + "\n")
    return next(ExportFilesAdapter("crm", "salesforce", folder, entities=["accounts"]).pull("accounts"))


def _acc(i, revenue="1000"):
    return f"001{i:015d},Acme {i},Retail,{revenue},US,2026-01-01T00:00:00.000Z,2026-11-0{1 + i % 8}T00:00:00.000Z"


def _land(wh, batch, run="r1"):
    v = check_batch(batch)
    return land_batch(wh, batch, v.valid, v.quarantined, v.drift, v.contract.version, run, types=v.types)


def _count(wh, sql):
    with wh.connect() as con:
        return con.execute(sql).fetchone()[0]


def test_valid_rows_land_and_bad_rows_go_to_quarantine_in_one_batch(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    result = _land(wh, _accounts(tmp_path, [_acc(1), _acc(2, revenue="-5"), _acc(3)]))
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    assert _count(wh, 'select count(*) from raw."salesforce__accounts"') == 2
    assert _count(wh, "select count(*) from ledger.quarantine where source_row = 2") == 1
    assert _count(wh, f"select rows_quarantined from ledger.batches where batch_id = '{result.batch_id}'") == 1


def test_same_content_is_not_landed_twice(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    batch = _accounts(tmp_path, [_acc(1), _acc(2)])
    first, again = _land(wh, batch), _land(wh, batch, run="r2")
    assert not first.skipped and again.skipped and again.batch_id == first.batch_id
    assert _count(wh, 'select count(*) from raw."salesforce__accounts"') == 2
    assert _count(wh, "select count(*) from ledger.batches") == 1


def test_a_failing_batch_rolls_back_and_keeps_earlier_batches(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    _land(wh, _accounts(tmp_path / "a", [_acc(1), _acc(2)]))
    batch = _accounts(tmp_path / "b", [_acc(3)])
    v = check_batch(batch)
    broken = v.valid.assign(AnnualRevenue="not a number")  # the insert itself fails half-way through the batch
    with pytest.raises(Exception):
        land_batch(wh, batch, broken, v.quarantined, None, "1", "r2")
    assert _count(wh, 'select count(*) from raw."salesforce__accounts"') == 2
    assert _count(wh, "select count(*) from ledger.batches") == 1


def test_unwritable_warehouse_path_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(WarehouseError, match="cannot create the warehouse folder"):
        Warehouse(blocker / "sub" / "w.duckdb")


def test_pause_is_recorded_and_idempotent(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    adapter = ExportFilesAdapter("hs", "hubspot", tmp_path, wh)
    first, second = adapter.pause("700003", "test"), adapter.pause("700003", "test")
    assert first.changed and not second.changed
    assert adapter.resume("700003", "ok").changed
    rows = wh.query_df("select * from ledger.campaign_controls")
    assert len(rows) == 1 and rows.iloc[0]["state"] == "active"
    assert isinstance(rows, pd.DataFrame)


def test_an_optional_export_may_be_absent_but_a_required_one_may_not(tmp_path):
    adapter = ExportFilesAdapter("cdp", "cdp", tmp_path)
    missing = {p.name for p in adapter.missing_files()}
    assert missing == {"profiles.parquet"}  # erasure_requests.parquet is optional
    assert list(adapter.pull("erasure_requests")) == []


def test_a_column_a_newer_contract_added_joins_an_existing_raw_table(tmp_path):
    """A warehouse landed before the decision log had ``input_snapshot_id`` takes the column on the next batch."""
    wh = Warehouse(tmp_path / "w.duckdb")
    _land(wh, _accounts(tmp_path / "a", [_acc(1)]))
    with wh.connect() as con:
        con.execute('alter table raw."salesforce__accounts" drop column "Industry"')  # as an older contract had it
    assert _land(wh, _accounts(tmp_path / "b", [_acc(2)]), run="r2").rows_loaded == 1
    with wh.connect() as con:
        rows = con.execute('select "Id", "Industry" from raw."salesforce__accounts" order by "Id"').fetchall()
    assert rows == [("001000000000000001", None), ("001000000000000002", "Retail")]


CONTACTS = "Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c," \
           "HasOptedOutOfEmail,CreatedDate,SystemModstamp"


def _contacts(folder, rows):
    write_text(folder / "contacts.csv", "\n".join([CONTACTS, *rows]) + "\n")
    return next(ExportFilesAdapter("crm", "salesforce", folder, entities=["contacts"]).pull("contacts"))


def _contact(i, email):
    return (f"003{i:015d},,Ana,Tester,{email},,GB,25-34,female,EMEA,false,2026-01-01T00:00:00.000Z,"
            f"2026-11-0{i}T00:00:00.000Z")


def _deletions(stream_batch, keys):
    from steward.contracts.registry import contract_for
    from steward.integrations.sources._records import to_batch
    batch = to_batch("crm", stream_batch.stream, [], "test://deleted", None, keys)
    batch.frame = pd.DataFrame(columns=contract_for(stream_batch.stream.key).columns())
    return batch


def test_a_deletion_drops_the_record_and_keeps_only_the_hash_of_its_address(tmp_path):
    import hashlib
    wh = Warehouse(tmp_path / "w.duckdb")
    first = _contacts(tmp_path / "a", [_contact(1, "Ana@X.io"), _contact(2, "bo@x.io"), _contact(3, "")])
    _land(wh, first)
    gone = ["003000000000000001", "003000000000000003", "003000000000000009"]  # 9 was never landed
    _land(wh, _deletions(first, gone), run="r2")
    with wh.connect() as con:
        left = [r[0] for r in con.execute('select "Id" from raw."salesforce__contacts"').fetchall()]
        tombs = con.execute("select record_id, email_sha256 from ledger.tombstones order by record_id").fetchall()
    assert left == ["003000000000000002"]
    assert tombs == [("003000000000000001", hashlib.sha256(b"ana@x.io").hexdigest()),
                     ("003000000000000003", None), ("003000000000000009", None)]
    # the same deletion reported again (a re-pull) keeps the hash it recorded while the row was still there
    _land(wh, _deletions(first, gone[:1]), run="r3")
    assert _count(wh, "select email_sha256 from ledger.tombstones where record_id = '003000000000000001'") == \
        hashlib.sha256(b"ana@x.io").hexdigest()


def test_a_record_sent_again_after_its_deletion_is_alive_again(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    first = _contacts(tmp_path / "a", [_contact(1, "ana@x.io"), _contact(2, "bo@x.io")])
    _land(wh, first)
    _land(wh, _deletions(first, ["003000000000000001"]), run="r2")
    _land(wh, _contacts(tmp_path / "b", [_contact(1, "ana@x.io")]), run="r3")  # undeleted in Salesforce
    assert _count(wh, "select count(*) from ledger.tombstones") == 0
    assert _count(wh, 'select count(*) from raw."salesforce__contacts"') == 2
def test_the_schema_snapshot_carries_every_column_with_its_type(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    batch = _accounts(tmp_path, [_acc(1), _acc(2)])
    v = check_batch(batch)
    result = land_batch(wh, batch, v.valid, v.quarantined, v.drift, v.contract.version, "r1", types=v.types)
    with wh.connect() as con:
        columns, types = con.execute("select columns, types from ledger.schema_snapshots where batch_id = ?",
                                     [result.batch_id]).fetchone()
    assert json.loads(columns) == HEADER.split(",")  # names only, as the health monitor reads them
    # the CSV reader leaves timestamps as written (the contract applies the zone rule); text that reads as ISO
    # timestamps is of the temporal family all the same
    stamp = str(batch.frame["CreatedDate"].dtype)
    assert stamp == "str"
    assert json.loads(types) == {
        "Id": {"dtype": "str", "family": "number"},  # text whose every value reads as a number
        "Name": {"dtype": "str", "family": "text"},
        "Industry": {"dtype": "str", "family": "text"}, "AnnualRevenue": {"dtype": "int64", "family": "number"},
        "BillingCountry": {"dtype": "str", "family": "text"},
        "CreatedDate": {"dtype": stamp, "family": "temporal"}, "SystemModstamp": {"dtype": stamp, "family": "temporal"}}
    assert latest_types(wh, "crm", "accounts") == json.loads(types)


def test_a_warehouse_from_before_typed_snapshots_gains_the_column(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:  # the ledger as it was: names only
        con.execute("create schema ledger; create table ledger.schema_snapshots (batch_id varchar, "
                    "integration varchar, entity varchar, columns json, taken_at timestamptz)")
        con.execute("insert into ledger.schema_snapshots values ('b1', 'crm', 'accounts', '[\"Id\"]', now())")
    wh = Warehouse(path)
    assert latest_types(wh, "crm", "accounts") is None  # no types yet: the next batch is not called retyped
    _land(wh, _accounts(tmp_path, [_acc(1)]))
    assert latest_types(wh, "crm", "accounts")["AnnualRevenue"] == {"dtype": "int64", "family": "number"}


def test_a_batch_without_its_primary_key_is_refused_and_nothing_landed_moves(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    adapter = ExportFilesAdapter("crm", "salesforce", tmp_path / "a", wh, entities=["accounts"])
    _accounts(tmp_path / "a", [_acc(1), _acc(2)])
    pull_entity(adapter, adapter.streams()[0], wh, "r1")
    before = wh.query_df('select * from raw."salesforce__accounts" order by "Id"')
    write_text(tmp_path / "a" / "accounts.csv",
               "\n".join([HEADER.replace("Id,", "AccountKey,", 1), _acc(3), _acc(4)]) + "\n")
    [item] = pull_entity(adapter, adapter.streams()[0], wh, "r2")
    reason = (f"{tmp_path / 'a' / 'accounts.csv'}: primary key column 'Id' of salesforce.accounts is missing; "
              f"cannot land without it")
    assert item.refused == reason and item.result.rows_loaded == 0 and item.result.rows_read == 2
    assert wh.query_df('select * from raw."salesforce__accounts" order by "Id"').equals(before)
    assert _count(wh, "select count(*) from ledger.batches") == 1
    assert _count(wh, "select count(*) from ledger.schema_snapshots") == 1
    refusal = wh.query_df("select * from ledger.schema_refusals").iloc[0]
    assert (refusal["run_id"], refusal["integration"], refusal["platform"], refusal["entity"], refusal["kind"],
            refusal["reason"], refusal["rows_refused"], refusal["owner"], refusal["refusal_id"]) == \
        ("r2", "crm", "salesforce", "accounts", "primary_key_missing", reason, 2, "crm-ops", item.result.batch_id)
    assert json.loads(refusal["drift"]) == {"missing": ["Id"], "added": ["AccountKey"], "renamed": {}}
    assert json.loads(refusal["columns"]) == HEADER.replace("Id,", "AccountKey,", 1).split(",")
