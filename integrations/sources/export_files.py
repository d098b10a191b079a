"""Adapter for platform exports on disk: Salesforce CSV, HubSpot NDJSON, Google Ads CSV, CDP and log Parquet.

DuckDB's own readers parse the files (sniffing CSV dialects and types, flattening JSON objects). Before they do, a
streaming screen (``_screen``) sets aside the records a reader would fail the whole file over or drop (junk bytes,
invalid UTF-8, wrong field counts, 5000-deep JSON): they are handed back as ``Rejected`` (the first
``KEEP_REJECTED`` with their text, the rest counted), and the rest is read. Rows stream out in batches of
``batch_rows``, so neither a large file nor a bad one is ever held whole in memory. When nothing of a file can be read
the batch says why (``Batch.unreadable``) and the pull refuses it for that entity alone. Files cannot pause a
campaign, so pause and resume are recorded in the warehouse's ``ledger.campaign_controls`` ledger, which is what the
demo shows.

An integration's ``mappings`` (``contracts/mapping.py``) name an entity's file when it is not the platform's usual
one, and map its columns onto the contract: the reader's query is wrapped in the mapping's projection
(``mapping.py``), on the staged and the batched path alike, before the contract judges anything. A mapped column the
file does not have stops that entity before anything of it is read (``MappingColumnMissing``).

CSV dates and times are left as text: the sniffer would read a value without an offset in the machine's time zone,
silently, and reject a whole row over a value it cannot read. The source contract reads them instead, under its
source's zone rule (``contracts/timestamps.py``), and names the column of a value that is not a timestamp.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from ...contracts.errors import SourceError
from ...contracts.mapping import EntityMapping, format_for
from ..warehouse.confined_sql import describe_error
from ..warehouse.landing import already_landed, landed_file, landed_key, remember_file
from ..warehouse.ledger import confirmed_state, confirmed_states, record_control
from ..warehouse import Warehouse
from ..warehouse.scratch import scratch
from ...contracts.batch import Batch, Rejected, Stream
from ._protocol import ControlResult, Health
from ._records import DEFAULT_BATCH_ROWS
from ._screen import KEEP_REJECTED, MAX_RECORD_BYTES, Screened, screen_csv, screen_ndjson
from ._stage import Scan, scan_file as _scan, stage_file
from .mapping import check_columns, project
from .streams import streams_for

__all__ = ["ExportFilesAdapter", "DELIVERIES"]

# "snapshot": every file holds the whole entity; "delta": every file holds the rows new or changed since the last one
DELIVERIES = ("snapshot", "delta")


class ExportFilesAdapter:
    """One integration whose data arrives as export files in one folder."""

    def __init__(self, name: str, platform: str, root: Path | str, warehouse: Warehouse | None = None,
                 entities: list[str] | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
                 keep_rejected: int = KEEP_REJECTED, stage: bool = True, delivery: str = "snapshot",
                 mappings: dict[str, EntityMapping] | None = None) -> None:
        self.name, self.platform, self.root, self.warehouse = name, platform, Path(root), warehouse
        self.batch_rows, self.keep_rejected, self.stage = batch_rows, keep_rejected, stage
        if delivery not in DELIVERIES:
            raise SourceError(f"integration '{name}': delivery must be one of {', '.join(DELIVERIES)}, "
                              f"not '{delivery}'")
        self.delivery = delivery
        known = {s.entity: s for s in streams_for(platform)}
        if not known:
            raise SourceError(f"integration '{name}': unknown platform '{platform}'")
        unknown = sorted(set(entities or []) - set(known))
        if unknown:
            raise SourceError(f"integration '{name}': unknown entities {unknown} for {platform}; "
                              f"known: {sorted(known)}")
        self.mappings = dict(mappings or {})
        self._streams = [_mapped_stream(known[e], self.mappings.get(e))
                         for e in (entities or list(known))]

    def streams(self) -> list[Stream]:
        return list(self._streams)

    def missing_files(self) -> list[Path]:
        """Required exports that are not there (optional ones may be absent)."""
        return [self.root / s.path for s in self._streams if s.required and not (self.root / s.path).is_file()]

    def pull(self, entity: str, since: datetime | None = None, stage: bool = False) -> Iterator[Batch]:
        """The export as one staged batch when DuckDB reads it whole and clean, else in batches of ``batch_rows``;
        ``since`` keeps only records whose cursor is newer.

        A staged batch (``stage``: asked for by ``flows.pull.pull_entity`` when the adapter's ``stage`` is on, the
        default) holds the whole file in a DuckDB file of its own, judged and landed by SQL (``check_staged``,
        ``land_staged``); its ``frame`` holds only the first rows, so a caller judging frames never asks for it. A
        file whose size and mtime match a landed batch of it yields that batch's fingerprint only (it is then
        skipped without being read); one whose stat changed but whose content (hashed, as every read hashes it)
        landed before is skipped without being staged. Files are known by their path in the integration's folder
        (``landing.landed_key``), so a folder moved or restored elsewhere is not read again. Otherwise the file's
        unreadable records ride on its last batch; a file that fits one batch keeps the file's hash as its
        fingerprint, a longer one gets one per batch, so a rerun of the same export lands nothing twice.
        """
        stream = next((s for s in self._streams if s.entity == entity), None)
        if stream is None:
            raise SourceError(f"integration '{self.name}': no entity '{entity}'")
        path = self.root / stream.path
        if not path.is_file() and not stream.required:
            return
        if not path.is_file():
            raise SourceError(f"{path}: export file for {stream.key} is missing (integration '{self.name}')")
        info = path.stat()
        stat = (info.st_size, info.st_mtime_ns)
        mapping = self.mappings.get(entity)
        if mapping is not None:  # a mapped file is always read: the same file through a changed mapping is new
            _check_mapped_columns(stream, path, mapping)
        known = None
        if mapping is None and stage and since is None and self.warehouse is not None:
            known = landed_file(self.warehouse, self.name, stream.entity, landed_key(stream))
            if known is not None and known.same_stat(stat):  # landed and not touched since: never read again
                batch = self._known(stream, path, known.fingerprint, stat)
                if known.source != landed_key(stream):  # a row written before keys: kept under the key from now
                    remember_file(self.warehouse, batch, known.batch_id)
                yield batch
                return
        scan = _scan(path)
        if mapping is not None:
            scan = dataclasses.replace(scan, digest=_chunk_digest(scan.digest, mapping.fingerprint()))
        elif stage and since is None and self.warehouse is not None:
            # the stat differs (touched, copied without -p, restored) but the content may not: the hash every read
            # needs anyway says so before the file is staged, judged and merged for nothing
            batch = self._known(stream, path, scan.digest, stat)
            seen = already_landed(self.warehouse, batch)
            if seen is not None:
                if known is not None:  # a file landed whole: known by its new stat from the next pull
                    remember_file(self.warehouse, batch, seen.batch_id)
                yield batch
                return
        staged = _stage(stream, path, scan, mapping) if stage and since is None else None
        if staged is not None:
            try:
                yield Batch(self.name, stream, staged.sample, str(path), scan.digest, merge=True,
                            staged=str(staged.db), rows=staged.rows, file_stat=stat, delivery=self.delivery)
            finally:
                staged.discard()
            return
        yield from self._batches(stream, path, scan.digest, since, mapping)

    def _known(self, stream: Stream, path: Path, fingerprint: str, stat: tuple[int, int]) -> Batch:
        """The batch of a file whose content landed before: its fingerprint only, no rows (the pull skips it)."""
        return Batch(self.name, stream, pd.DataFrame(), str(path), fingerprint, merge=True, file_stat=stat,
                     delivery=self.delivery)

    def _batches(self, stream: Stream, path: Path, digest: str, since: datetime | None,
                 mapping: EntityMapping | None = None) -> Iterator[Batch]:
        """The file as DataFrames of ``batch_rows`` after the streaming screen: the path of a file DuckDB's readers
        could not read whole and clean (``_stage``), and of a pull with ``since``."""
        screened = _screen(stream, path, self.keep_rejected)
        # a cursor of the process's scratch database (its own temp schema, so its reject tables are its own):
        # starting a database of its own cost ~16 ms of CPU per file, more than reading a small export
        con = scratch()
        try:
            frames, current, read_error = self._open(con, stream, path, screened, mapping)
            screened = frames.screened
            index = 0
            while True:
                upcoming = None
                if read_error is None:
                    try:
                        upcoming = next(frames, None)
                    except duckdb.Error as exc:  # after the count pass this is rare; the entity stops here
                        read_error = _cannot_read(stream, path, frames.screened, exc, mapping is not None)
                batch = Batch(self.name, stream, _since(current, stream, since), str(path),
                              digest if index == 0 and upcoming is None else _chunk_digest(digest, index), merge=True,
                              delivery=self.delivery)
                if upcoming is None:  # the last batch: the file's unreadable records, and why none was readable
                    _account(batch, screened, read_error, frames.dropped, frames.detail)
                # merge: a record landed before (from an older export, or through the platform's API under the same
                # integration name) is replaced by its key, never duplicated
                yield batch
                if upcoming is None:
                    return
                current, index = upcoming, index + 1
        finally:
            con.close()
            screened.discard()

    def _open(self, con: duckdb.DuckDBPyConnection, stream: Stream, path: Path, screened: Screened,
              mapping: EntityMapping | None = None):
        """The row stream and its first frame, or the header's columns and why the file cannot be read.

        DuckDB names malformed JSON only when it reads it, so a JSON file it calls malformed is screened again with
        every line parsed (slower, and needed only then), and read once more."""
        frames = _Frames(con, stream, screened, self.batch_rows, self.keep_rejected, mapping)
        try:
            return frames, next(frames), None
        except duckdb.Error as exc:
            if stream.format != "json" or screened.strict:
                header = _header_frame(stream, path) if mapping is None else pd.DataFrame()  # source names: none
                return frames, header, _cannot_read(stream, path, screened, exc, mapping is not None)
        screened.discard()
        return self._open(con, stream, path, screen_ndjson(path, self.keep_rejected, strict=True), mapping)

    def probe(self) -> Health:
        now = datetime.now(timezone.utc)
        missing = self.missing_files()
        if len(missing) == len(self._streams):
            return Health(self.name, "down", f"no export files under {self.root}", now)
        if missing:
            return Health(self.name, "degraded", f"missing: {', '.join(p.name for p in missing)}", now)
        return Health(self.name, "healthy", f"{len(self._streams)} export files present", now)

    def pause(self, campaign_id: str, reason: str) -> ControlResult:
        return self._control(campaign_id, "pause", "paused", reason)

    def resume(self, campaign_id: str, reason: str) -> ControlResult:
        return self._control(campaign_id, "resume", "active", reason)

    def campaign_state(self, campaign_id: str) -> str:
        """For export files the campaign ledger is the platform: ``paused`` once a pause was written there (an open
        intent is not a change: its replaced row counts)."""
        if self.warehouse is None:
            raise SourceError(f"integration '{self.name}': no warehouse to read campaign {campaign_id} from")
        return "paused" if confirmed_state(self.warehouse, self.name, campaign_id) == "paused" else "active"

    def campaign_states(self, campaign_ids: list[str]) -> dict[str, str]:
        """``campaign_state`` of many campaigns, in one query of the campaign ledger."""
        if self.warehouse is None:
            raise SourceError(f"integration '{self.name}': no warehouse to read campaigns from")
        return {cid: "paused" if state == "paused" else "active"
                for cid, state in confirmed_states(self.warehouse, self.name, campaign_ids).items()}

    def _control(self, campaign_id: str, action: str, state: str, reason: str) -> ControlResult:
        if self.warehouse is None:
            raise SourceError(f"integration '{self.name}': no warehouse to record a {action} in")
        if confirmed_state(self.warehouse, self.name, campaign_id) == state:
            return ControlResult(self.name, campaign_id, action, False, f"already {state}")  # type: ignore[arg-type]
        record_control(self.warehouse, self.name, campaign_id, state, reason)
        return ControlResult(self.name, campaign_id, action, True, f"{state} in the campaign ledger")  # type: ignore[arg-type]


# what the CSV sniffer may type a column as: no DATE, TIME or TIMESTAMP (see the module docstring)
_CSV_TYPES = "['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR']"
_CAST_DETAIL_MAX = 10_000  # skipped CSV records DuckDB's store_rejects may describe (it keeps them all in memory)


def _stage(stream: Stream, path: Path, scan: Scan, mapping: EntityMapping | None = None):
    return stage_file(stream, path, scan,
                      lambda con, screened: _select(con, stream, screened, strict=True, mapping=mapping))


def _mapped_stream(stream: Stream, mapping: EntityMapping | None) -> Stream:
    """The stream read from the mapping's file (required then: the config names it), in the mapping's format."""
    if mapping is None or mapping.file is None:
        return stream
    return dataclasses.replace(stream, path=mapping.file, format=format_for(mapping), required=True)  # type: ignore[arg-type]


def _check_mapped_columns(stream: Stream, path: Path, mapping: EntityMapping) -> None:
    """Raise ``MappingColumnMissing`` when the file lacks a column the mapping reads. A file DuckDB cannot even
    describe is left to the reading path, which screens it and says why."""
    con = scratch()
    try:
        present = con.sql(f"DESCRIBE {_select(con, stream, Screened(path, -1))}").fetchnumpy()["column_name"].tolist()
    except duckdb.Error:
        return
    finally:
        con.close()
    check_columns(mapping, stream.entity, present, str(path))


def _screen(stream: Stream, path: Path, keep: int) -> Screened:
    if stream.format == "csv":
        return screen_csv(path, keep)
    if stream.format == "json":
        return screen_ndjson(path, keep)
    return Screened(path, -1)  # Parquet is typed and framed: its reader either reads it or refuses it whole


class _Frames:
    """The file's rows as DataFrames of about ``batch_rows``, streamed from one DuckDB query.

    Once read, ``dropped`` is how many records the screen passed that the reader still skipped (in a CSV, a value that does not cast to the type the sniffer chose from its sample). When they are few
    (``_CAST_DETAIL_MAX``) DuckDB's ``store_rejects`` names them; beyond that they are counted only, since
    ``store_rejects`` holds every rejected line in memory, limit or not.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, stream: Stream, screened: Screened, batch_rows: int,
                 keep: int, mapping: EntityMapping | None = None) -> None:
        self.con, self.stream, self.screened, self.keep, self.dropped = con, stream, screened, keep, 0
        self.mapping = mapping
        self.detail: list[Rejected] = []  # the skipped records' text and DuckDB's reason, when there are few
        self.vectors = max(1, -(-batch_rows // 2048))  # DuckDB hands rows out 2048 at a time
        self._rows = self._generate()

    def __iter__(self) -> "_Frames":
        return self

    def __next__(self) -> pd.DataFrame:
        return next(self._rows)

    def _generate(self) -> Iterator[pd.DataFrame]:
        sql = _select(self.con, self.stream, self.screened, mapping=self.mapping)
        if self.stream.format == "json":  # a malformed line fails the count: before any batch, not half-way
            self.con.execute(f"select count(*) from ({sql})").fetchone()
        self.con.execute(sql)
        read, first = 0, True
        while True:
            frame = self.con.fetch_df_chunk(self.vectors)
            read += len(frame)
            if not len(frame):
                self._count_dropped(read)
            if len(frame) or first:
                yield frame
            if not len(frame):
                return
            first = False

    def _count_dropped(self, read: int) -> None:
        expected = self.screened.records
        self.dropped = max(0, expected - read) if expected >= 0 else 0
        if self.dropped and self.stream.format == "csv" and self.dropped <= _CAST_DETAIL_MAX:
            self.detail = _cast_rejects(self.con, self.screened, self.keep)


def _cast_rejects(con: duckdb.DuckDBPyConnection, screened: Screened, keep: int) -> list[Rejected]:
    """The CSV records the typed read skips, with DuckDB's reason; numbered as in the file only when the screen set
    nothing aside (else the lines of the screened copy are not the file's: 0)."""
    p = screened.path.as_posix().replace("'", "''")
    try:  # hash(t) makes DuckDB read (and cast) every column, not only count lines
        con.execute(f"select count(*) from read_csv('{p}', header = true, store_rejects = true, "
                    f"auto_type_candidates = {_CSV_TYPES}) t where hash(t) is not null").fetchall()
    except duckdb.Error:
        return []  # the skipped records are still counted, in one quarantine row
    rows = con.execute("select line, min(error_message), min(csv_line) from reject_errors group by line "
                       "order by line limit ?", [keep]).fetchall()  # one entry per bad line, not per column
    return [Rejected(0 if screened.temporary else int(line) - 1, f"unparseable CSV row: {msg}", raw or "")
            for line, msg, raw in rows]


def _select(con: duckdb.DuckDBPyConnection, stream: Stream, screened: Screened, strict: bool = False,
            mapping: EntityMapping | None = None) -> str:
    """The reader's query, wrapped in the ``mapping``'s projection when the entity has one. ``strict``: a record
    the reader cannot read fails the query (the file is then screened) instead of being skipped, and no record may
    be longer than the screen allows."""
    sql = _reader(con, stream, screened, strict)
    if mapping is None:
        return sql
    present = con.sql(f"DESCRIBE {sql}").fetchnumpy()["column_name"].tolist()
    return project(mapping, stream.key, present, sql)


def _reader(con: duckdb.DuckDBPyConnection, stream: Stream, screened: Screened, strict: bool) -> str:
    p = screened.path.as_posix().replace("'", "''")
    if stream.format == "csv":
        lenient = f"max_line_size = {MAX_RECORD_BYTES}" if strict else "ignore_errors = true"
        return (f"select * from read_csv('{p}', header = true, {lenient}, "
                f"auto_type_candidates = {_CSV_TYPES})")
    if stream.format == "json":
        size = f", maximum_object_size = {MAX_RECORD_BYTES}" if strict else ""
        sql = f"select * from read_json('{p}', format = 'newline_delimited'{size})"
        flat = stream.flatten
        if flat and strict:  # no look at the columns first: a file without the object is not staged, but screened
            return f'select * exclude ("{flat}"), unnest("{flat}") from ({sql})'
        if flat and flat in con.sql(f"describe {sql}").fetchnumpy()["column_name"].tolist():
            sql = f'select * exclude ("{flat}"), unnest("{flat}") from ({sql})'
        return sql
    return f"select * from read_parquet('{p}')"


def _cannot_read(stream: Stream, path: Path, screened: Screened, exc: duckdb.Error, mapped: bool = False) -> str:
    """Why nothing of the file could be read, in one line. Through a mapping the error may come from an expression
    failing on a value (``CAST(email AS INTEGER)``), which DuckDB quotes: only the error's kind is kept then."""
    if mapped:
        return f"{path}: cannot read {stream.key} through its mapping: {describe_error(exc)}"
    message = str(exc).strip().splitlines()[0].replace(screened.path.as_posix(), path.as_posix())
    return f"{path}: cannot read as {stream.format.upper()} for {stream.key}: {message}"


def _header_frame(stream: Stream, path: Path) -> pd.DataFrame:
    """No rows, and the CSV header's columns when there is a header line, so the contract can still say whether
    the file looks like its entity at all (a JSON file has no header: no columns)."""
    if stream.format != "csv":
        return pd.DataFrame()
    with path.open("rb") as fh:
        head = fh.readline(1 << 16).decode("utf-8", "replace").rstrip("\r\n")
    names = next(csv.reader([head]), []) if head else []
    return pd.DataFrame(columns=[n for n in names if n])


def _account(batch: Batch, screened: Screened, read_error: str | None, dropped: int,
             detail: list[Rejected]) -> None:
    """Put the file's set-aside records on ``batch`` (the first with their text, all of them counted) and say why
    nothing could be read, when nothing could."""
    kept = list(screened.kept) + detail[:dropped]
    if dropped and not detail:  # records the reader itself skipped, too many to describe: counted in one row
        kept.append(Rejected(0, f"{dropped:,} records skipped by the {batch.stream.format.upper()} reader "
                                "(a value that does not fit its column's type)", ""))
    batch.rejected = kept
    batch.rejected_dropped = screened.rejected + dropped - len(kept)
    if read_error:
        batch.unreadable = read_error
    elif screened.rejected and not screened.records:
        if batch.stream.format != "csv":  # no header either: whatever columns DuckDB made of nothing say nothing
            batch.frame = pd.DataFrame()
        first = screened.kept[0] if screened.kept else None
        batch.unreadable = (f"{batch.source}: no record of {batch.stream.key} could be read "
                            f"({screened.rejected:,} unreadable"
                            + (f"; the first, row {first.source_row}: {first.reason})" if first else ")"))


def _since(frame: pd.DataFrame, stream: Stream, since: datetime | None) -> pd.DataFrame:
    if since is not None and stream.cursor in frame.columns:
        frame = frame[_instants(frame[stream.cursor]) > _instant(since)]
    return frame.reset_index(drop=True)


def _chunk_digest(digest: str, index: int) -> str:
    return hashlib.sha256(f"{digest}:{index}".encode()).hexdigest()


def _instants(values: pd.Series) -> pd.Series:
    """A cursor column as UTC instants for the ``since`` filter (text from CSV; a value without an offset is UTC)."""
    return pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")


def _instant(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
