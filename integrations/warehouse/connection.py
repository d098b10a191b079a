"""The warehouse: where landed data, Steward's own ledgers and dbt's models live, in a DuckDB file (the embedded
default) or a PostgreSQL database (``warehouse: postgresql://...``; see ``pg`` and ``dialect``).

Connections are short-lived on purpose: dbt opens the same file in the same process between our steps, and DuckDB
allows one process-wide open of a file with one set of settings, so a connection kept open across steps
(``Warehouse.pinned``: a run's, from start to end) is closed while dbt runs (``released``) and opened again after. Between processes the
writer lock (``writer_lock``) decides who owns the file: a run holds it from start to end, and any other connection
waits for it, so a second process never meets DuckDB's own lock error in the middle of someone else's run.

On PostgreSQL the server arbitrates concurrent sessions itself: a connection takes no lock, so the health monitor
and a report read while a run writes; runs still hold the writer lock (an advisory lock) for their whole length.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import duckdb

from ...contracts.errors import WarehouseError
from ...contracts.errors import WarehouseBusy
from .target import PostgresTarget, WarehouseTarget, parse_target
from .writer_lock import DEFAULT_LOCK_TIMEOUT, hold

__all__ = ["Warehouse", "LEDGER_DDL", "ledger_rows", "released", "wait_released"]

LEDGER_DDL = """
create schema if not exists raw;
create schema if not exists ledger;
create table if not exists ledger.runs (
    run_id varchar primary key, kind varchar, started_at timestamptz, finished_at timestamptz, status varchar,
    config_path varchar, summary json);
alter table ledger.runs add column if not exists pid integer;
alter table ledger.runs add column if not exists host varchar;
create table if not exists ledger.batches (
    batch_id varchar primary key, run_id varchar, integration varchar, platform varchar, entity varchar,
    source varchar, fingerprint varchar, rows_read bigint, rows_loaded bigint, rows_quarantined bigint,
    contract_version varchar, drift json, loaded_at timestamptz, owner varchar);
alter table ledger.batches add column if not exists owner varchar;
alter table ledger.batches add column if not exists delivery varchar;
-- Whether every key the batch landed was new to its raw table (no stored row shared one, no other integration holds
-- rows there, no tombstone of one was lifted): an incremental staging model that reads only such batches has no
-- built row to replace and skips looking for them (macros/per_key.sql). Null: not known (probe as always).
alter table ledger.batches add column if not exists keys_new boolean;
-- Each export file landed whole, with its size and mtime when read: the next pull knows an untouched file without
-- reading it (landing.landed_file). ``source`` is the file's path relative to its integration's folder
-- (landing.landed_key), so a moved stack folder is still known; rows written before hold absolute paths, still
-- matched by their ending and rewritten under the key when next seen. Created here with the ledger, not on first use: integrations are pulled
-- from several threads, and two creating it at once conflict.
create table if not exists ledger.landed_files (
    integration varchar, entity varchar, source varchar, size bigint, mtime_ns bigint, fingerprint varchar,
    batch_id varchar, landed_at timestamptz, primary key (integration, entity, source));
create table if not exists ledger.quarantine (
    batch_id varchar, integration varchar, entity varchar, source varchar, source_row bigint,
    reasons varchar, record json, quarantined_at timestamptz);
create table if not exists ledger.schema_snapshots (
    batch_id varchar, integration varchar, entity varchar, columns json, taken_at timestamptz);
alter table ledger.schema_snapshots add column if not exists types json;
create table if not exists ledger.schema_refusals (
    refusal_id varchar primary key, run_id varchar, integration varchar, platform varchar, entity varchar,
    source varchar, fingerprint varchar, kind varchar, reason varchar, drift json, columns json, types json,
    rows_refused bigint, owner varchar, refused_at timestamptz);
create table if not exists ledger.findings (
    run_id varchar, fingerprint varchar, check_id varchar, family varchar, severity varchar, subject_type varchar,
    subject varchar, metric varchar, observed double, threshold double, evidence json, explanation varchar,
    sample_query varchar, owner varchar, action varchar, first_seen_at timestamptz, last_seen_at timestamptz,
    primary key (run_id, fingerprint));
create table if not exists ledger.audit_log (
    seq bigint primary key, logged_at timestamptz, run_id varchar, fingerprint varchar, check_id varchar, action varchar,
    target varchar, decided_by varchar, reason varchar, outcome varchar, prev_hash varchar, hash varchar);
