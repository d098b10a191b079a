"""One writer at a time per warehouse, said plainly.

DuckDB lets one process at a time open a file for writing; a second one gets ``Could not set lock on file`` at
whatever moment it first touches the file, and Steward opens short-lived connections, so without a lock of our own
a health probe that slips in between two steps of a run makes the run's next step fail. A run (and the health
monitor) therefore takes the warehouse's writer lock first, for its whole length: a second one waits its turn up to
``lock_timeout_seconds`` and then stops with one line naming the run that holds it.

``WriterLock`` is the interface; ``FileWriterLock`` implements it for a DuckDB file with ``flock`` on a file beside
it (``<warehouse>.lock``), which the kernel releases when the holder dies, even by ``kill -9``. A PostgreSQL
warehouse would implement the same three methods with ``pg_advisory_lock``.

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

__all__ = ["DEFAULT_LOCK_TIMEOUT", "LockHolder", "WriterLock", "FileWriterLock", "writer_lock",
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


# The lock belongs to the process: one open lock per warehouse and a count of who in this process uses it. One
# thread at a time goes to the kernel for it, so a second thread of the same process shares the lock instead of
# waiting for its own process to let go.
_HELD: dict[Path, tuple[FileWriterLock, int]] = {}
_GUARD = threading.Lock()
_ACQUIRING = threading.Lock()


def writer_lock(warehouse: Path) -> FileWriterLock:
    """The lock implementation for this warehouse (DuckDB files only for now)."""
    return FileWriterLock(Path(warehouse))


def holding(warehouse: Path) -> bool:
    """Whether this process holds ``warehouse``'s writer lock."""
    return Path(warehouse).expanduser().resolve() in _HELD


def _join(key: Path, run_id: str | None) -> bool:
    with _GUARD:
        entry = _HELD.get(key)
        if entry is None:
            return False
        _HELD[key] = (entry[0], entry[1] + 1)
    if run_id:
        entry[0].describe(LockHolder(run_id))  # the CLI took it before the flow knew its run id
    return True


@contextmanager
def hold(warehouse: Path, run_id: str | None, timeout: float = DEFAULT_LOCK_TIMEOUT,
         on_wait: Callable[[LockHolder | None], None] | None = None) -> Iterator[None]:
    """Hold ``warehouse``'s writer lock for the block, re-entrant within a process. ``run_id`` names the holder
    (None: a command that is not a run; an inner holder with a run id renames the lock to it)."""
    key = Path(warehouse).expanduser().resolve()
    if not _join(key, run_id):
        with _ACQUIRING:
            if not _join(key, run_id):
                lock = writer_lock(key)
                lock.acquire(LockHolder(run_id), timeout, on_wait)
                with _GUARD:
                    _HELD[key] = (lock, 1)
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


def hold_until_exit(warehouse: Path, run_id: str | None, timeout: float = DEFAULT_LOCK_TIMEOUT,
                    on_wait: Callable[[LockHolder | None], None] | None = None) -> None:
    """Take ``warehouse``'s writer lock for the rest of the process; the kernel releases it when the process ends.

    For a command (``steward run``) rather than a flow: dbt-duckdb may keep its DuckDB handle open until the
    process exits, and a lock let go before that would let the next run in to meet DuckDB's own lock error.
    """
    held = hold(warehouse, run_id, timeout, on_wait)
    held.__enter__()
    _KEPT.append(held)  # a collected generator would run its ``finally`` and let go


_KEPT: list = []
