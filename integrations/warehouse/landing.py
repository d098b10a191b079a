"""Lands one checked batch into ``raw`` atomically: valid rows, quarantined rows and the batch record commit together.

If anything fails the transaction rolls back and the warehouse is exactly as before; a batch whose content was
already landed for the same integration and entity is skipped, so re-running a pull never duplicates rows.
Incremental batches also merge by primary key (a record pulled twice after a crash replaces itself), record the
platform's deletions as tombstones, and advance the entity's watermark in the same transaction, so the watermark
can never run ahead of the data it vouches for.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePath, PureWindowsPath

import pandas as pd

from ...contracts.registry import SOURCE_CONTRACTS
from ...contracts.errors import BreakingDrift
from ...contracts.batch import Batch, Stream
from .connection import Warehouse

__all__ = ["LandResult", "land_batch", "land_staged", "already_landed", "landed_file", "landed_key",
           "LandedFile", "remember_file",
           "raw_table", "ensure_raw_table", "ensure_raw_tables", "read_watermark", "latest_types", "QUARANTINE_KEEP_MAX"]

# Quarantined rows kept per batch by default; the counts in ledger.batches stay exact beyond it.
QUARANTINE_KEEP_MAX = 1000

# Integrations are pulled concurrently, but one process writes the DuckDB file one batch at a time: DuckDB would
# otherwise abort one of two transactions touching the same ledger rows, and landing is cheap next to the network.
_LANDING = threading.Lock()


@dataclass(frozen=True)
class LandResult:
    batch_id: str
    integration: str
    entity: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    skipped: bool = False
    rows_changed: int | None = None  # a staged merge: the valid rows whose content differed from the stored row


def raw_table(batch: Batch) -> str:
    return f'raw."{batch.stream.table}"'


def ensure_raw_table(wh: Warehouse, table: str, empty: pd.DataFrame) -> bool:
    """Create an empty raw table in its contract's shape, so dbt builds even for a platform not connected.

    A raw table landed under an older contract gains the columns added since (old rows hold null), so staging can
    select a new optional column even before the platform's next batch lands."""
    frame = empty.assign(_batch_id=pd.Series(dtype="string"), _integration=pd.Series(dtype="string"),
                         _loaded_at=pd.Series(dtype="datetime64[us, UTC]"))
    if wh.is_postgres:
        from .landing_pg import ensure_raw_table_pg

        return ensure_raw_table_pg(wh, table, frame)
    with wh.connect() as con:
        exists = con.execute("select count(*) from information_schema.tables where table_schema = 'raw' "
                             "and table_name = ?", [table]).fetchall()[0][0]
        con.register("empty_frame", frame)
        if not exists:
            con.execute(f'create table raw."{table}" as select * from empty_frame')
        else:
            _add_new_columns(con, f'raw."{table}"', table, "empty_frame")
        con.unregister("empty_frame")
    return not exists


def ensure_raw_tables(wh: Warehouse) -> None:
    """Every entity with a source contract gets its raw table, so the whole dbt project builds whichever platforms
    are connected: an API-only platform (Marketo) as much as one read from export files. The file stays open for
    the whole pass (``Warehouse.pinned``): one open and one checkpoint, not one per entity."""
    with wh.pinned():
        for key, contract in SOURCE_CONTRACTS.items():
            ensure_raw_table(wh, key.replace(".", "__"), contract.empty_frame())