alter table ledger.audit_log add column if not exists key_id varchar;
create table if not exists ledger.alert_outbox (
    alert_id varchar primary key, run_id varchar, fingerprint varchar, channel varchar, payload json,
    status varchar, attempts integer, last_error varchar, created_at timestamptz, sent_at timestamptz,
    kind varchar, parent_id varchar, ts varchar, channel_id varchar, seq bigint);
alter table ledger.alert_outbox add column if not exists kind varchar;
alter table ledger.alert_outbox add column if not exists parent_id varchar;
alter table ledger.alert_outbox add column if not exists ts varchar;
alter table ledger.alert_outbox add column if not exists channel_id varchar;
alter table ledger.alert_outbox add column if not exists seq bigint;
create sequence if not exists ledger.alert_outbox_seq;
create table if not exists ledger.incidents (
    fingerprint varchar primary key, check_id varchar, subject varchar, channel varchar, status varchar,
    severity varchar, observed double, opened_at timestamptz, last_seen_at timestamptz,
    last_notified_at timestamptz, resolved_at timestamptz, thread_ts varchar, last_run_id varchar,
    parent_alert_id varchar, finding json);
create table if not exists ledger.pii_columns (
    scanned_at timestamptz, table_schema varchar, table_name varchar, column_name varchar, data_type varchar,
    name_kind varchar, content_kind varchar, values_sampled bigint, values_matching bigint);
create table if not exists ledger.watermarks (
    integration varchar, entity varchar, cursor_value varchar, batch_id varchar, advanced_at timestamptz,
    primary key (integration, entity));
create table if not exists ledger.tombstones (
    integration varchar, entity varchar, record_id varchar, batch_id varchar, seen_at timestamptz,
    primary key (integration, entity, record_id));
alter table ledger.tombstones add column if not exists email_sha256 varchar;
create table if not exists ledger.campaign_controls (
    integration varchar, campaign_id varchar, state varchar, reason varchar, changed_at timestamptz,
    primary key (integration, campaign_id));
alter table ledger.campaign_controls add column if not exists intent json;
create sequence if not exists ledger.integration_health_seq;
create table if not exists ledger.integration_health (
    seq bigint primary key, monitor_run_id varchar, integration varchar, platform varchar, checked_at timestamptz,
    probe_state varchar, probe_detail varchar, failure varchar, status_code integer, auth_ok boolean,
    latency_ms double, headroom double, hours_since_sync double, sync_sla_hours double, sync_error_rate double,
    sync_runs integer, volume_rows bigint, volume_ratio double, drift_columns integer, schema_changes integer,
    server_error_streak integer, verdict varchar, verdict_rule varchar, verdict_reason varchar,
    state varchar, previous_state varchar, rule varchar, changed boolean, in_maintenance boolean,
    down_streak integer, bad_streak integer, degraded_streak integer, good_streak integer, unknown_streak integer,
    announced_state varchar, episode_alert_id varchar, alert_id varchar, signals json,
    reconciliation_rate double, reconciliation_baseline double, reconciliation_run_id varchar);
create table if not exists ledger.launch_audits (
    audit_id varchar primary key, launch_id varchar, launch_name varchar, verdict varchar, started_at timestamptz,
    finished_at timestamptz, spec json, reasons json, evidence json, checks_evaluated json, config_path varchar);
create table if not exists ledger.health_gate (
    run_id varchar, check_id varchar, integrations varchar, states varchar, reason varchar, decided_at timestamptz,
    primary key (run_id, check_id));
-- What the last complete governance build was built from (integrations/transform/changes.py): one row, replaced by
-- every governance build; the next run rebuilds only what changed since.
create table if not exists ledger.build_state (
    run_id varchar, built_at timestamptz, project_key varchar, fingerprints json, skipped json, tests json);
