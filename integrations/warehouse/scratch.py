"""One in-memory DuckDB database per process, handed out as fresh connections (cursors) for short-lived work.

Starting a DuckDB database costs ~16 ms of CPU whatever it holds (its built-in extensions register their functions),
about as much as judging a 50,000-row batch in it. Batch validation, and every PostgreSQL landing step that moves a
frame through DuckDB (``register`` then ``COPY``), asked for a database of their own each time: the PostgreSQL
landing of one batch started three. A cursor of this database has its own temp schema and its own registered frames
and costs ~0.01 ms, so callers that only ``register`` frames, create temp views or temp tables, and read them, can
share it, from several threads at once: export files read by DuckDB's readers (a cursor's ``store_rejects`` tables
are temporary, its own), the audits' file sources, the demo's Parquet writes. Work that changes the database itself
(``ATTACH``, tables in ``main``, settings that are global such as ``memory_limit``) must keep a database of its own.
"""

from __future__ import annotations

import os
import threading

import duckdb

__all__ = ["scratch"]

_SCRATCH: tuple[int, duckdb.DuckDBPyConnection] | None = None  # (pid, database)
_LOCK = threading.Lock()


def scratch() -> duckdb.DuckDBPyConnection:
    """A fresh connection to the process's in-memory scratch database; close it when done (``with scratch() as
    con:``). A forked child starts a database of its own: a database's threads do not survive a fork."""
    global _SCRATCH
    with _LOCK:
        if _SCRATCH is None or _SCRATCH[0] != os.getpid():
            _SCRATCH = (os.getpid(), duckdb.connect())
        return _SCRATCH[1].cursor()