def land_batch(wh: Warehouse, batch: Batch, valid: pd.DataFrame, quarantined: pd.DataFrame,
               drift: dict | None, contract_version: str, run_id: str, owner: str | None = None,
               types: dict | None = None, keep_max: int = QUARANTINE_KEEP_MAX) -> LandResult:
    """Append ``valid`` to the raw table and ``quarantined`` (source_row, reasons, record) to the quarantine.

    The quarantine keeps the first ``keep_max`` rows of a batch (``quarantine_keep_max`` in the integration's
    config), enough to see what is wrong; ``ledger.batches`` counts every one of them, including the records the
    reader set aside without keeping (``Batch.rejected_dropped``), so a million bad rows cost counts, not memory.

    ``types`` (column -> dtype and family, from ``check_batch``) goes into the schema snapshot with the column
    names, so the next batch of the entity can be compared with this one for retyped columns.
    """
    stream, now = batch.stream, datetime.now(timezone.utc)
    rows_quarantined = len(quarantined) + batch.rejected_dropped  # exact, however few rows the quarantine keeps
    rows_read = len(valid) + rows_quarantined
    if wh.is_postgres:
        from .landing_pg import land_batch_pg

        batch_id = f"b-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        record = _batch_record(batch_id, run_id, batch, rows_read, len(valid), rows_quarantined, contract_version,
                               drift, now, owner)
        frame = valid.assign(_batch_id=batch_id, _integration=batch.integration, _loaded_at=now)
        got, skipped = land_batch_pg(wh, batch, frame, quarantined, drift, record, types, keep_max, now, _LANDING)
        if skipped:
            return LandResult(got, batch.integration, stream.entity, rows_read, 0, 0, skipped=True)
        return LandResult(batch_id, batch.integration, stream.entity, rows_read, len(valid), rows_quarantined)
    with _LANDING, wh.connect() as con:
        seen = con.execute(
            "select batch_id from ledger.batches where integration = ? and entity = ? and fingerprint = ?",
            [batch.integration, stream.entity, batch.fingerprint]).fetchone()
        if seen:
            return LandResult(seen[0], batch.integration, stream.entity, rows_read, 0, 0, skipped=True)
        batch_id = f"b-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        table = raw_table(batch)
        frame = valid.assign(_batch_id=batch_id, _integration=batch.integration, _loaded_at=now)
        con.execute("begin")
        try:
            con.register("landing_frame", frame)
            con.execute(f"create table if not exists {table} as select * from landing_frame limit 0")
            _add_new_columns(con, table, stream.table)
            if batch.merge:
                _refuse_erasing_merge(con, table, batch, drift)
                _delete_same_keys(con, table, stream.primary_key, batch.integration)
            con.execute(f"insert into {table} by name select * from landing_frame")
            if batch.merge:
                _revive(con, frame, stream.primary_key, batch.integration, stream.entity)
            con.unregister("landing_frame")
            if len(quarantined) and keep_max > 0:
                kept = quarantined.head(keep_max)  # the first rows show what is wrong; ledger.batches counts all
                q = kept.assign(batch_id=batch_id, integration=batch.integration, entity=stream.entity,
                                source=batch.source, quarantined_at=now)
                con.register("quarantine_frame", q)
                con.execute("insert into ledger.quarantine by name select batch_id, integration, entity, source, "
                            "source_row, reasons, record::json as record, quarantined_at from quarantine_frame")
                con.unregister("quarantine_frame")
            con.execute("insert into ledger.batches (batch_id, run_id, integration, platform, entity, source, "
                        "fingerprint, rows_read, rows_loaded, rows_quarantined, contract_version, drift, loaded_at, "
                        "owner, delivery) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [batch_id, run_id, batch.integration, stream.platform, stream.entity, batch.source,
                         batch.fingerprint, rows_read, len(valid), rows_quarantined, contract_version,
                         json.dumps(drift) if drift else None, now, owner, batch.delivery])
            con.execute("insert into ledger.schema_snapshots (batch_id, integration, entity, columns, taken_at, "
                        "types) values (?, ?, ?, ?, ?, ?)",
                        [batch_id, batch.integration, stream.entity, json.dumps(list(map(str, batch.frame.columns))),
                         now, json.dumps(types) if types else None])
            if batch.deleted:
                _bury(con, table, stream.primary_key, batch, batch_id, now)
            if batch.watermark is not None:
                _advance_watermark(con, batch.integration, stream.entity, batch.watermark, batch_id, now)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return LandResult(batch_id, batch.integration, stream.entity, rows_read, len(valid), rows_quarantined)