-- The data tests the governance build in progress may limit to the rows it recomputed (the ones that passed in the last
-- complete build: dbt_project/macros/per_key_tests.sql). Written just before dbt starts, emptied when it is done.
create table if not exists ledger.vouched_tests (unique_id varchar);
"""


# Integrations land from several threads. Two threads opening the same file at the same moment can get a connection
# to a database instance that is not fully set up yet (DuckDB then misses its pandas_scan function on register);
# opening connections one at a time costs microseconds and removes the race.
_CONNECTING = threading.Lock()

# Warehouse files kept open by ``Warehouse.pinned``: path -> (the connection holding the database open, depth). While
# a file is pinned, ``connect`` hands out cursors of that connection instead of opening the file again: opening a
# DuckDB file loads its catalog and closing the last connection checkpoints it, which costs about 0.1 s per
# connection on a warehouse of a few hundred MB, and a run's judge, alert, act and report steps open hundreds.
_PINNED: dict[Path, list] = {}
_PINNING = threading.Lock()


class Warehouse:
    """A DuckDB file or a PostgreSQL database, plus the ledgers Steward writes to it. Creating one checks the file
    can be written (or the server reached) and creates the ledger tables that are missing."""

    def __init__(self, path: WarehouseTarget | str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 settings: Mapping[str, str] | None = None) -> None:
        target = parse_target(path) if isinstance(path, str) else path
        self.lock_timeout = lock_timeout  # how long a connection outside a run waits for a run to finish
        if isinstance(target, PostgresTarget):
            self.path: Path | PostgresTarget = target  # what error messages name (its str is the URL, no secret)
            self.settings: dict[str, str] = {}  # DuckDB's resource settings do not apply to a server
            from .pg import ensure_ledger

            ensure_ledger(target, LEDGER_DDL)
            return
        self.path = Path(target).expanduser().resolve()
        # DuckDB's resource settings (threads, memory_limit, temp_directory; steward.yaml's `duckdb:`), applied to
        # every connection and handed to dbt's profile, so a run bigger than memory spills instead of failing
        self.settings = _checked_settings(self.path, settings or {})
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"{self.path}: cannot create the warehouse folder ({exc.strerror})") from exc
        if not os.access(parent, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK)):
            raise WarehouseError(f"{self.path}: warehouse path is not writable; set 'warehouse:' in steward.yaml to a writable path")
        with self.connect() as con:
            _ensure_ledger(con)

    @property
    def is_postgres(self) -> bool:
        return isinstance(self.path, PostgresTarget)

    @property
    def target(self) -> WarehouseTarget:
        return self.path

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection, under the writer lock: the run's own when this process holds it, else taken for the
        connection's length (waiting up to ``lock_timeout`` for a run in another process to finish).

        On PostgreSQL a :class:`~.pg.PgConnection` with the same methods, and no lock: the server isolates
        sessions, and a read-only connection runs its statements in a read-only session."""
        if isinstance(self.path, PostgresTarget):
            from .pg import pg_session

            with pg_session(self.path, read_only=read_only) as con:
                yield con
            return
        pinned = _PINNED.get(self.path)
        if pinned is not None:  # the file is held open by this process (``pinned``): a cursor of it, under its lock
            con = pinned[0].cursor()
            try:
                yield con
            finally:
                con.close()
            return
        with hold(self.path, None, self.lock_timeout):
            try:
                with _CONNECTING:
                    con = duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                raise _open_error(self.path, exc) from exc
            try:
                _apply(con, self.settings)
                yield con
            finally:
                con.close()

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Keep the DuckDB file open for a stretch of many short connections (a run's judge, alert, act and report
        steps), so each ``connect`` in it is a cursor of one open database rather than a fresh open and checkpoint
        of the file. Nothing else in this process may open the file with other settings meanwhile, so dbt (which
        opens it itself) never runs inside a pinned stretch. Nested pins share the outer one; on PostgreSQL (a
        server keeps its own connections) this does nothing."""
        if isinstance(self.path, PostgresTarget):
            yield
            return
        with _PINNING:  # one pin per file, counted: threads pinning at once (the ingest's pulls) share it
            pinned = _PINNED.get(self.path)
            if pinned is not None:
                pinned[1] += 1
            else:  # opened under the writer lock, with the warehouse's settings; the last one out closes it
                opened = self.connect()
                _PINNED[self.path] = pinned = [opened.__enter__(), 1, opened, self]
        try:
            yield
        finally:
            with _PINNING:
                pinned[1] -= 1
                last = pinned[1] == 0
                if last and _PINNED.get(self.path) is pinned:
                    _PINNED.pop(self.path, None)
            if last and pinned[2] is not None:
                pinned[2].__exit__(None, None, None)

    def defer_checkpoint(self) -> None:
        """On a pinned DuckDB file (a run's), commits from here on leave their writes in the WAL instead of
        checkpointing them into the file when it outgrows ``checkpoint_threshold``: the pin's close checkpoints
        them, and ``released`` closes it while dbt starts. A run calls this after its ingest: the first commit with
        no other transaction open (the PII scan's) was the one to checkpoint the day's landed rows, on the run's
        only busy thread (0.5 s at 1M people, most of it DuckDB merging the part-filled row groups a parallel load
        leaves, once rows near them were replaced). The pin's next open (after dbt) is a new database instance,
        with DuckDB's threshold again. Unpinned, or on PostgreSQL: nothing changes."""
        pinned = None if isinstance(self.path, PostgresTarget) else _PINNED.get(self.path)
        if pinned is not None:
            pinned[0].execute("set checkpoint_threshold = '1TB'")

    def query_df(self, sql: str, params: list | None = None):
        """A small result as a pandas frame; for aggregated marts and ledgers, never for raw tables."""
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    def mart(self, name: str):
        """One aggregated governance mart as a frame (the only shape of data judging ever sees)."""
        if not name.replace("_", "").isalnum():
            raise WarehouseError(f"{self.path}: '{name}' is not a mart name")
        return self.query_df(f"select * from governance.{name}")

    def table_exists(self, schema: str, table: str) -> bool:
        with self.connect() as con:
            row = con.execute("select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                              [schema, table]).fetchone()
        return bool(row and row[0])


# What LEDGER_DDL leaves in a database: its schemas, the ledger's (table, column) pairs and sequences, read once per
# process off an in-memory database it ran on (``_ledger_shape``).
_LEDGER_SHAPE: tuple[frozenset, frozenset, frozenset] | None = None
_SHAPING = threading.Lock()


def _shape(con: duckdb.DuckDBPyConnection) -> tuple[frozenset, frozenset, frozenset]:
    """The schemas, ledger columns and ledger sequences of the connection's own database."""
    here = "database_name = current_database()"
    schemas = con.execute(f"select schema_name from duckdb_schemas() where {here}").fetchall()
    columns = con.execute(f"select table_name, column_name from duckdb_columns() where {here} "
                          "and schema_name = 'ledger'").fetchall()
    sequences = con.execute(f"select sequence_name from duckdb_sequences() where {here} "
                            "and schema_name = 'ledger'").fetchall()
    return frozenset(r[0] for r in schemas), frozenset(columns), frozenset(r[0] for r in sequences)


def _ledger_shape() -> tuple[frozenset, frozenset, frozenset]:
    global _LEDGER_SHAPE
    with _SHAPING:
        if _LEDGER_SHAPE is None:
            with duckdb.connect(":memory:") as con:
                con.execute(LEDGER_DDL)
                _LEDGER_SHAPE = _shape(con)
        return _LEDGER_SHAPE


def _ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    """LEDGER_DDL, unless the database already holds everything it creates. Every statement of it is ``if not
    exists``, so on a warehouse that has every schema, ledger column and sequence it changes nothing; running it
    anyway cost ~9 ms of CPU per ``Warehouse`` (40 catalog statements, and a checkpoint of them on close), one
    catalog read costs ~1.5 ms. A file from an older Steward (a column or table missing) still gets the DDL."""
    want, have = _ledger_shape(), _shape(con)
    if not all(w <= h for w, h in zip(want, have)):
        con.execute(LEDGER_DDL)


def ledger_rows(target: PostgresTarget) -> int:
    """How many runs a PostgreSQL database's ledger holds (0 for a database Steward never used)."""
    from .pg import pg_session

    with pg_session(target, read_only=True) as con:
        if not con.execute("select count(*) from information_schema.tables where table_schema = 'ledger' "
                           "and table_name = 'runs'").fetchone()[0]:
            return 0
        return int(con.execute("select count(*) from ledger.runs").fetchone()[0])


RESOURCE_SETTINGS = ("threads", "memory_limit", "temp_directory")


def _apply(con: duckdb.DuckDBPyConnection, settings: Mapping[str, str]) -> None:
    """``SET`` each setting on the database this connection shares with the process's others. DuckDB refuses to
    switch the temporary directory once anything has spilled into it, even to the same folder, so an unchanged one
    is left alone."""
    for key, value in settings.items():  # keys and values checked by _checked_settings
        if key == "temp_directory" and con.execute("select current_setting('temp_directory')").fetchone()[0] == value:
            continue
        con.execute(f"set {key} = '{value}'")


def _checked_settings(path: Path, settings: Mapping[str, str]) -> dict[str, str]:
    """Only the resource settings, as text with no quote in it: they are written into ``SET`` statements."""
    unknown = sorted(set(settings) - set(RESOURCE_SETTINGS))
    if unknown:
        raise WarehouseError(f"{path}: '{unknown[0]}' is not a warehouse setting ({', '.join(RESOURCE_SETTINGS)})")
    out = {key: str(value) for key, value in settings.items() if value is not None}
    quoted = [key for key, value in out.items() if "'" in value]
    if quoted:
        raise WarehouseError(f"{path}: the {quoted[0]} setting may not contain a quote")
    return out


_FOREIGN_LOCK = re.compile(r"Could not set lock on file.*?\(PID (\d+)\)", re.S)


def _open_error(path: Path, exc: duckdb.Error) -> WarehouseError:
    """DuckDB's lock conflict said plainly: with the writer lock held, only a program outside Steward (a DuckDB
    shell, a BI tool) can still hold the file."""
    found = _FOREIGN_LOCK.search(str(exc))
    if found or "Could not set lock" in str(exc):
        pid = f" (pid {found.group(1)})" if found else ""
        return WarehouseBusy(f"{path}: another program{pid} has the warehouse open; close it and run again")
    return WarehouseError(f"{path}: cannot open the warehouse ({_first_line(exc)})")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def released(target: WarehouseTarget | str) -> Iterator[None]:
    """dbt opens the DuckDB file itself, with its own settings, so a pin of that file (``Warehouse.pinned``) is
    closed for the stretch dbt runs and opened again after it, for the pin's holders to go on as before: a run
    pins its warehouse from start to end (one open of the file before dbt and one after, instead of one per step).
    Nothing else of this process may use the pin meanwhile (a run does nothing else while dbt builds). A no-op when
    the file is not pinned, and on PostgreSQL.

    The close, with its checkpoint of what the run wrote before dbt (``Warehouse.defer_checkpoint``), runs on a
    thread of its own (``_PinClose``) while the block starts: dbt spends most of a second in Python before it opens
    the file, and its open waits for the close there (``wait_released``), so the checkpoint (0.5 s after a day's
    ingest at 1M people) costs no time of its own. The block's end waits for it too."""
    resolved = parse_target(target) if isinstance(target, str) else target
    if isinstance(resolved, PostgresTarget):
        yield
        return
    path = Path(resolved).expanduser().resolve()
    with _PINNING:
        pinned = _PINNED.pop(path, None)
    if pinned is None:
        yield
        return
    opened, pinned[2] = pinned[2], None
    closing = _PinClose(pinned[0], opened)
    with _PINNING:
        _CLOSING[path] = closing
    closing.start()  # closed (and checkpointed), the writer lock's hold let go
    try:
        yield
    finally:
        try:
            wait_released(path)
        finally:
            with _PINNING:
                _CLOSING.pop(path, None)
                if pinned[1] > 0:  # still held: opened again, with the same warehouse's settings
                    reopened = pinned[3].connect()
                    pinned[0], pinned[2] = reopened.__enter__(), reopened
                    _PINNED[path] = pinned


_CLOSING: dict[Path, "_PinClose"] = {}  # pins ``released`` is closing, by file


class _PinClose(threading.Thread):
    """The close of a released pin: a checkpoint first (``execute`` lets the GIL go, so the Python that runs
    meanwhile is not slowed), then the connection's close, which lets the writer lock's hold go. An error is kept
    for whoever waits (``wait_released``)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, opened) -> None:
        super().__init__(name="steward-pin-close", daemon=True)
        self.con, self.opened = con, opened
        self.error: BaseException | None = None
        self.reported = False

    def run(self) -> None:
        try:
            try:
                self.con.execute("checkpoint")
            except duckdb.Error:
                pass  # another transaction still open: the close below checkpoints once it can
            self.opened.__exit__(None, None, None)
        except BaseException as exc:  # noqa: BLE001 - raised again in the waiting thread
            self.error = exc


def wait_released(target: WarehouseTarget | str) -> None:
    """Return once the pin ``released`` is closing for ``target`` is closed (at once when there is none); a failed
    close is raised here, to the first caller that waits for it. dbt's open of the file calls this
    (``dbt_build._open_after_release``), so it never opens the file while this process still has it open."""
    resolved = parse_target(target) if isinstance(target, str) else target
    if isinstance(resolved, PostgresTarget):
        return
    path = Path(resolved).expanduser().resolve()
    with _PINNING:
        closing = _CLOSING.get(path)
    if closing is None:
        return
    closing.join()
    with _PINNING:
        error, report = closing.error, not closing.reported
        closing.reported = True
    if error is not None and report:
        raise error
