"""What landing costs per run (issue #12, ingest): per-file and per-call fixed costs, not what lands.

A pull keeps the warehouse open for its length (one open of the file, not one per statement), integrations pulling
at once share that one open file safely, and the emulators answer without Nagle's 40 ms wait per request.
"""

from __future__ import annotations

import threading

import duckdb
import pytest

from steward.flows.pull import pull_integration
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse import connection
from steward.integrations.warehouse.connection import _PINNED

HEADER = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
          "HasOptedOutOfEmail,CreatedDate,SystemModstamp")


def _contacts(folder, n: int, bad: int | None = None) -> None:
    rows = [f"003{i:015d},,Ana,Tester,{'not-an-email' if i == bad else f'a{i}@example.com'},,GB,25-34,female,"
            "EMEA,false,2026-01-01T00:00:00.000Z,2026-11-01T00:00:00.000Z" for i in range(n)]
    (folder / "contacts.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    (folder / "leads.csv").write_text("Id,Email,Company,Status,LeadSource,Age_Band__c,Gender__c,Region__c,"
                                      "IsConverted,ConvertedContactId,CreatedDate,SystemModstamp\n")


def test_a_pin_outlives_the_thread_that_opened_it(tmp_path):
    """The pin is counted, not owned: a thread still inside ``pinned`` keeps its cursor when the thread that opened
    the pin leaves first (before, the opener closed the connection under the other's open cursor)."""
    wh = Warehouse(tmp_path / "w.duckdb")
    opened, left, done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with wh.pinned():
            opened.set()
            left.wait(30)

    def second() -> None:
        try:
            opened.wait(30)
            with wh.pinned(), wh.connect() as con:
                con.execute("create table ledger.t (x int)")
                left.set()  # the opener leaves now, while this cursor is open
                done.wait(30)
                con.execute("insert into ledger.t values (1)")
                assert _PINNED[wh.path][1] == 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    left.wait(30)
    threads[0].join(30)
    done.set()
    threads[1].join(30)
    assert errors == []
    assert wh.path not in _PINNED  # the last one out closed it
    with duckdb.connect(str(wh.path), read_only=True) as con:
        assert con.execute("select sum(x) from ledger.t").fetchone() == (1,)


def test_integrations_pinning_at_once_share_one_open_file(tmp_path):
    """Six threads pinning and landing at once: one open of the file, every write kept, and the file closed after."""
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.connect() as con:
        con.execute("create table ledger.t (x int)")
    start = threading.Barrier(6)
    seen: set[int] = set()
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait(30)
            with wh.pinned():
                seen.add(id(_PINNED[wh.path][0]))
                for j in range(20):
                    with wh.connect() as con:
                        con.execute("insert into ledger.t values (?)", [i * 100 + j])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(seen) == 1 and wh.path not in _PINNED
    with wh.connect() as con:
        assert con.execute("select count(distinct x) from ledger.t").fetchone() == (120,)


def test_a_pull_opens_the_warehouse_file_once(tmp_path, monkeypatch):
    """Every statement of a pull (watermark, types, fingerprint, landing, ledger rows) runs on one open warehouse:
    before, each opened the file and closed it (a checkpoint), a dozen times per entity."""
    folder = tmp_path / "exports"
    folder.mkdir()
    _contacts(folder, 50, bad=7)
    wh = Warehouse(tmp_path / "w.duckdb")
    opens: list[str] = []
    real = duckdb.connect

    def counting(database=":memory:", *args, **kwargs):
        if str(database) == str(wh.path):
            opens.append(str(database))
        return real(database, *args, **kwargs)

    monkeypatch.setattr(connection.duckdb, "connect", counting)
    adapter = ExportFilesAdapter("salesforce", "salesforce", folder, wh, entities=["contacts", "leads"])
    landed = pull_integration(adapter, wh, "r1")
    assert [(i.result.entity, i.result.rows_loaded, i.result.rows_quarantined) for i in landed] == [
        ("contacts", 49, 1), ("leads", 0, 0)]
    assert len(opens) == 1
    monkeypatch.undo()
    with wh.connect() as con:  # what the pull wrote is there once the pin is gone
        assert con.execute('select count(*) from raw."salesforce__contacts"').fetchone() == (49,)
        assert con.execute("select count(*) from ledger.quarantine").fetchone() == (1,)
        assert con.execute("select count(*) from ledger.batches").fetchone() == (2,)


@pytest.mark.parametrize("module", ["steward.integrations.emulator._platform", "steward.integrations.emulator.slack"])
def test_the_emulators_answer_without_nagles_delay(module):
    """An answer's headers and body are two writes; with Nagle on, the body waits for the client's delayed ACK
    (40 ms on Linux), so every API call of the demo and the tests cost 40 ms more than the work."""
    import importlib

    handler = importlib.import_module(module)._handler_for(object())  # type: ignore[arg-type]
    assert handler.disable_nagle_algorithm is True