def landed_key(stream: Stream) -> str:
    """How ``ledger.landed_files`` names an export file: its path relative to the integration's folder (the
    stream's ``path``, or the mapping's ``file``), not where the folder happens to be. A stack folder moved, copied
    or restored elsewhere keeps its keys, so its next run does not read every export again."""
    return PurePath(stream.path).as_posix()


@dataclass(frozen=True)
class LandedFile:
    """A file landed whole (``ledger.landed_files``): its size and mtime when read, and its batch's fingerprint."""

    source: str  # the key (``landed_key``), or the absolute path a row written before keys holds
    size: int
    mtime_ns: int
    fingerprint: str
    batch_id: str

    def same_stat(self, stat: tuple[int, int]) -> bool:
        return (self.size, self.mtime_ns) == tuple(stat)


def landed_file(wh: Warehouse, integration: str, entity: str, key: str) -> LandedFile | None:
    """The landed-file row of this integration's entity file ``key`` whose batch is still in the ledger, if any.

    Rows written before keys hold the file's absolute path; such a row is the file's when that path ends in the key
    (``/old/stack/exports/sf/contacts.csv`` for ``contacts.csv``), wherever the folder is now: the integration and
    the entity already name the file, the key only tells it from a file an older mapping named. The size and mtime,
    or the content (``export_files``), still decide whether the file is the one that landed. Size and modification
    time are what ``make`` and ``rsync`` trust: a file rewritten in place gets a new mtime, a file appended to a new
    size. A tool that rewrites a file and restores its mtime defeats it; touch the file."""
    with wh.connect() as con:
        rows = con.execute("select f.source, f.size, f.mtime_ns, f.fingerprint, f.batch_id from ledger.landed_files f "
                           "join ledger.batches b on b.integration = f.integration and b.entity = f.entity "
                           "and b.fingerprint = f.fingerprint where f.integration = ? and f.entity = ?",
                           [integration, entity]).fetchall()
    found = [LandedFile(*row) for row in rows if row[0] == key] or \
        [LandedFile(*row) for row in rows if _legacy_match(row[0], key)]
    return found[0] if found else None


def _legacy_match(source: str, key: str) -> bool:
    """A row written before keys (an absolute path) names the file ``key`` when its path ends in it."""
    path = source.replace("\\", "/")
    return (path.startswith("/") or PureWindowsPath(source).is_absolute()) and path.endswith("/" + key)


def remember_file(wh: Warehouse, batch: Batch, batch_id: str) -> None:
    """A file whose content landed before under another stat (touched, copied without ``-p``, restored) or another
    path (a row written before keys): its row in ``ledger.landed_files``, under its key, takes the file's size and
    mtime now, so the next pull knows it by its stat (``landed_file``) instead of reading the whole file again at
    every run. Rows of the same file under an absolute path (written before keys) go: one row per file. Called only
    for a file that has a row (landed whole by ``land_staged``): a file landed in batches, or never, gets none."""
    with _LANDING, wh.connect() as con:
        _record_file(con, batch, batch_id, datetime.now(timezone.utc))


def _record_file(con, batch: Batch, batch_id: str, now: datetime) -> None:
    """Upsert the file's row by key and drop the rows written for it before keys (same transaction as the caller's,
    on either warehouse: the legacy rows are found in Python, their paths compared exactly)."""
    key = landed_key(batch.stream)
    entity = batch.stream.entity
    for (source,) in con.execute("select source from ledger.landed_files where integration = ? and entity = ?",
                                 [batch.integration, entity]).fetchall():
        if source != key and _legacy_match(source, key):
            con.execute("delete from ledger.landed_files where integration = ? and entity = ? and source = ?",
                        [batch.integration, entity, source])
    con.execute("insert or replace into ledger.landed_files values (?, ?, ?, ?, ?, ?, ?, ?)",
                [batch.integration, entity, key, batch.file_stat[0], batch.file_stat[1], batch.fingerprint,
                 batch_id, now])


