"""``steward`` starts fast because it imports what a command uses when it runs (issue #15: under 0.5 s).

Tested as behaviour, not time: a fresh interpreter imports the CLI and asks every ``steward audit ...`` command for its
``--help``, then lists which heavy libraries got imported. None may be: the audit's DuckDB, pandas and pyarrow load
when it counts, the policy's pydantic models when it judges, Prefect and dbt only for runs, Jinja only for a page.
(pydantic itself is not in the list: typer >= 0.2x coerces every parameter, --help included, with pydantic.)
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
from steward.flows.cli.audit import audit_app

def heavy():
    return sorted(h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in sys.modules))

def run(args):
    try:
        cli.app(args, standalone_mode=False)
    except SystemExit:
        pass

after = {"import steward.flows.cli": heavy()}
run(["--help"])
after["steward --help"] = heavy()
commands = [c.name for c in audit_app.registered_commands if not c.hidden]
for name in commands:
    run(["audit", name, "--help"])
    after[f"steward audit {name} --help"] = heavy()
for group in audit_app.registered_groups:
    run(["audit", group.name, "--help"])
    after[f"steward audit {group.name} --help"] = heavy()
print(json.dumps({"commands": commands, "heavy": after}))
"""


def test_cli_and_every_audit_help_import_no_heavy_library():
    res = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"bias", "launch"} <= set(doc["commands"])  # frequency and quality join when they are registered
    assert doc["heavy"] == {k: [] for k in doc["heavy"]}
