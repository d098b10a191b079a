"""Export files known by their path in the integration's folder, not where the folder is: a stack folder moved,
copied or restored elsewhere is not read again at its next run; a copy that lost its mtimes is hashed, not staged;
a file whose content changed is still read; rows written with absolute paths before are still known. And staging
folders left in the temp dir by a killed process are swept at the next run's start, never a live process's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from steward.flows.pull import pull_entity
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.sources import export_files
from steward.integrations.sources._stage import STAGE_PREFIX, UNOWNED_AGE_SECONDS, sweep_stages
from steward.integrations.warehouse import Warehouse

from both_warehouses import KINDS, duckdb_warehouse, postgres_warehouse
from governed import demo_run_copy

HEADER = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
          "HasOptedOutOfEmail,CreatedDate,SystemModstamp")


def _contact(i: int, email: str | None = None) -> str:
    return (f"003{i:015d},,Ana,Tester,{email or f'a{i}@example.com'},,GB,25-34,female,EMEA,false,"
            "2026-01-01T00:00:00.000Z,2026-11-01T00:00:00.000Z")


def _stack(root: Path, rows: int = 60) -> Path:
    """A stack folder: its exports under ``exports/salesforce`` (the integration's ``path:``)."""
    folder = root / "exports" / "salesforce"
    folder.mkdir(parents=True)
    (folder / "contacts.csv").write_text("\n".join([HEADER, *(_contact(i) for i in range(rows))]) + "\n")
    return folder


@pytest.fixture(params=KINDS)
def any_warehouse(request, tmp_path) -> Warehouse:
    """A fresh, empty warehouse of each kind in turn (DuckDB; PostgreSQL on the session's server)."""
    if request.param == "duckdb":
        return duckdb_warehouse(tmp_path)
    return postgres_warehouse(request.getfixturevalue("pg_server"))


def _pull(wh: Warehouse, folder: Path, run: str):
    adapter = ExportFilesAdapter("crm", "salesforce", folder, wh, entities=["contacts"])
    [item] = pull_entity(adapter, adapter.streams()[0], wh, run)
    return item.result


class _Reads:
    """Counts the export files hashed (``_scan``: every read starts there) and staged (``_stage``)."""

    def __init__(self, monkeypatch) -> None:
        self.scanned: list[Path] = []
        self.staged: list[Path] = []
        scan, stage = export_files._scan, export_files._stage
        monkeypatch.setattr(export_files, "_scan", lambda path: (self.scanned.append(path), scan(path))[1])
        monkeypatch.setattr(export_files, "_stage",
                            lambda stream, path, *a, **k: (self.staged.append(path), stage(stream, path, *a, **k))[1])


def _files(wh: Warehouse) -> list[tuple]:
    with wh.connect() as con:
        return con.execute("select integration, entity, source, size, mtime_ns, batch_id from ledger.landed_files "
                           "order by 1, 2, 3").fetchall()


def _counts(wh: Warehouse) -> tuple[int, int]:
    with wh.connect() as con:
        return (con.execute('select count(*) from raw."salesforce__contacts"').fetchone()[0],
                con.execute("select count(*) from ledger.batches").fetchone()[0])


def test_a_moved_stack_folder_is_not_read_again_and_a_changed_file_there_is(any_warehouse, tmp_path, monkeypatch):
    wh = any_warehouse
    first = _pull(wh, _stack(tmp_path / "old"), "r1")
    assert not first.skipped and first.rows_loaded == 60
    assert [row[2] for row in _files(wh)] == ["contacts.csv"]  # the key: relative to the integration's folder
    shutil.move(str(tmp_path / "old"), str(tmp_path / "new"))  # mv keeps the files' mtimes
    moved = tmp_path / "new" / "exports" / "salesforce"
    reads = _Reads(monkeypatch)
    again = _pull(wh, moved, "r2")
    assert again.skipped and again.batch_id == first.batch_id and again.rows_read == 0
    assert reads.scanned == [] and reads.staged == []  # not a byte of it read
    assert _counts(wh) == (60, 1)

    lines = (moved / "contacts.csv").read_text().splitlines()
    lines[5] = _contact(4, email="moved4@example.com")  # a changed row, at the new place
    (moved / "contacts.csv").write_text("\n".join(lines + [_contact(60)]) + "\n")
    changed = _pull(wh, moved, "r3")
    assert not changed.skipped and changed.rows_changed == 2 and reads.scanned == [moved / "contacts.csv"]
    assert _counts(wh) == (61, 2)
    [(_, _, source, size, _, batch_id)] = _files(wh)  # one row per file, under its key, for the new content
    assert (source, size, batch_id) == ("contacts.csv", (moved / "contacts.csv").stat().st_size, changed.batch_id)


def test_a_copy_that_lost_its_mtimes_is_hashed_not_staged(any_warehouse, tmp_path, monkeypatch):
    """``cp -r`` without ``-p``: the same sizes, new mtimes. The hash every read starts with says the content landed
    before: the file is not staged, judged or merged, and from then on it is known by its new stat. A file of the same
    size whose content differs is read."""
    wh = any_warehouse
    first = _pull(wh, _stack(tmp_path / "old"), "r1")
    shutil.copytree(tmp_path / "old", tmp_path / "copy", copy_function=shutil.copyfile)  # no metadata copied
    copy = tmp_path / "copy" / "exports" / "salesforce" / "contacts.csv"
    stamp = copy.stat().st_mtime_ns + 5 * 10**9
    os.utime(copy, ns=(stamp, stamp))  # a copy made later: its mtime differs whatever the clock's resolution
    reads = _Reads(monkeypatch)
    copied = _pull(wh, copy.parent, "r2")
    assert copied.skipped and copied.batch_id == first.batch_id and copied.rows_read == 0
    assert reads.scanned == [copy] and reads.staged == []
    [(_, _, source, size, mtime_ns, batch_id)] = _files(wh)
    assert (source, size, mtime_ns, batch_id) == ("contacts.csv", copy.stat().st_size, stamp, first.batch_id)
    known = _pull(wh, copy.parent, "r3")
    assert known.skipped and reads.scanned == [copy]  # known by its new stat: not hashed again

    text = copy.read_text().replace("a7@example.com", "b7@example.com")  # same size, other content
    copy.write_text(text)  # rewritten: a new mtime, the size it had
    assert copy.stat().st_size == size and copy.stat().st_mtime_ns != stamp
    changed = _pull(wh, copy.parent, "r4")
    assert not changed.skipped and changed.rows_changed == 1 and reads.staged == [copy]
    assert _counts(wh) == (60, 2)


def test_rows_written_with_absolute_paths_are_still_known_and_rewritten_under_the_key(any_warehouse, tmp_path,
                                                                                      monkeypatch):
    """A warehouse from before keys holds each file's absolute path. Its stack, moved, is still known without reading
    it, and the row is rewritten under the key (one row per file), so the ledger converges."""
    wh = any_warehouse
    old = _stack(tmp_path / "old")
    first = _pull(wh, old, "r1")
    with wh.connect() as con:  # what the ledger held before keys: the path the file was read from
        con.execute("update ledger.landed_files set source = ?", [str(old / "contacts.csv")])
        con.execute("insert into ledger.landed_files values ('crm', 'leads', ?, 1, 1, 'x', 'b-x', null)",
                    [str(old / "contacts.csv")])  # another entity's row: not this file's, whatever its path
    shutil.move(str(tmp_path / "old"), str(tmp_path / "new"))
    reads = _Reads(monkeypatch)
    again = _pull(wh, tmp_path / "new" / "exports" / "salesforce", "r2")
    assert again.skipped and again.batch_id == first.batch_id and reads.scanned == []
    assert [(row[1], row[2]) for row in _files(wh)] == [("contacts", "contacts.csv"),
                                                       ("leads", str(old / "contacts.csv"))]
    with wh.connect() as con:  # a legacy row whose path ends elsewhere is not this file's
        con.execute("update ledger.landed_files set source = '/elsewhere/other.csv' where entity = 'contacts'")
    other = _pull(wh, tmp_path / "new" / "exports" / "salesforce", "r3")
    assert other.skipped and len(reads.scanned) == 1  # not known by stat: hashed (and its content known)


# ------------------------------------------------------------------------------------------ staging folders


_STAGER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from steward.integrations.sources import ExportFilesAdapter
    from steward.integrations.sources._stage import scan_file
    from steward.integrations.sources.export_files import _stage
    folder = Path(sys.argv[1])
    adapter = ExportFilesAdapter("crm", "salesforce", folder, None, entities=["contacts"])
    staged = _stage(adapter.streams()[0], folder / "contacts.csv", scan_file(folder / "contacts.csv"))
    print(staged.folder, flush=True)
    time.sleep(120)  # mid-pull: killed here, or left running
""")


def _stager(folder: Path, temp: Path) -> tuple[subprocess.Popen, Path]:
    """A real process that stages an export (in ``temp``) and stays in the middle of its pull."""
    proc = subprocess.Popen([sys.executable, "-c", _STAGER, str(folder)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(temp)})
    staged = Path(proc.stdout.readline().strip())
    assert staged.parent == temp and (staged / "rows.duckdb").is_file()
    return proc, staged


def test_staging_folders_of_gone_processes_are_swept_and_no_others(tmp_path):
    folder = _stack(tmp_path / "stack")
    temp = tmp_path / "tmp"
    temp.mkdir()
    killed, orphan = _stager(folder, temp)
    live, running = _stager(folder, temp)
    try:
        killed.send_signal(signal.SIGKILL)  # killed outright: nothing of it runs again to remove its folder
        killed.wait()
        killed.stdout.close()
        assert orphan.is_dir() and orphan.name.startswith(f"{STAGE_PREFIX}{killed.pid}-")
        mine = temp / f"{STAGE_PREFIX}{os.getpid()}-abcd1234"  # this process's own: live
        foreign = [temp / "steward-stagehand", temp / "other-stage-1-x", temp / f"{STAGE_PREFIX}{killed.pid}"]
        legacy_old, legacy_new = temp / f"{STAGE_PREFIX}old_1234", temp / f"{STAGE_PREFIX}new_1234"
        for made in [mine, *foreign, legacy_old, legacy_new]:
            made.mkdir()
            (made / "rows.duckdb").write_bytes(b"x")
        long_ago = time.time() - UNOWNED_AGE_SECONDS - 60  # named before pids were, untouched for a day: gone
        for path in (legacy_old / "rows.duckdb", legacy_old):
            os.utime(path, (long_ago, long_ago))
        (temp / f"{STAGE_PREFIX}1-file").write_text("a file, not a folder")
        # a live pid, reused (known from /proc): the folder was last changed a day before the live process with that
        # pid (this one, the stager) started, so an earlier process with the same pid made it
        reused = [temp / f"{STAGE_PREFIX}{os.getpid()}-earlier0", temp / f"{STAGE_PREFIX}{live.pid}-earlier1"]
        for made in reused if sys.platform == "linux" else []:
            made.mkdir()
            os.utime(made, (time.time() - 10**5, time.time() - 10**5))

        expected = sorted([orphan, legacy_old, *(p for p in reused if p.exists())])
        assert sorted(sweep_stages(temp)) == expected
        assert not orphan.exists() and not legacy_old.exists()
        assert running.is_dir() and (running / "rows.duckdb").is_file()  # a live process's folder stays
        assert all(p.exists() for p in [mine, *foreign, legacy_new, temp / f"{STAGE_PREFIX}1-file"])
        assert sweep_stages(temp) == []
    finally:
        live.kill()
        live.wait()
        live.stdout.close()
    assert sweep_stages(temp) == [running]  # its process is gone now


@pytest.mark.slow
def test_a_run_of_a_moved_demo_stack_reads_no_export_and_sweeps_dead_staging(prefect_harness, tmp_path_factory,
                                                                           monkeypatch):
    """The session's governed demo, copied to a folder of its own (its mtimes kept, as ``mv``, ``cp -p`` or a
    restored backup keep them), runs again: every export is known by its key and stat, none is read. The run's start
    removes a staging folder whose process is gone and leaves a live one's."""
    from steward.flows.governance import RunParams, governance_run

    demo = demo_run_copy(tmp_path_factory, "moved-stack")
    temp = tmp_path_factory.mktemp("tmp")
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() reads TMPDIR again
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    orphan = temp / f"{STAGE_PREFIX}{int(gone.stdout)}-zzzz0000"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    running = temp / f"{STAGE_PREFIX}{live.pid}-zzzz1111"
    for made in (orphan, running):
        made.mkdir()
        (made / "rows.duckdb").write_bytes(b"x")
    reads = _Reads(monkeypatch)
    try:
        result = governance_run(RunParams(config=str(demo.config), kind="demo"))
    finally:
        live.kill()
        live.wait()
    assert result.status == "completed"
    assert len(result.ingested) == len(demo.result.ingested) >= 10  # every export of the demo, pulled again
    assert all(row["skipped"] and row["rows_read"] == 0 for row in result.ingested), result.ingested
    assert reads.scanned == [] and reads.staged == []
    wh = Warehouse(result.warehouse)
    assert wh.query_df("select count(*) as n from ledger.batches where run_id = ?", [result.run_id])["n"].iat[0] == 0
    assert not orphan.exists() and running.is_dir()