def already_landed(wh: Warehouse, batch: Batch) -> LandResult | None:
    """The skipped result for a batch whose content was landed before for its integration and entity, else None:
    asked before the batch is judged, so a rerun of the same export reads and checks nothing twice."""
    with wh.connect() as con:
        seen = con.execute(
            "select batch_id from ledger.batches where integration = ? and entity = ? and fingerprint = ?",
            [batch.integration, batch.stream.entity, batch.fingerprint]).fetchall()
    if not seen:
        return None
    rows = batch.rows or len(batch.frame)
    return LandResult(seen[0][0], batch.integration, batch.stream.entity, rows, 0, 0, skipped=True)


def land_staged(wh: Warehouse, batch: Batch, verdict, run_id: str, owner: str | None = None,
                keep_max: int = QUARANTINE_KEEP_MAX) -> LandResult:
    """Land a staged export file (``Batch.staged``) judged by ``check_staged``: one transaction, set-based.

    The valid rows go into raw by one INSERT ... SELECT from the staging file. When raw already holds rows of this
    integration, only rows whose content differs from the stored row of their key are merged (deleted by key, then
    inserted): a daily file that repeats yesterday's rows rewrites only what changed, and a row whose content is
    unchanged keeps the batch that first landed it. The quarantine keeps the first ``keep_max`` failing rows;
    ``ledger.batches`` counts them all."""
    stream, now = batch.stream, datetime.now(timezone.utc)
    rows_quarantined = verdict.failing
    rows_valid = verdict.rows - verdict.failing
    if wh.is_postgres:
        from .landing_pg import land_staged_pg

        batch_id = f"b-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        record = _batch_record(batch_id, run_id, batch, verdict.rows, rows_valid, rows_quarantined,
                               verdict.contract.version, verdict.drift, now, owner)
        got, skipped, changed = land_staged_pg(wh, batch, verdict, record, keep_max, now, _LANDING)
        if skipped:
            return LandResult(got, batch.integration, stream.entity, verdict.rows, 0, 0, skipped=True)
        return LandResult(batch_id, batch.integration, stream.entity, verdict.rows, rows_valid, rows_quarantined,
                          rows_changed=changed)
    with _LANDING, wh.connect() as con:
        seen = con.execute(
            "select batch_id from ledger.batches where integration = ? and entity = ? and fingerprint = ?",
            [batch.integration, stream.entity, batch.fingerprint]).fetchall()
        if seen:
            return LandResult(seen[0][0], batch.integration, stream.entity, verdict.rows, 0, 0, skipped=True)
        batch_id = f"b-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        table = raw_table(batch)
        con.execute("SET SESSION TimeZone = 'UTC'")  # a timestamp without an offset casts as UTC (the zone rule)
        con.execute("SET enable_progress_bar = false")
        con.execute(f"attach '{batch.staged.replace(chr(39), chr(39) * 2)}' as __stage (read_only)")
        changed = rows_valid
        try:
            con.execute(f"create or replace temp view landing_frame as {verdict.landing_sql('__stage')}")
            con.execute("begin")
            try:
                con.execute(f"create table if not exists {table} as select *, ''::varchar as _batch_id, "
                            "''::varchar as _integration, now() as _loaded_at from landing_frame limit 0")
                _add_new_columns(con, table, stream.table)
                keys = [k.strip() for k in stream.primary_key.split(",")]
                source = "landing_frame"
                held = con.execute(f"select count(*) from (select 1 from {table} where _integration = ? limit 1)",
                                   [batch.integration]).fetchall()[0][0]
                # every key new to the table (``ledger.batches.keys_new``): nothing of another integration there
                # (its rows share the staging model's key space) and, below, no stored row sharing a key
                keys_new = not con.execute(f"select count(*) from (select 1 from {table} where _integration <> ? "
                                           "limit 1)", [batch.integration]).fetchall()[0][0]
                if held and rows_valid:
                    columns = [r[0] for r in con.execute("describe select * from landing_frame").fetchall()]
                    stored = "hash(" + ", ".join(f"t.{_q(c)}" for c in columns) + ")"
                    incoming = "hash(" + ", ".join(f"f.{_q(c)}" for c in columns) + ")"
                    match = " and ".join(f"t.{_q(k)} = f.{_q(k)}" for k in keys)
                    # Only a stored row that shares a key with an incoming one can be unchanged or replaced: their
                    # row ids are found first, by a scan of the key columns alone, and only those rows are read
                    # whole and hashed, with their row ids for the delete. Hashing every stored row of the table
                    # cost a daily delta of 100k events ~1 s at 10M events, the delete a second probe of all 10M
                    # keys, and one statement doing both read every column of all 10M rows (0.3 s where the keys
                    # alone take 0.17 s; a day of new events shares no key, and the second read, with no row id
                    # to match, skips the table).
                    con.execute("create or replace temp table landing_hits as select t.rowid as __rowid "
                                f"from {table} t semi join landing_frame f on {match} where t._integration = ?",
                                [batch.integration])
                    con.execute("create or replace temp table landing_stored as select t.rowid as __rowid, "
                                f"{', '.join('t.' + _q(k) for k in keys)}, {stored} as __h from {table} t "
                                "semi join landing_hits h on t.rowid = h.__rowid")
                    con.execute("create or replace temp table landing_changed as select f.* from landing_frame f "
                                f"anti join landing_stored t on {match} and t.__h = {incoming}")
                    source = "landing_changed"
                    changed = con.execute("select count(*) from landing_changed").fetchall()[0][0]
                    keys_new = keys_new and not con.execute("select count(*) from landing_stored").fetchall()[0][0]
                    if changed:  # the stored rows of the keys that changed (none when every changed key is new)
                        con.execute(f"delete from {table} where rowid in (select t.__rowid from landing_stored t "
                                    f"semi join landing_changed f on {match})")
                if changed:
                    con.execute(f"insert into {table} by name select *, ? as _batch_id, ? as _integration, "
                                f"?::timestamptz as _loaded_at from {source}", [batch_id, batch.integration, now])
                    if "," not in stream.primary_key and con.execute(
                            "select count(*) from (select 1 from ledger.tombstones where integration = ? "
                            "and entity = ? limit 1)", [batch.integration, stream.entity]).fetchall()[0][0]:
                        lifted = con.execute("delete from ledger.tombstones t where t.integration = ? and "
                                             "t.entity = ? and t.record_id in (select cast("
                                             f"{_q(keys[0])} as varchar) from {source})",
                                             [batch.integration, stream.entity]).fetchall()[0][0]
                        # a record landed again after its deletion: a build that has not applied the tombstone
                        # yet still holds its old row, which this batch's row must replace
                        keys_new = keys_new and not lifted
                quarantined = verdict.quarantine
                if len(quarantined) and keep_max > 0:
                    q = quarantined.head(keep_max).assign(batch_id=batch_id, integration=batch.integration,
                                                          entity=stream.entity, source=batch.source,
                                                          quarantined_at=now)
                    con.register("quarantine_frame", q)
                    con.execute("insert into ledger.quarantine by name select batch_id, integration, entity, source, "
                                "source_row, reasons, record::json as record, quarantined_at from quarantine_frame")
                    con.unregister("quarantine_frame")
                con.execute("insert into ledger.batches (batch_id, run_id, integration, platform, entity, source, "
                            "fingerprint, rows_read, rows_loaded, rows_quarantined, contract_version, drift, "
                            "loaded_at, owner, delivery, keys_new) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                            "?, ?)",
                            [batch_id, run_id, batch.integration, stream.platform, stream.entity, batch.source,
                             batch.fingerprint, verdict.rows, rows_valid, rows_quarantined, verdict.contract.version,
                             json.dumps(verdict.drift) if verdict.drift else None, now, owner, batch.delivery,
                             keys_new])
                con.execute("insert into ledger.schema_snapshots (batch_id, integration, entity, columns, taken_at, "
                            "types) values (?, ?, ?, ?, ?, ?)",
                            [batch_id, batch.integration, stream.entity,
                             json.dumps(list(map(str, batch.frame.columns))), now,
                             json.dumps(verdict.types) if verdict.types else None])
                if batch.file_stat is not None:
                    _record_file(con, batch, batch_id, now)
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
        finally:
            con.execute("drop view if exists landing_frame")
            con.execute("drop table if exists landing_changed")
            con.execute("drop table if exists landing_stored")
            con.execute("drop table if exists landing_hits")
            con.execute("detach __stage")
    return LandResult(batch_id, batch.integration, stream.entity, verdict.rows, rows_valid, rows_quarantined,
                      rows_changed=changed)


