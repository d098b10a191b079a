"""``steward`` starts fast because it imports what a command uses when it runs (issue #15: under 0.5 s).

Tested as behaviour, not time: a fresh interpreter imports the CLI and asks every command (every ``steward audit ...``
among them, walked from the app) for its ``--help``, then lists which heavy libraries got imported. None may be: the
audit's DuckDB, pandas and pyarrow load when it counts, the policy's pydantic models when it judges, Prefect and dbt
only for runs, Jinja only for a page. (pydantic itself is not in the list: typer 0.29 coerces every parameter,
--help included, through pydantic.)
"""

from __future__ import annotations

import json
import os
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


# ``steward audit bias FILE --json`` as the console script runs it (``main``), in a fresh interpreter: the modules it
# imported are listed on stderr after the JSON document.
AUDIT_PROBE = """
import json, sys
sys.argv = ["steward", *ARGS]
import steward.flows.cli as cli
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.flush()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""

# what a file audit never needs: the other commands, the whole policy (validated by the tests, read in part by
# contracts/bias_policy.py), rich when nothing is printed but the JSON document, the run's libraries, and typer's
# parse (its pydantic TypeAdapter per option: flows/cli/audit/_argv.py reads a plain command line itself)
NOT_FOR_A_FILE_AUDIT = ("steward.flows.cli.run", "steward.flows.cli.report", "steward.flows.cli.alerts",
                        "steward.flows.cli.campaigns", "steward.flows.cli.warehouse", "steward.flows.cli.audit.launch",
                        "steward.flows.cli.audit.log", "steward.flows.cli.audit.frequency",
                        "steward.flows.cli.audit.quality", "steward.contracts.policy", "steward.contracts.filters",
                        "steward.contracts.obligations", "rich", "prefect", "dbt", "pandas", "jinja2", "sqlglot",
                        "typer._adapters")


WIDTH = {"COLUMNS": "120", "TERMINAL_WIDTH": "120"}  # help and usage errors are drawn to the terminal's width


def _audit(tmp_path, *args: str) -> tuple[int, str, list[str], str]:
    """Exit code, stdout, imported modules and stderr of ``steward audit bias`` on a small CSV (B fails)."""
    path = tmp_path / "decisions.csv"
    path.write_text("segment,decision\n" + "".join(f"A,{'approved' if i < 60 else 'declined'}\n" for i in range(100))
                    + "".join(f"B,{'approved' if i < 20 else 'declined'}\n" for i in range(100)), encoding="utf-8")
    argv = ["audit", "bias", str(path), "--group", "segment", "--decision", "decision", "--positive", "approved",
            *args]
    res = subprocess.run([sys.executable, "-c", f"ARGS = {argv!r}\n{AUDIT_PROBE}"], capture_output=True, text=True,
                         timeout=300, env={**os.environ, **WIDTH})
    *err, last = res.stderr.rstrip("\n").split("\n")
    probe = json.loads(last)
    return probe["code"], res.stdout, probe["modules"], "\n".join(err)


def test_a_file_audit_imports_only_its_own_command_and_the_policy_parts_it_reads(tmp_path):
    code, out, modules, err = _audit(tmp_path, "--json")
    assert code == 1, err[-2000:]  # B is selected 20 % against A's 60 %: fails four-fifths
    doc = json.loads(out)
    assert [g["verdict"] for g in doc["dimensions"][0]["groups"]] == ["reference", "fails_four_fifths"]
    (finding,) = doc["findings"]
    assert (finding["owner"], finding["action"], finding["severity"]) == ("ml-governance", "alert", "critical")
    assert "steward.flows.cli.audit.bias" in modules and "steward.contracts.bias_policy" in modules
    assert [m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_FOR_A_FILE_AUDIT)] == []


def test_the_lean_dispatch_prints_what_the_whole_app_prints(tmp_path):
    """The same table, usage errors and --help through ``main`` (one command built) as through the whole app."""
    from typer.testing import CliRunner

    from steward.flows.cli import app

    for args in ([], ["--no-proxies"], ["--fail-on", "sometimes"], ["--cutoff", "x"], ["--help"]):
        code, out, _, err = _audit(tmp_path, *args)
        whole = CliRunner().invoke(app, ["audit", "bias", str(tmp_path / "decisions.csv"), "--group", "segment",
                                         "--decision", "decision", "--positive", "approved", *args], env=WIDTH,
                                   prog_name="steward")
        assert (code, out, err.strip()) == (whole.exit_code, whole.stdout, whole.stderr.strip()), args
