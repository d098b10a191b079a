"""``steward`` starts fast because it imports what a command uses when it runs (issue #15: under 0.5 s).

Tested as behaviour, not time: a fresh interpreter imports the CLI and asks every command (every ``steward audit ...``
among them, walked from the app) for its ``--help``, then lists which heavy libraries got imported. None may be: the
audit's DuckDB, pandas and pyarrow load when it counts, the policy's pydantic models when it judges, Prefect and dbt
only for runs, Jinja only for a page. (pydantic itself is not in the list: typer 0.29 coerces every parameter,
--help included, through pydantic.)
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("duckdb", "pandas", "pyarrow", "numpy", "prefect", "dbt", "jinja2", "sqlglot", "yaml", "pandera", "httpx",
         "slack_sdk", "steward.contracts.policy", "steward.contracts.finding", "steward.integrations",
         "steward.flows.bias_audit", "steward.flows.audit_html", "steward.flows.report_charts")

PROBE = """
import json, sys
import steward.flows.cli as cli

def heavy():
    return sorted(h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in sys.modules))

def walk(app, prefix):
    for c in app.registered_commands:
        yield prefix + [c.name or c.callback.__name__]
    for g in app.registered_groups:
        yield prefix + [g.name]
        yield from walk(g.typer_instance, prefix + [g.name])

after = {"import steward.flows.cli": heavy()}
commands = [[]] + list(walk(cli.app, []))
for args in commands:
    try:
        cli.app(args + ["--help"], standalone_mode=False)
    except SystemExit:
        pass
    after[" ".join(["steward", *args, "--help"])] = heavy()
print(json.dumps({"commands": [" ".join(a) for a in commands], "heavy": after}))
"""


def test_cli_and_every_command_help_import_no_heavy_library():
    res = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    # every command and group, walked from the app: frequency and quality join when they are registered
    assert {"audit bias", "audit launch", "audit log verify", "run", "demo"} <= set(doc["commands"])
    assert doc["heavy"] == {k: [] for k in doc["heavy"]}
