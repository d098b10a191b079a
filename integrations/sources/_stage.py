"""Reads an export file whole into a DuckDB file of its own, when DuckDB's readers read every record of it cleanly.

The streaming screen (``_screen``) judges every record in Python, which at ten million email events is most of a
first run. A clean file (the usual case) needs none of it: one pass in C hashes the file, counts its lines and looks
for NUL bytes (``scan_file``); for a CSV, DuckDB then checks in SQL what the screen checks per record (valid UTF-8,
length, the header's field count; the few lines holding a quote are judged by the screen's own rule); and DuckDB's
reader, with nothing to skip (``ignore_errors`` off), reads the file into table ``rows``. The rows read must be the
lines counted and every column a plain value. Whatever fails, the stage gives up and the file is read as before,
screened record by record, so a bad record still costs only itself and is named with the same reason.

The staging file lives in its own temporary folder with its own memory limit, and DuckDB spills to that folder, so
a file larger than memory is staged, not held. The folder's name carries the pid of the process staging
(``steward-stage-<pid>-<random>``): a process killed outright (``kill -9``, a lost container) cannot remove it, so
the next run's start removes the folders whose process is gone (``sweep_stages``).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd

from ...contracts.batch import Stream
from ._records import DEFAULT_BATCH_ROWS
from ._screen import MAX_RECORD_BYTES, Screened, _csv_problem

__all__ = ["Scan", "Staged", "scan_file", "stage_file", "take_stage", "sweep_stages", "STAGE_MEMORY", "STAGE_PREFIX"]

STAGE_MEMORY = "1GB"  # DuckDB's memory limit while staging one file; beyond it, it spills to the stage's folder
SAMPLE_ROWS = DEFAULT_BATCH_ROWS  # the first rows, as a DataFrame: the batch path's first batch, for drift and types
_CHUNK = 1 << 22
STAGE_PREFIX = "steward-stage-"  # + "<pid>-" + tempfile's random part: the temp dir's folders Steward may sweep
_OWNED = re.compile(re.escape(STAGE_PREFIX) + r"(\d+)-[a-z0-9_]+")
# A folder named before the pid was (``steward-stage-<random>``): its process cannot be known, so it goes only when
# nothing in it changed for a day (a stage lives for one pull: minutes at ten million rows).
_UNOWNED = re.compile(re.escape(STAGE_PREFIX) + r"[a-z0-9_]{8}")
UNOWNED_AGE_SECONDS = 24 * 3600
REUSE_MARGIN_SECONDS = 60  # a folder older than its pid's live process by this much is an earlier process's
# Staging files still open from staging (path of the DuckDB file -> its connection), until the contract judges them
# (``take_stage``): opening a DuckDB file starts a database and closing it checkpoints the file, which costs more
# than staging and judging a small export, so a staged file is opened once, not once to stage and once to judge.
_OPEN: dict[str, duckdb.DuckDBPyConnection] = {}
_OPEN_LOCK = threading.Lock()
# the column types a staged file may have: plain values (a nested or JSON column is for the screen to look at)
_SCALAR = re.compile(r"^(VARCHAR|BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|"
                     r"UBIGINT|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|DATE|TIMESTAMP|TIMESTAMP WITH TIME ZONE|"
                     r"TIMESTAMP_NS|TIMESTAMP_MS|TIMESTAMP_S)$")


@dataclass(frozen=True)
class Scan:
    """One pass over the file's bytes: its SHA-256, its lines (a last line without a newline counts) and whether a
    NUL byte is anywhere in it (text files only: Parquet is binary, and its reader refuses a broken file whole)."""

    digest: str
    size: int
    lines: int
    nul: bool


@dataclass
class Staged:
    """The file's rows in ``db`` (table ``rows``, in file order), how many, and the first of them as a DataFrame."""

    folder: Path
    rows: int
    sample: pd.DataFrame

    @property
    def db(self) -> Path:
        return self.folder / "rows.duckdb"

    def discard(self) -> None:
        con = take_stage(str(self.db))
        if con is not None:  # never judged (the batch was skipped, or the pull stopped)
            con.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def take_stage(db: str) -> duckdb.DuckDBPyConnection | None:
    """The open connection of the staging file ``db``, now the caller's to close; None once taken or closed."""
    with _OPEN_LOCK:
        return _OPEN.pop(db, None)


def scan_file(path: Path) -> Scan:
    digest, lines, nul, size, last = hashlib.sha256(), 0, False, 0, b""
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            nul = nul or b"\x00" in chunk
            size += len(chunk)
            last = chunk[-1:]
    return Scan(digest.hexdigest(), size, lines + (1 if last and last != b"\n" else 0), nul)


