"""One writer at a time per warehouse, said plainly.

DuckDB lets one process at a time open a file for writing; a second one gets ``Could not set lock on file`` at
whatever moment it first touches the file, and Steward opens short-lived connections, so without a lock of our own
a health probe that slips in between two steps of a run makes the run's next step fail. A run (and the health
monitor) therefore takes the warehouse's writer lock first, for its whole length: a second one waits its turn up to
``lock_timeout_seconds`` and then stops with one line naming the run that holds it.

``WriterLock`` is the interface; ``FileWriterLock`` implements it for a DuckDB file with ``flock`` on a file beside
it (``<warehouse>.lock``), which the kernel releases when the holder dies, even by ``kill -9``. ``PgAdvisoryLock``
implements it for a PostgreSQL warehouse with a session-level advisory lock on a fixed key (advisory locks are per
database, so the key is per warehouse), held by a connection of its own that lives as long as the lock: the server
releases it when that session ends, even by ``kill -9``. The holder is named by the session's application_name
(pid, run id, host) and completed from ``ledger.runs``. On a server, reads need no lock and the health monitor
(``hold(..., monitor=True)``) does not wait for a run: PostgreSQL isolates sessions, so a probe while a run writes
is safe there.

The lock is held per process and is re-entrant: the CLI takes it before opening the warehouse, the flow inside the
same process takes it again, and every connection in between finds it already held.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Protocol

from ...contracts.errors import WarehouseBusy, WarehouseError
from .target import PostgresTarget

__all__ = ["DEFAULT_LOCK_TIMEOUT", "LockHolder", "WriterLock", "FileWriterLock", "PgAdvisoryLock", "writer_lock",
           "holding", "hold", "hold_until_exit"]

DEFAULT_LOCK_TIMEOUT = 600.0  # a nightly run at target scale takes minutes; a second one waits for it, not forever
_POLL = 0.25


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock: written into the lock so the one waiting can say whom it waits for."""

    run_id: str | None
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def describe(self) -> str:
        who = f"run {self.run_id}" if self.run_id else "a steward command"
        return f"{who} (pid {self.pid} on {self.host}, since {self.started_at})"


class WriterLock(Protocol):
    """The warehouse's one-writer lock. ``acquire`` blocks up to ``timeout`` seconds (``on_wait`` is told once, with
    the current holder, when it has to wait) and raises ``WarehouseBusy`` naming the holder when time runs out."""

    def acquire(self, holder: LockHolder, timeout: float,
                on_wait: Callable[[LockHolder | None], None] | None = None) -> None: ...

    def release(self) -> None: ...

    def holder(self) -> LockHolder | None: ...


class FileWriterLock:
    """``flock`` on ``<warehouse>.lock``; the file's content names the holder (pid, host, run id, since when)."""

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = Path(warehouse)
        self.path = self.warehouse.with_name(self.warehouse.name + ".lock")
        self._fd: int | None = None

    def acquire(self, holder: LockHolder, timeout: float,
                on_wait: Callable[[LockHolder | None], None] | None = None) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"{self.warehouse}: cannot create the warehouse folder ({exc.strerror})") from exc
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WarehouseError(f"{self.warehouse}: warehouse path is not writable ({exc.strerror}); set "
                                 "'warehouse:' in steward.yaml to a writable path") from exc
        deadline, told = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                current = self.holder()
                if time.monotonic() >= deadline:
                    os.close(fd)
                    who = current.describe() if current else "another Steward process"
                    raise WarehouseBusy(f"{self.warehouse}: {who} is writing to the warehouse; waited {timeout:g} s "
                                        f"for it (lock_timeout_seconds in steward.yaml)") from None
                if on_wait is not None and not told:
                    on_wait(current)
                    told = True
                time.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))
        self._fd = fd
        self.describe(holder)

    def describe(self, holder: LockHolder) -> None:
        """Say who holds the lock (again, when the run id becomes known after the lock was taken)."""
        if self._fd is None:
            return
        data = json.dumps(asdict(holder)).encode()
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # a holder named in a free lock would mislead the next one waiting
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> LockHolder | None:
        for attempt in range(3):  # a holder renaming itself rewrites the file: read again a moment later
            try:
                data = json.loads(self.path.read_text(encoding="utf-8") or "null")
                return LockHolder(**data) if isinstance(data, dict) else None
            except (OSError, ValueError, TypeError):
                time.sleep(0.05 * (attempt + 1))
        return None  # not ours, or unreadable