def _batch_record(batch_id: str, run_id: str, batch: Batch, rows_read: int, rows_loaded: int, rows_quarantined: int,
                  contract_version: str, drift: dict | None, now: datetime, owner: str | None) -> dict:
    """A batch's ``ledger.batches`` row, by column (the PostgreSQL landing path writes it from here)."""
    return {"batch_id": batch_id, "run_id": run_id, "integration": batch.integration,
            "platform": batch.stream.platform, "entity": batch.stream.entity, "source": batch.source,
            "fingerprint": batch.fingerprint, "rows_read": rows_read, "rows_loaded": rows_loaded,
            "rows_quarantined": rows_quarantined, "contract_version": contract_version,
            "drift": json.dumps(drift) if drift else None, "loaded_at": now, "owner": owner,
            "delivery": batch.delivery}


def read_watermark(wh: Warehouse, integration: str, entity: str) -> str | None:
    """The cursor value the last committed batch of this entity reached; None before the first pull."""
    with wh.connect() as con:
        row = con.execute("select cursor_value from ledger.watermarks where integration = ? and entity = ?",
                          [integration, entity]).fetchone()
    return row[0] if row else None


def latest_types(wh: Warehouse, integration: str, entity: str) -> dict | None:
    """Column -> {dtype, family} of the entity's newest snapshot that recorded types (None before the first, and
    for warehouses whose snapshots predate types: a retype is then only seen from the next batch on)."""
    with wh.connect() as con:
        row = con.execute("select types from ledger.schema_snapshots where integration = ? and entity = ? "
                          "and types is not null order by taken_at desc, batch_id desc limit 1",
                          [integration, entity]).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def _advance_watermark(con, integration: str, entity: str, value: str, batch_id: str, now: datetime) -> None:
    """Forward only: a late batch carrying an older cursor never moves the watermark back."""
    row = con.execute("select cursor_value from ledger.watermarks where integration = ? and entity = ?",
                      [integration, entity]).fetchone()
    if row is None or value > row[0]:
        con.execute("insert or replace into ledger.watermarks values (?, ?, ?, ?, ?)",
                    [integration, entity, value, batch_id, now])


