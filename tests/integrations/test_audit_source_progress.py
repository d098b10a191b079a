"""A file audit's stdout holds its table or its ONE JSON document: DuckDB's progress bar, which it draws on stdout
once a query runs for 2 s (a big file on a busy machine: the 7.2M-row benchmark hit it), is off on every source
connection, files and DuckDB tables alike. Checked in a fresh interpreter whose stdout is a pipe, as a CI job's is
(DuckDB turns the bar on there; under pytest it may already be off)."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb

PROBE = """
import duckdb, json, sys
from steward.integrations.warehouse.audit_source import open_source
default = duckdb.connect().execute("select current_setting('enable_progress_bar')").fetchone()[0]
found = []
for path, table in ((sys.argv[1], None), (sys.argv[2], "main.t")):
    with open_source(path, table) as src:
        found.append(src.run("select current_setting('enable_progress_bar')")[0][0])
print(json.dumps({"default": default, "sources": found}))
"""


def test_no_progress_bar_on_a_file_or_a_duckdb_table(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("g,s\na,1\n", encoding="utf-8")
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table main.t as select 'a' as g, 1 as s")
    res = subprocess.run([sys.executable, "-c", PROBE, str(csv), str(db)], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(res.stdout)
    assert doc["sources"] == [False, False]
    assert doc["default"] is True  # what a plain connection does here: the setting above is what turns it off
