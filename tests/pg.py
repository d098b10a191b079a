"""A real PostgreSQL server for tests: initdb + pg_ctl on a free loopback port, in a temporary folder.

One server per pytest worker process (session scope, via the ``pg_server`` fixture in conftest.py); each test that
needs a clean warehouse takes a database of its own with :meth:`PgServer.fresh_database`, which costs milliseconds,
where a server costs seconds. Skips, saying why, on a machine without the server binaries (CI installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

__all__ = ["PgServer", "start_pg_server", "copy_schema_to_postgres"]


@dataclass(frozen=True)
class PgServer:
    """A running server: ``dsn`` is its maintenance database (``postgres``), user ``steward``, trust auth."""

    psycopg: Any
    host: str
    port: int
    user: str = "steward"
    bin_dir: Path | None = None  # the server's own programs' folder (pg_dump, pg_restore of its version)

    @property
    def dsn(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def fresh_database(self, prefix: str = "t") -> str:
        """Create an empty database and return its URL (``postgresql://steward@127.0.0.1:PORT/NAME``)."""
        return self.clone_database(None, prefix)

    def clone_database(self, template: str | None, prefix: str = "t") -> str:
        """A new database made from ``template`` (a database name on this server; None: empty) and its URL.

        ``CREATE DATABASE ... TEMPLATE`` copies the files of a built warehouse in well under a second, where building
        it again costs a governance run: a test that needs a governed PostgreSQL warehouse clones the session's
        (tests/pg_scenarios.py ``pg_demo_run_copy``). Nobody may be connected to the template meanwhile."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.psycopg.connect(self.dsn, autocommit=True) as pg:
            pg.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
        return self.url(name)

    def dump_database(self, database: str, path: Path) -> None:
        """``pg_dump`` one database to ``path`` (custom format): how a governed warehouse built by one test process
        reaches the servers of the others (each xdist worker has a server of its own)."""
        subprocess.run([self._program("pg_dump"), "--format=custom", "--no-owner", f"--file={path}",
                        f"--dbname={self.url(database)}"], check=True, capture_output=True, timeout=600)

    def restore_database(self, path: Path, database: str) -> str:
        """A new database ``database`` holding what :meth:`dump_database` wrote to ``path``; returns its URL."""
        with self.psycopg.connect(self.dsn, autocommit=True) as pg:
            pg.execute(f'create database "{database}"')
        subprocess.run([self._program("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={self.url(database)}",
                        str(path)], check=True, capture_output=True, timeout=600)
        return self.url(database)

    def _program(self, name: str) -> str:
        return str(self.bin_dir / name) if self.bin_dir else _pg_bin(name) or name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(command: str) -> str | None:
    """A PostgreSQL program: Debian's package keeps the server's binaries off PATH, under
    /usr/lib/postgresql/<version>/bin."""
    versions = sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin")))
    return shutil.which(command, path=os.pathsep.join([os.environ.get("PATH", ""), *versions]))


def start_pg_server() -> Iterator[PgServer]:
    """Generator for a fixture: start a server, yield it, stop it and delete its folder."""
    psycopg = pytest.importorskip("psycopg")
    if not _pg_bin("pg_ctl") or not _pg_bin("initdb"):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    bin_dir = Path(_pg_bin("pg_ctl")).parent
    # not under pytest's basetemp: its top folder is private to us (0700), and the server user must reach its data
    root = Path(tempfile.mkdtemp(prefix="steward-pg-"))
    data, port = root / "data", _free_port()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
        os.chmod(root, 0o755)
    run = lambda cmd, *args: subprocess.run([*as_user, str(bin_dir / cmd), *args], check=True,  # noqa: E731
                                            capture_output=True, timeout=120)
    run("initdb", "-D", str(data), "-U", "steward", "--auth=trust", "-E", "UTF8")
    # no JIT: the tests' tables are never analysed, so the planner's guesses pass jit_above_cost and LLVM compiles
    # queries that then read a few hundred rows (two PostgreSQL modules: 65-67 busy core-seconds with it, 59-61
    # without). Results are the same either way; fsync is off as the data is thrown away.
    run("pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "-t", "120", "-o",
        f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c jit=off -c max_connections=200", "start")
    try:
        yield PgServer(psycopg, "127.0.0.1", port, bin_dir=Path(os.path.realpath(bin_dir / "pg_ctl")).parent)
    finally:  # a slow machine may not finish a fast shutdown in pg_ctl's wait; then stop it outright
        try:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "-t", "120", "stop")
        except subprocess.CalledProcessError:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


_PG_TYPES = {"BOOLEAN": "boolean", "BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double precision",
             "VARCHAR": "text", "TIMESTAMP WITH TIME ZONE": "timestamptz", "TIMESTAMP": "timestamp", "DATE": "date",
             "JSON": "jsonb"}


def copy_schema_to_postgres(psycopg: Any, dsn: str, duck: Path, schema: str) -> None:
    """Copy every table of one schema of a DuckDB file into a PostgreSQL database (a test's way to put the same
    rows on both warehouses).

    Each table goes over as CSV, written by DuckDB and read by PostgreSQL's ``COPY``, in chunks: a demo's 77k raw
    rows took seconds one Python row at a time. Every value that is not NULL is quoted, so an empty string stays an
    empty string and only NULL is left unquoted and empty, which is what PostgreSQL's CSV reads as NULL."""
    import duckdb

    src = duckdb.connect(str(duck), read_only=True)
    src.execute("set TimeZone = 'UTC'")
    folder = Path(tempfile.mkdtemp(prefix="steward-pg-copy-"))
    try:
        with psycopg.connect(dsn, autocommit=True) as pg:
            pg.execute(f'create schema if not exists "{schema}"')
            for (table,) in src.execute("select table_name from information_schema.tables where table_schema = ?",
                                        [schema]).fetchall():
                types = src.execute(f'describe "{schema}"."{table}"').fetchall()
                columns = ", ".join(f'"{c}" {_PG_TYPES[t]}' for c, t, *_ in types)
                pg.execute(f'create table "{schema}"."{table}" ({columns})')
                csv = folder / "table.csv"
                src.execute(f"""copy (select * from "{schema}"."{table}") to '{csv}' """
                            "(format csv, header false, force_quote *)")
                with pg.cursor().copy(f'copy "{schema}"."{table}" from stdin (format csv)') as copy, \
                        open(csv, "rb") as rows:
                    while chunk := rows.read(1 << 20):
                        copy.write(chunk)
    finally:
        src.close()
        shutil.rmtree(folder, ignore_errors=True)


def landed_then_built(psycopg: Any, dsn: str, duck: Path, target: Any, work: Path, select: list[str],
                      as_of: str, full_refresh: bool = False, copy: bool = True, tests: bool = True) -> None:
    """The DuckDB landing's raw and ledger schemas put on PostgreSQL in place of the last ones, then a ``dbt build``
    of ``select`` there with the packaged policy's vars: how the daily-run tests replay, on PostgreSQL, the landings
    and deltas their DuckDB twins make. Fails on any data test failure or skipped node. ``copy=False`` builds on the
    raw and ledger the last call copied: a full refresh right after the daily build of the same landing, where
    copying the same rows again cost a DuckDB open and a ``COPY`` per table. ``tests=False`` builds the models only
    (test_incremental_people's ``MODELS_ONLY``: the build of the empty warehouse)."""
    from steward.contracts.policy import load_policy
    from steward.integrations.transform import dbt_build

    if copy:
        with psycopg.connect(dsn, autocommit=True) as pg:
            pg.execute("drop schema if exists raw cascade; drop schema if exists ledger cascade")
        for schema in ("raw", "ledger"):
            copy_schema_to_postgres(psycopg, dsn, duck, schema)
    dbt_vars = {**load_policy().dbt_vars(), "as_of": as_of}
    outcome = dbt_build.build(target, work, dbt_vars, select=select, full_refresh=full_refresh,
                              exclude=None if tests else ["test_type:data", "test_type:unit"])
    assert not outcome.test_failures and not outcome.skipped, outcome
