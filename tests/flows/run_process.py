"""Test helper: ``steward run`` as a live subprocess, watched line by line, against a workspace whose ingest takes a
while (HubSpot's API on the local emulator, 100 rows a batch), for the signal and writer-lock tests."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import yaml

__all__ = ["SLOW_BATCH_ROWS", "StewardProcess", "write_workspace", "raw_vs_batches", "runs", "children"]

SLOW_BATCH_ROWS = 100  # HubSpot's ~30,000 email events at scale 0.2: a batch per API page, some 30, each committed
STEWARD = [sys.executable, "-m", "steward.flows.cli"]


def write_workspace(folder: Path, integrations: list[dict], **settings) -> Path:
    """A ``steward.yaml`` in ``folder`` with its own warehouse (or ``settings['warehouse']``)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"warehouse": "steward.duckdb", "work_dir": "work", "report_dir": "reports",
              "integrations": integrations, **settings}
    path = folder / "steward.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class StewardProcess:
    """One ``steward`` command started in the background; stderr is read as it comes so a test can wait for a line."""

    def __init__(self, *args: str, cwd: Path, env: dict | None = None) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "SLACK_"))}
        environment.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")  # a loaded machine
        environment.update(env or {})
        self.proc = subprocess.Popen([*STEWARD, *args], cwd=cwd, env=environment, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stdout = ""

    def _read(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 600) -> str:
        """The first stderr line matching ``pattern``; fails if the process ends or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"steward ended before printing /{pattern}/:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no /{pattern}/ within {timeout} s:\n" + "\n".join(self.lines))

    def finish(self, timeout: float) -> int:
        """Wait for the exit; the rest of stderr lands in ``lines`` and stdout in ``stdout``."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        self.stdout = self.proc.stdout.read() if self.proc.stdout else ""  # type: ignore[union-attr]
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid`` (pid -> command line), read from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def raw_vs_batches(warehouse: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Rows in each raw table, and the rows ``ledger.batches`` says were loaded into it: equal when no batch
    landed half."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()]
        raw = {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in tables}
        loaded = dict(con.execute("select platform || '__' || entity, sum(rows_loaded)::bigint from ledger.batches "
                                  "group by all").fetchall())
    return {t: n for t, n in raw.items() if n}, {t: n for t, n in loaded.items() if n}


def runs(warehouse: Path) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.execute("select run_id, status, pid, host, summary from ledger.runs order by started_at").df()
    return frame.to_dict("records")
