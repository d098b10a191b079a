"""A throwaway PostgreSQL server for the scale benchmark (``bench_scale.py --postgres``), started as the tests' fixture
does it (tests/pg.py): initdb and pg_ctl on a free port on 127.0.0.1, trust authentication for user ``steward``, in a
folder of its own that is removed afterwards. Also reads the server's memory: the proportional set size (PSS) of
the postmaster and its backends, so shared buffers count once and not once per process."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["LocalServer", "local_server", "create_database", "server_pss_mib"]

# A developer's server: durability off (a benchmark database is thrown away), WAL large enough that a bulk load does
# not checkpoint every few seconds; memory settings are PostgreSQL's defaults.
SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_wal_size=8GB", "max_connections=100")


@dataclass(frozen=True)
class LocalServer:
    host: str
    port: int
    data: Path
    user: str = "steward"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_server(parent: Path | None = None) -> Iterator[LocalServer]:
    """Start a server (Debian keeps its binaries under /usr/lib/postgresql/<version>/bin), yield it, stop it."""
    search = os.pathsep.join([os.environ.get("PATH", ""),
                              *sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin")))])
    pg_ctl = shutil.which("pg_ctl", path=search)
    if not pg_ctl:
        raise SystemExit("--postgres needs the PostgreSQL server binaries (initdb, pg_ctl); or pass --warehouse URL")
    bin_dir = Path(pg_ctl).parent
    root = Path(tempfile.mkdtemp(prefix="steward-bench-pg-", dir=parent))
    data, port = root / "data", _free_port()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
        os.chmod(root, 0o755)

    def run(cmd: str, *args: str) -> None:
        subprocess.run([*as_user, str(bin_dir / cmd), *args], check=True, capture_output=True, timeout=300)

    run("initdb", "-D", str(data), "-U", "steward", "--auth=trust", "-E", "UTF8")
    options = " ".join(f"-c {s}" for s in SETTINGS)
    run("pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "-t", "120", "-o",
        f"-h 127.0.0.1 -p {port} -k {root} {options}", "start")
    try:
        yield LocalServer("127.0.0.1", port, data)
    finally:
        try:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "-t", "120", "stop")
        except subprocess.CalledProcessError:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """A new empty database on the server of ``url`` (its user needs CREATEDB); returns its URL."""
    import psycopg

    if not re.match(r"^[a-z_][a-z0-9_]*$", name):
        raise ValueError(f"database name {name!r} is not a plain word")
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def server_pss_mib(postmaster: int | None) -> float | None:
    """The postmaster's and its children's PSS in MiB (``/proc/<pid>/smaps_rollup``), or None when unreadable."""
    if postmaster is None:
        return None
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    pids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    total = 0
    for pid in pids:
        try:
            found = re.search(r"^Pss:\s+(\d+) kB", Path(f"/proc/{pid}/smaps_rollup").read_text(), flags=re.M)
        except OSError:
            continue
        total += int(found.group(1)) if found else 0
    return round(total / 1024, 1)
