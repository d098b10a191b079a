"""Bad records in export files cost only themselves: the readable rows land, the rest is quarantined with a reason
(the first ``keep_max`` kept, all counted), and a file of which nothing can be read is refused for its entity."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from steward.flows.pull import pull_entity
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from bench_bad_input import GOOD, write_garbage  # noqa: E402  (the benchmark's own garbage, smaller)


def _pull(wh, folder, platform, entity, run="r1", keep_max=1000, batch_rows=50_000, stage=True):
    adapter = ExportFilesAdapter(platform, platform, folder, wh, entities=[entity], batch_rows=batch_rows,
                                 stage=stage)
    return pull_entity(adapter, adapter.streams()[0], wh, run, keep_max=keep_max)


def _one(wh, sql, params=()):
    with wh.connect() as con:
        return con.execute(sql, list(params)).fetchone()


def test_a_garbage_csv_counts_every_bad_line_and_keeps_only_the_cap(tmp_path):
    """The issue's 1M-line garbage file, at 50k lines: exact counts in ledger.batches, 200 rows kept."""
    write_garbage(tmp_path / "contacts.csv", 50_000)
    wh = Warehouse(tmp_path / "w.duckdb")
    [landed] = _pull(wh, tmp_path, "salesforce", "contacts", keep_max=200)
    assert (landed.result.rows_read, landed.result.rows_loaded, landed.result.rows_quarantined) == \
        (GOOD + 50_000, GOOD, 50_000)
    assert _one(wh, "select rows_read, rows_loaded, rows_quarantined from ledger.batches") == \
        (GOOD + 50_000, GOOD, 50_000)
    assert _one(wh, "select count(*), min(source_row) from ledger.quarantine") == (200, GOOD + 1)
    assert _one(wh, 'select count(*) from raw."salesforce__contacts"') == (GOOD,)
    reasons = {r for (r,) in wh.query_df("select reasons from ledger.quarantine").itertuples(index=False)}
    assert {"unreadable CSV record: holds a NUL byte", "unreadable CSV record: 3 fields where the header has 13"} \
        <= reasons
    assert any(r.startswith("unreadable CSV record: not valid UTF-8") for r in reasons)


def _contacts_csv(rows: int) -> bytes:
    header = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
              "HasOptedOutOfEmail,CreatedDate,SystemModstamp")
    lines = [f"003{i:015d},,Ana,Tester,a{i}@example.com,,GB,25-34,female,EMEA,false,2026-01-01T00:00:00.000Z,"
             f"2026-11-01T00:00:00.000Z" for i in range(rows)]
    return ("\n".join([header, *lines]) + "\n").encode()


