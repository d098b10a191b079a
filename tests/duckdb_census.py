"""Which tests start DuckDB databases, and from where: a census for finding the suite's open-and-close costs.

Starting a DuckDB database costs ~16 ms of CPU whatever it holds (its built-in extensions register their
functions), opening a demo-sized warehouse file ~30 ms with its close; a cursor of a database already open costs
~0.4 ms. A suite run counted ~7,200 starts in its workers (docs/testing.md), so where they come from is worth
knowing before adding a test that reads a warehouse in many short connections (``Warehouse.pinned``).

    STEWARD_TEST_DUCKDB_CENSUS=/tmp/duckdb.jsonl .venv/bin/python -m pytest
    .venv/bin/python tests/duckdb_census.py /tmp/duckdb.jsonl

With the variable set, tests/conftest.py loads this module as a plugin in each worker: every ``duckdb.connect`` is
counted by test module, kind (a file, or in memory) and its three nearest callers outside the connection code, with
the CPU the start took (not its close). Each worker appends its lines at the end of the session. Subprocesses are
not counted. Without the variable nothing is patched.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
import traceback

ENV = "STEWARD_TEST_DUCKDB_CENSUS"
_SKIP = ("contextlib", os.path.join("warehouse", "connection.py"), "duckdb_census.py")


class _Census:
    def __init__(self, path: str) -> None:
        import duckdb

        self.path, self.duckdb, self.real = path, duckdb, duckdb.connect
        self.count: collections.Counter = collections.Counter()
        self.cpu: collections.Counter = collections.Counter()
        self.module = "?"
        self.lock = threading.Lock()
        duckdb.connect = self.connect

    def connect(self, database=":memory:", *args, **kwargs):
        start = time.thread_time()
        con = self.real(database, *args, **kwargs)
        spent = time.thread_time() - start
        frames = [f for f in traceback.extract_stack()[:-1] if not any(s in f.filename for s in _SKIP)]
        where = " < ".join(f"{os.path.basename(f.filename)}:{f.lineno}:{f.name}" for f in reversed(frames[-3:]))
        kind = "memory" if str(database) in (":memory:", "") else "file"
        with self.lock:
            self.count[(self.module, kind, where)] += 1
            self.cpu[(self.module, kind, where)] += spent
        return con

    def pytest_runtest_setup(self, item) -> None:
        self.module = item.nodeid.split("::")[0]

    def pytest_sessionfinish(self, session) -> None:
        self.duckdb.connect = self.real
        with open(self.path, "a", encoding="utf-8") as out:
            for (module, kind, where), n in self.count.items():
                out.write(json.dumps({"module": module, "kind": kind, "where": where, "n": n,
                                      "cpu": round(self.cpu[(module, kind, where)], 4)}) + "\n")


def register(config) -> None:
    """Count in this process when ``STEWARD_TEST_DUCKDB_CENSUS`` names a file (xdist's controller runs no test, so
    it writes nothing)."""
    path = os.environ.get(ENV)
    if path:
        config.pluginmanager.register(_Census(path), "duckdb-census")


def _summary(path: str) -> None:
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    by_site: collections.Counter = collections.Counter()
    by_module: collections.Counter = collections.Counter()
    counts: collections.Counter = collections.Counter()
    for r in rows:
        first = r["where"].split(" < ")[0]
        by_site[(r["kind"], first)] += r["cpu"]
        by_module[r["module"]] += r["cpu"]
        counts[(r["kind"], first)] += r["n"]
        counts[r["kind"]] += r["n"]
    total = sum(r["cpu"] for r in rows)
    print(f"{counts['file']:,} file opens, {counts['memory']:,} in-memory starts, {total:.1f} CPU s starting them")
    print("by caller:")
    for (kind, site), cpu in by_site.most_common(25):
        print(f"  {cpu:6.1f} s {counts[(kind, site)]:6d}  {kind:6s} {site}")
    print("by test module:")
    for module, cpu in by_module.most_common(15):
        print(f"  {cpu:6.1f} s  {module}")


if __name__ == "__main__":
    _summary(sys.argv[1])
