"""What landing costs per run (issue #12, ingest): per-file and per-call fixed costs, not what lands.

A pull keeps the warehouse open for its length (one open of the file, not one per statement), integrations pulling
at once share that one open file safely, and the emulators answer without Nagle's 40 ms wait per request.
"""

from __future__ import annotations

import os
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
    start, inside = threading.Barrier(6), threading.Barrier(6)
    seen: set[int] = set()
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait(30)
            with wh.pinned():
                seen.add(id(_PINNED[wh.path][0]))
                inside.wait(30)  # every thread holds the pin before any lets go of it
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


def test_a_text_column_is_typed_from_its_first_values_and_a_family_still_needs_every_value(monkeypatch):
    """Every value must read as a family, so a family the first values refuse is out at once: an id or address
    column of a 100,000-row batch is not parsed three times over. A column whose first values all read still has
    every value tried, so one value that does not read further down keeps it text."""
    import pandas as pd

    from steward.contracts import schema_types

    seen: list[int] = []
    reads = [(family, (lambda f: (lambda values: seen.append(len(values)) or f(values)))(f))
             for family, f in schema_types.TEXT_READS]
    monkeypatch.setattr(schema_types, "TEXT_READS", tuple(reads))
    n = 100_000
    text = pd.Series([f"a{i}@example.com" for i in range(n)], dtype="string")
    assert schema_types.column_types(pd.DataFrame({"email": text}))["email"]["family"] == "text"
    assert max(seen) <= 64
    seen.clear()
    amounts = pd.Series([str(i) for i in range(n - 1)] + ["n/a"], dtype="string")
    assert schema_types.column_types(pd.DataFrame({"amount": amounts}))["amount"]["family"] == "text"
    assert max(seen) == n
    flags = pd.Series(["true", "FALSE "] * (n // 2), dtype="string")
    stamps = pd.Series(["2026-01-01T00:00:00Z"] * 10, dtype="string")
    assert {c: t["family"] for c, t in schema_types.column_types(pd.DataFrame(
        {"flag": flags, "n": amounts.iloc[:-1].reset_index(drop=True)})).items()} == {"flag": "boolean", "n": "number"}
    assert schema_types.column_types(pd.DataFrame({"at": stamps}))["at"]["family"] == "temporal"


def test_a_contracts_schema_is_built_once_and_handed_out_as_copies():
    """The column lists read one schema built per model; ``schema()`` still gives each caller its own copy to
    change (the conform relaxes missing columns on it), so no change leaks into the next batch's judgement."""
    from steward.contracts.registry import contract_for

    contract = contract_for("salesforce.contacts")
    first = contract.schema()
    first.columns["LastName"].nullable = True
    first.report_duplicates = "all"
    again = contract.schema()
    assert again is not first and not again.columns["LastName"].nullable
    assert again.report_duplicates == "exclude_first"
    assert contract.columns() == list(again.columns)
    assert set(contract.required_columns()) | set(contract.optional_columns()) == set(contract.columns())


def test_batches_judged_at_once_share_one_scratch_database_and_keep_their_own_verdicts(monkeypatch):
    """The batch path judges each frame on a cursor of one in-memory DuckDB the process keeps, not a database
    started per batch; threads judging at once see only their own frame."""
    import pandas as pd

    from steward.contracts.batch import Batch
    from steward.integrations.sources.streams import streams_for
    from steward.integrations.warehouse import validation

    stream = next(s for s in streams_for("salesforce") if s.entity == "contacts")
    cols = HEADER.split(",")

    def batch(n: int, bad: int) -> Batch:
        rows = [[f"003{i:015d}", None, "Ana", "Tester", "not-an-email" if i < bad else f"a{i}@example.com", None,
                 "GB", "25-34", "female", "EMEA", False, "2026-01-01T00:00:00.000Z", "2026-11-01T00:00:00.000Z"]
                for i in range(n)]
        return Batch("salesforce", stream, pd.DataFrame(rows, columns=cols), f"mem-{bad}", f"fp-{bad}", merge=True)

    validation.check_batch(batch(5, 1))  # the process's scratch database exists from here on
    started: list[str] = []
    real = duckdb.connect
    monkeypatch.setattr(validation.duckdb, "connect", lambda *a, **k: started.append("x") or real(*a, **k))
    verdicts: dict[int, tuple[int, int]] = {}

    def judge(bad: int) -> None:
        v = validation.check_batch(batch(400, bad))
        verdicts[bad] = (len(v.valid), len(v.quarantined))

    threads = [threading.Thread(target=judge, args=(bad,)) for bad in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert verdicts == {bad: (400 - bad, bad) for bad in range(1, 7)}
    assert started == []


def test_a_staged_file_is_opened_once_to_stage_and_judge_and_closed_when_not_judged(tmp_path, monkeypatch):
    """Staging keeps the staging file open for the contract, so it is opened once, not once to stage and once to
    judge; a staged batch nobody judged (the pull stopped) is closed and removed with its folder."""
    from steward.integrations.sources import _stage

    folder = tmp_path / "exports"
    folder.mkdir()
    _contacts(folder, 30, bad=4)
    wh = Warehouse(tmp_path / "w.duckdb")
    opens: list[str] = []
    real = duckdb.connect

    def counting(database=":memory:", *args, **kwargs):
        if str(database).endswith("rows.duckdb"):
            opens.append(str(database))
        return real(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counting)
    adapter = ExportFilesAdapter("salesforce", "salesforce", folder, wh, entities=["contacts"])
    [item] = pull_integration(adapter, wh, "r1")
    assert (item.result.rows_loaded, item.result.rows_quarantined) == (29, 1)
    assert len(opens) == 1 and _stage._OPEN == {}
    _contacts(folder, 31)  # a new file to stage
    batches = adapter.pull("contacts", None, stage=True)
    batch = next(batches)
    assert batch.staged in _stage._OPEN
    batches.close()  # stopped before judging
    assert _stage._OPEN == {} and not os.path.exists(batch.staged)