def stage_file(stream: Stream, path: Path, scan: Scan,
               select: Callable[[duckdb.DuckDBPyConnection, Screened], str]) -> Staged | None:
    """The file staged, or None when DuckDB cannot read every record of it as the screen would pass it.

    ``select`` is the reader's strict query for a (screened) path: the adapter's, so a staged file has exactly the
    columns and types the batch path would have read."""
    if (scan.nul and stream.format != "parquet") or stream.format not in ("csv", "json", "parquet"):
        return None
    folder = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-"))
    con = duckdb.connect(str(folder / "rows.duckdb"))
    staged = None
    try:
        con.execute(f"SET temp_directory = '{_esc(folder.as_posix())}'")
        con.execute(f"SET memory_limit = '{STAGE_MEMORY}'")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET force_compression = 'uncompressed'")  # lives for one pull: writing it plain is a third faster
        if stream.format == "csv" and not _csv_lines_clean(con, path, scan.lines):
            return None
        con.execute(f"CREATE TABLE rows AS {select(con, Screened(path, -1))}")
        rows = int(con.execute("SELECT count(*) FROM rows").fetchall()[0][0])
        expected = {"csv": scan.lines - 1, "json": scan.lines}.get(stream.format, rows)
        types = [str(t) for _, t, *_ in con.execute("DESCRIBE rows").fetchall()]
        if rows != expected or not types or not all(_SCALAR.match(t) for t in types):
            return None
        staged = Staged(folder, rows, con.execute(f"SELECT * FROM rows LIMIT {SAMPLE_ROWS}").df())
        with _OPEN_LOCK:  # kept open for the contract (``take_stage``); ``discard`` closes it if nobody took it
            _OPEN[str(staged.db)] = con
        return staged
    except duckdb.Error:
        return None
    finally:
        if staged is None:
            con.close()
            shutil.rmtree(folder, ignore_errors=True)


def sweep_stages(temp_dir: Path | str | None = None) -> list[Path]:
    """Remove the staging folders of processes that are gone; returns the folders removed.

    Only folders in the temp dir (``tempfile.gettempdir()``) named by ``stage_file`` are looked at; a folder whose
    process still runs is left alone, and so is this process's own, unless the folder is older than that process
    (``_predates``: its pid was reused, as a restarted container's steward gets the same small pid again). Folders
    named before pids were (no pid in the name) go once nothing in them changed for ``UNOWNED_AGE_SECONDS``."""
    base = Path(temp_dir if temp_dir is not None else tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(STAGE_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        owned = _OWNED.fullmatch(entry.name)
        if owned:
            pid = int(owned.group(1))
            if (pid == os.getpid() or _alive(pid)) and not _predates(Path(entry.path), pid):
                continue
        elif not (_UNOWNED.fullmatch(entry.name) and _idle(Path(entry.path), UNOWNED_AGE_SECONDS)):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.lexists(entry.path):
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if os.name == "nt":  # signal 0 is CTRL_C_EVENT there, not a probe: never ask; the folder stays
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    except OSError:
        return True  # cannot tell: the safe side
    return True


def _predates(folder: Path, pid: int) -> bool:
    """The folder was last changed well before process ``pid`` started, so that process did not make it: it holds the
    pid of an earlier process. A process makes its folder after it starts, and the folder's mtime can only be later;
    ``REUSE_MARGIN_SECONDS`` absorbs a wall clock stepped forward since. Known from ``/proc`` (Linux); elsewhere
    never (the folder stays)."""
    started = _started(pid)
    if started is None:
        return False
    try:
        changed = folder.stat().st_mtime
    except OSError:
        return False
    return started > changed + REUSE_MARGIN_SECONDS


def _started(pid: int) -> float | None:
    """When process ``pid`` started, in epoch seconds, from ``/proc``; None where there is no ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime: clock ticks after boot (fields counted from 3 after the name)
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _idle(folder: Path, seconds: float) -> bool:
    """Neither the folder nor anything directly in it changed for ``seconds``."""
    cutoff = time.time() - seconds
    try:
        stamps = [folder.stat().st_mtime, *(e.stat(follow_symlinks=False).st_mtime for e in os.scandir(folder))]
    except OSError:
        return False
    return max(stamps) < cutoff


def _csv_lines_clean(con: duckdb.DuckDBPyConnection, path: Path, lines: int) -> bool:
    """Every data line is valid UTF-8, not blank, shorter than the screen's limit and has the header's field count
    (lines holding a quote judged by the screen's own rule); a record spanning lines is not clean here."""
    with path.open("rb") as fh:
        head = fh.readline(1 << 16)
    try:
        text = head.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return False
    if not text:
        return False
    delimiter = max(",;\t|", key=text.count)
    width = len(next(csv.reader([text], delimiter=delimiter)))
    source = (f"read_csv('{_esc(path.as_posix())}', columns = {{'l': 'VARCHAR'}}, header = false, skip = 1, "
              f"delim = '\x1f\x1e', quote = '', escape = '', auto_detect = false, "
              f"max_line_size = {MAX_RECORD_BYTES})")
    sep = _esc(delimiter)
    n, longest, blank, wrong = con.execute(
        f"SELECT count(*), coalesce(max(strlen(l)), 0), count(*) FILTER (WHERE l IS NULL OR trim(l) = ''), "
        f"count(*) FILTER (WHERE NOT contains(l, '\"') AND strlen(l) - strlen(replace(l, '{sep}', '')) <> "
        f"{width - 1}) FROM {source}").fetchall()[0]
    if n != lines - 1 or blank or wrong or longest >= MAX_RECORD_BYTES - 2:
        return False
    quoted = con.execute(f"SELECT l FROM {source} WHERE contains(l, '\"')")
    while batch := quoted.fetchmany(10_000):
        if any(_csv_problem(line.encode() + b"\n", delimiter, width) is not None for (line,) in batch):
            return False
    return True


def _esc(text: str) -> str:
    return text.replace("'", "''")