def test_junk_bytes_in_the_middle_of_a_csv_cost_only_their_lines(tmp_path):
    """Random bytes that left DuckDB's sniffer without a dialect ('Error when sniffing file') mid-file."""
    body = _contacts_csv(400)
    cut = body.index(b"\n", len(body) // 2) + 1 + 20  # inside a record: that record is broken too
    (tmp_path / "contacts.csv").write_bytes(body[:cut] + random.Random(4).randbytes(300) + body[cut:])
    wh = Warehouse(tmp_path / "w.duckdb")
    [landed] = _pull(wh, tmp_path, "salesforce", "contacts")
    result = landed.result
    assert landed.refused is None and result.rows_loaded == 399  # every record but the one the junk landed in
    assert result.rows_read == result.rows_loaded + result.rows_quarantined
    kept = wh.query_df("select source_row, reasons from ledger.quarantine order by source_row")
    assert len(kept) == result.rows_quarantined >= 1
    assert all(r.startswith("unreadable CSV record: ") for r in kept["reasons"])
    # a rerun of the same file lands nothing twice
    [again] = _pull(wh, tmp_path, "salesforce", "contacts", run="r2")
    assert again.result.skipped and _one(wh, 'select count(*) from raw."salesforce__contacts"') == (399,)


def _events(rows: int) -> list[bytes]:
    return [json.dumps({"id": f"e{i}", "type": "OPEN", "recipient": f"p{i}@example.com", "emailCampaignId": 700001,
                        "created": 1791637200000, "portalId": 4210042}).encode() + b"\n" for i in range(rows)]


@pytest.mark.parametrize("bad, reason", [
    (b'{"id": "e-bad", "recipient": "caf\xe9@example.com"}\n', "unreadable JSON line: not valid UTF-8 (byte "),
    (b'{"id": "e-deep", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
     "unreadable JSON line: nested deeper than 64 levels"),
    (b'{"id": "e-broken", "recipient": }\n', "unreadable JSON line: not valid JSON (Expecting value at column 33)"),
])
def test_one_bad_ndjson_line_is_quarantined_and_the_rest_lands(tmp_path, bad, reason):
    lines = _events(50)
    (tmp_path / "email_events.jsonl").write_bytes(b"".join(lines[:20] + [bad] + lines[20:]))
    wh = Warehouse(tmp_path / "w.duckdb")
    [landed] = _pull(wh, tmp_path, "hubspot", "email_events")
    assert landed.refused is None
    assert (landed.result.rows_read, landed.result.rows_loaded, landed.result.rows_quarantined) == (51, 50, 1)
    [(row, why)] = wh.query_df("select source_row, reasons from ledger.quarantine").itertuples(index=False)
    assert row == 21 and why.startswith(reason)
    assert _one(wh, 'select count(*) from raw."hubspot__email_events"') == (50,)


def test_a_file_of_which_nothing_can_be_read_is_refused_for_its_entity(tmp_path):
    (tmp_path / "email_events.jsonl").write_bytes(b"\xff\xfe garbage\n" * 30)
    wh = Warehouse(tmp_path / "w.duckdb")
    [landed] = _pull(wh, tmp_path, "hubspot", "email_events")
    assert landed.refused_kind == "unreadable" and landed.result.rows_loaded == 0
    assert landed.refused == (f"{tmp_path / 'email_events.jsonl'}: no record of hubspot.email_events could be "
                              "read (30 unreadable; the first, row 1: unreadable JSON line: not valid UTF-8 (byte 0))")
    assert _one(wh, "select kind, rows_refused from ledger.schema_refusals") == ("unreadable", 30)
    assert _one(wh, "select count(*) from ledger.batches") == (0,)  # nothing of it landed, not even quarantine
    assert _one(wh, "select count(*) from ledger.quarantine") == (0,)


@pytest.mark.parametrize("stage", [False, True])
def test_a_long_export_streams_in_batches_and_a_rerun_lands_nothing_twice(tmp_path, stage):
    """Read in batches (the path of a file with bad records), or staged whole in a DuckDB file of its own (a clean
    file): either way a rerun lands nothing twice."""
    (tmp_path / "contacts.csv").write_bytes(_contacts_csv(5000))
    wh = Warehouse(tmp_path / "w.duckdb")
    first = _pull(wh, tmp_path, "salesforce", "contacts", batch_rows=2048, stage=stage)
    assert [item.result.rows_loaded for item in first] == ([5000] if stage else [2048, 2048, 904])
    again = _pull(wh, tmp_path, "salesforce", "contacts", run="r2", batch_rows=2048, stage=stage)
    assert all(item.result.skipped for item in again)
    assert _one(wh, 'select count(*), count(distinct "Id") from raw."salesforce__contacts"') == (5000, 5000)


def test_a_value_the_sniffer_did_not_expect_is_counted_not_lost(tmp_path):
    """DuckDB types CSV columns from a sample; a later value that does not cast is skipped by the reader. It is
    quarantined with DuckDB's reason (or, if the sniffer saw it, by the contract): either way no row vanishes."""
    header = "Id,Name,Industry,AnnualRevenue,BillingCountry,CreatedDate,SystemModstamp"
    rows = [f"001{i:015d},Acme {i},Retail,{'n/a' if i == 30_000 else 1000},US,2026-01-01T00:00:00.000Z,"
            "2026-11-01T00:00:00.000Z" for i in range(30_001)]
    (tmp_path / "accounts.csv").write_text("\n".join([header, *rows]) + "\n")
    wh = Warehouse(tmp_path / "w.duckdb")
    [landed] = _pull(wh, tmp_path, "salesforce", "accounts")
    assert (landed.result.rows_read, landed.result.rows_loaded, landed.result.rows_quarantined) == \
        (30_001, 30_000, 1)
    [(why,)] = wh.query_df("select reasons from ledger.quarantine").itertuples(index=False)
    assert "AnnualRevenue" in why and "n/a" in why