def _revive(con, frame: pd.DataFrame, primary_key: str, integration: str, entity: str) -> None:
    """A record the platform sends again (Salesforce's undelete, a re-created HubSpot contact) is alive again."""
    if "," in primary_key or frame.empty:
        return
    con.execute("delete from ledger.tombstones t where t.integration = ? and t.entity = ? and t.record_id in "
                f'(select cast("{primary_key}" as varchar) from landing_frame)', [integration, entity])


def _bury(con, table: str, primary_key: str, batch: Batch, batch_id: str, now: datetime) -> None:
    """Record the platform's deletions and drop the deleted records from ``raw``.

    The platform no longer holds the record, so Steward's copy must not either (an erased person stays erased here
    too) and staging must not count it as present. Before the row goes, the SHA-256 of its normalised email is kept
    on the tombstone: the one trace that lets the deletion-propagation check ask whether the same person is still
    held or contacted by another system, without keeping the address itself.
    """
    keys = pd.DataFrame({"record_id": sorted(set(map(str, batch.deleted)))})
    con.register("tombstone_keys", keys)
    single = "," not in primary_key
    email = _email_column(con, table) if single else None
    digest = (f'(select sha256(lower(trim(r."{email}"))) from {table} r where r._integration = $1 '
              f'and cast(r."{primary_key}" as varchar) = k.record_id and nullif(trim(r."{email}"), \'\') is not null '
              f'order by r._loaded_at desc limit 1)') if email else "null"
    con.execute("insert into ledger.tombstones (integration, entity, record_id, batch_id, seen_at, email_sha256) "
                f"select $1, $2, k.record_id, $3, $4, {digest} from tombstone_keys k "
                "on conflict (integration, entity, record_id) do update "
                "set email_sha256 = coalesce(ledger.tombstones.email_sha256, excluded.email_sha256)",
                [batch.integration, batch.stream.entity, batch_id, now])
    if single:
        con.execute(f'delete from {table} r where r._integration = ? and cast(r."{primary_key}" as varchar) in '
                    "(select record_id from tombstone_keys)", [batch.integration])
    con.unregister("tombstone_keys")