WRITER_LOCK_KEY = (0x53544557, 1)  # "STEW", 1: pg_try_advisory_lock(int, int) in the warehouse's database


class PgAdvisoryLock:
    """``pg_try_advisory_lock`` on :data:`WRITER_LOCK_KEY`, polled until ``timeout``, on a session kept open while
    the lock is held."""

    def __init__(self, target: PostgresTarget) -> None:
        self.target = target
        self._raw = None

    def acquire(self, holder: LockHolder, timeout: float,
                on_wait: Callable[[LockHolder | None], None] | None = None) -> None:
        from .pg import pg_connect

        raw = pg_connect(self.target, _app_name(holder))
        deadline, told = time.monotonic() + timeout, False
        try:
            while not raw.execute("select pg_try_advisory_lock(%s, %s)", WRITER_LOCK_KEY).fetchone()[0]:
                current = _pg_holder(raw)
                if time.monotonic() >= deadline:
                    who = current.describe() if current else "another Steward process"
                    raise WarehouseBusy(f"{self.target.display}: {who} is writing to the warehouse; waited "
                                        f"{timeout:g} s for it (lock_timeout_seconds in steward.yaml)")
                if on_wait is not None and not told:
                    on_wait(current)
                    told = True
                time.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))
        except BaseException:
            raw.close()
            raise
        self._raw = raw

    def describe(self, holder: LockHolder) -> None:
        if self._raw is not None:
            self._raw.execute("select set_config('application_name', %s, false)", [_app_name(holder)])

    def release(self) -> None:
        if self._raw is not None:
            try:
                self._raw.execute("select pg_advisory_unlock(%s, %s)", WRITER_LOCK_KEY)
            finally:
                self._raw.close()
                self._raw = None

    def holder(self) -> LockHolder | None:
        from .pg import pg_connect

        raw = pg_connect(self.target)
        try:
            return _pg_holder(raw)
        finally:
            raw.close()


def _app_name(holder: LockHolder) -> str:
    """``steward <pid> <run id or -> <host>``: what the holder's session says of itself (63 characters at most,
    so the host, last, is what a long name loses)."""
    return f"steward {holder.pid} {holder.run_id or '-'} {holder.host}"[:63]


def _pg_holder(raw) -> LockHolder | None:
    """The session holding the writer lock, as a holder: run id, pid and host from its application_name, and the
    run's own row in ``ledger.runs`` (pid, host, started_at) when the run has one yet."""
    row = raw.execute(
        "select a.application_name, a.backend_start from pg_locks l join pg_stat_activity a on a.pid = l.pid "
        "where l.locktype = 'advisory' and l.granted and l.classid::bigint = %s and l.objid::bigint = %s "
        "and l.objsubid = 2 and l.database = (select oid from pg_database where datname = current_database())",
        WRITER_LOCK_KEY).fetchone()
    if row is None:
        return None
    parts = (row[0] or "").split(" ", 3)
    if len(parts) < 3 or parts[0] != "steward":
        return None
    pid = int(parts[1]) if parts[1].isdigit() else 0
    run_id = None if parts[2] == "-" else parts[2]
    host = parts[3] if len(parts) > 3 else "?"
    since = row[1].astimezone(timezone.utc).isoformat(timespec="seconds") if row[1] else "?"
    if run_id:
        try:
            found = raw.execute("select pid, host, started_at from ledger.runs where run_id = %s",
                                [run_id]).fetchone()
        except Exception:  # a database without the ledger yet
            found = None
        if found:
            pid, host = found[0] or pid, found[1] or host
            since = found[2].astimezone(timezone.utc).isoformat(timespec="seconds") if found[2] else since
    return LockHolder(run_id, pid, host, since)