def _email_column(con, table: str) -> str | None:
    """The person's address column of a raw table (``Email`` in Salesforce, ``email`` elsewhere), if it has one."""
    schema, name = (part.strip('"') for part in table.split(".", 1))
    found = con.execute("select column_name from information_schema.columns where table_schema = ? "
                        "and table_name = ? and lower(column_name) = 'email'", [schema, name]).fetchone()
    return found[0] if found else None


def _refuse_erasing_merge(con, table: str, batch: Batch, drift: dict | None) -> None:
    """Refuse a merge that would replace stored values with null because the batch lacks a required column.

    A rename the drift logic pairs lands under the stored name (``check_batch``); a missing column it could not pair
    (``LastName`` arriving as ``Surname``) reaches here as nulls, and merging by key would erase the stored value of
    every record the batch brings again. The batch is refused as breaking drift instead: nothing of it lands and the
    stored rows stay as they were. A first load, or one whose keys hold no value in that column, still lands."""
    renamed = (drift or {}).get("renamed") or {}
    lost = [c for c in (drift or {}).get("missing", []) if c not in renamed]
    if not lost:
        return
    keys = [k.strip() for k in batch.stream.primary_key.split(",")]
    match = " and ".join(f"t.{_q(k)} = f.{_q(k)}" for k in keys)
    stored = con.execute(f"select {', '.join(f't.{_q(c)} is not null' for c in lost)} from {table} t "
                         f"where t._integration = ? and exists (select 1 from landing_frame f where {match}) "
                         f"and ({' or '.join(f't.{_q(c)} is not null' for c in lost)}) limit 1",
                         [batch.integration]).fetchone()
    if stored:
        column = next(c for c, held in zip(lost, stored) if held)
        raise BreakingDrift(f"{batch.source}: required column '{column}' of {batch.stream.key} is missing and no "
                            "column of the batch pairs with it as a rename; merging would erase its stored values, "
                            "so the batch is not landed", "required_column_missing", drift)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _delete_same_keys(con, table: str, primary_key: str, integration: str) -> None:
    """Rows of this integration whose key the batch brings again are replaced, not duplicated."""
    keys = [k.strip() for k in primary_key.split(",")]
    match = " and ".join(f't."{k}" = f."{k}"' for k in keys)
    con.execute(f"delete from {table} t where t._integration = ? and exists "
                f"(select 1 from landing_frame f where {match})", [integration])


def _add_new_columns(con, table: str, name: str, frame: str = "landing_frame") -> None:
    """Columns a newer contract added (``input_snapshot_id``) join a raw table landed before it; old rows hold null."""
    have = {r[0] for r in con.execute("select column_name from information_schema.columns where table_schema = 'raw' "
                                      "and table_name = ?", [name]).fetchall()}
    for column, dtype, *_ in con.execute(f"describe select * from {frame}").fetchall():
        if column not in have:
            con.execute(f'alter table {table} add column "{column}" {dtype}')