# The lock belongs to the process: one open lock per warehouse and a count of who in this process uses it. One
# thread at a time goes to the kernel for it, so a second thread of the same process shares the lock instead of
# waiting for its own process to let go.
_HELD: dict[Path | PostgresTarget, tuple[WriterLock, int]] = {}
_GUARD = threading.Lock()
_ACQUIRING = threading.Lock()


def writer_lock(warehouse: Path | PostgresTarget) -> WriterLock:
    """The lock implementation for this warehouse: ``flock`` for a DuckDB file, an advisory lock on a server."""
    if isinstance(warehouse, PostgresTarget):
        return PgAdvisoryLock(warehouse)
    return FileWriterLock(Path(warehouse))


def _key(warehouse: Path | PostgresTarget | str) -> Path | PostgresTarget:
    if isinstance(warehouse, PostgresTarget):
        return warehouse
    return Path(warehouse).expanduser().resolve()


def holding(warehouse: Path | PostgresTarget) -> bool:
    """Whether this process holds ``warehouse``'s writer lock."""
    return _key(warehouse) in _HELD


def _join(key: Path | PostgresTarget, run_id: str | None) -> bool:
    with _GUARD:
        entry = _HELD.get(key)
        if entry is None:
            return False
        _HELD[key] = (entry[0], entry[1] + 1)
    if run_id:
        entry[0].describe(LockHolder(run_id))  # the CLI took it before the flow knew its run id
    return True


def _take(key: Path | PostgresTarget, run_id: str | None, timeout: float,
          on_wait: Callable[[LockHolder | None], None] | None) -> None:
    """Count one more user of this process's hold of ``key``, taking the lock first if the process has none."""
    if not _join(key, run_id):
        with _ACQUIRING:
            if not _join(key, run_id):
                lock = writer_lock(key)
                lock.acquire(LockHolder(run_id), timeout, on_wait)
                with _GUARD:
                    _HELD[key] = (lock, 1)


@contextmanager
def hold(warehouse: Path | PostgresTarget, run_id: str | None, timeout: float = DEFAULT_LOCK_TIMEOUT,
         on_wait: Callable[[LockHolder | None], None] | None = None, monitor: bool = False) -> Iterator[None]:
    """Hold ``warehouse``'s writer lock for the block, re-entrant within a process. ``run_id`` names the holder
    (None: a command that is not a run; an inner holder with a run id renames the lock to it). ``monitor``: the
    health monitor, which on a server warehouse takes no lock (it probes while a run writes)."""
    key = _key(warehouse)
    if monitor and isinstance(key, PostgresTarget):
        yield
        return
    _take(key, run_id, timeout, on_wait)
    try:
        yield
    finally:
        with _GUARD:
            lock, count = _HELD[key]
            if count > 1:
                _HELD[key] = (lock, count - 1)
            else:
                del _HELD[key]
                lock.release()


def hold_until_exit(warehouse: Path | PostgresTarget, run_id: str | None, timeout: float = DEFAULT_LOCK_TIMEOUT,
                    on_wait: Callable[[LockHolder | None], None] | None = None) -> None:
    """Take ``warehouse``'s writer lock for the rest of the process; the kernel releases it when the process ends.

    For a command (``steward run``) rather than a flow: dbt-duckdb may keep its DuckDB handle open until the
    process exits, and a lock let go before that would let the next run in to meet DuckDB's own lock error.
    The count it adds is never given back, so the lock stays in this process's table until the process ends. (It
    used to be a ``hold`` entered and kept: that suspended generator was finalized at interpreter exit, after the
    module's globals were gone, and a long-lived process that had run the command in-process, a pytest worker,
    printed "Exception ignored" as it shut down.)
    """
    _take(_key(warehouse), run_id, timeout, on_wait)
