"""The CLI is one package (flows/cli/): one console and one error handler, the audits under one ``audit`` group with
the old spellings as hidden aliases, and a start-up that imports no heavy library before a command needs it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steward.contracts.finding import Severity
from steward.flows.cli import app
from steward.flows.cli.run import Level
from steward.flows.config import IntegrationConfig, StewardConfig, write_config
from steward.integrations.warehouse import ledger
from steward.integrations.warehouse import Warehouse

FLOWS = Path(__file__).resolve().parents[2] / "flows"
CONSOLE = FLOWS / "cli" / "_console.py"
# not pydantic: typer itself imports it to build a command's options
HEAVY = ("prefect", "dbt", "pandas", "duckdb", "numpy", "pandera", "jinja2", "sqlglot", "httpx")


def _modules() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(FLOWS.rglob("*.py"))}


def _name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def test_one_console_and_one_error_handler():
    """``Console(`` is built only in flows/cli/_console.py, and within the CLI only it catches ``StewardError``; no
    module outside flows/cli/ imports typer or rich (flows/report.py and steps.py catch StewardError for their own
    reasons, not to print it)."""
    consoles, handlers, cli_imports = set(), set(), set()
    for path, tree in _modules().items():
        inside = path.is_relative_to(FLOWS / "cli")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) == "Console":
                consoles.add(path)
            if isinstance(node, ast.ExceptHandler) and node.type is not None and inside:
                caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                if any(_name(t) == "StewardError" for t in caught):
                    handlers.add(path)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not inside:
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n.split(".")[0] in ("typer", "rich") for n in names):
                    cli_imports.add(path)
    assert consoles == {CONSOLE}
    assert handlers == {CONSOLE}
    assert cli_imports == set()


def test_fail_on_levels_are_the_severities():
    assert [level.value for level in Level] == [s.value for s in Severity]


@pytest.mark.parametrize("args", [
    ["run"], ["campaigns", "list"], ["campaigns", "reconcile"],
    ["campaigns", "resume", "hubspot", "c1", "--reason", "x"],
    ["contracts", "validate"], ["alerts", "list"], ["alerts", "digest"], ["alerts", "retry"], ["health"],
    ["report"], ["audit", "log", "verify"], ["audit-log", "verify"], ["audit", "launch", "launch.yaml"],
    ["audit-launch", "launch.yaml"],
])
def test_every_command_reports_a_missing_config_in_one_line_and_exits_2(tmp_path, args):
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(app, [*args, "-c", str(missing)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"error: {missing}: config file not found (create one like "
                                          f"docs/configuration.md shows, or run `steward demo`)"]


@pytest.mark.parametrize("args, line", [
    (["report", "--format", "pdf"], "error: --format must be one of html, md, json, not 'pdf'"),
    (["demo", "--source", "ftp"], "error: --source must be 'api' or 'files', not 'ftp'"),
])
def test_bad_options_are_one_error_line(args, line):
    result = CliRunner().invoke(app, args)
    assert (result.exit_code, result.stderr.splitlines()) == (2, [line])


def test_audits_are_one_group_and_the_old_spellings_are_hidden():
    top = CliRunner().invoke(app, ["--help"])
    assert top.exit_code == 0
    assert " audit " in top.output and "audit-launch" not in top.output and "audit-log" not in top.output
    audits = CliRunner().invoke(app, ["audit", "--help"])
    for name in ("bias", "launch", "log"):
        assert f" {name} " in audits.output
    old, new = (CliRunner().invoke(app, [*cmd, "--help"]).output for cmd in (["audit-launch"], ["audit", "launch"]))
    assert old.replace("audit-launch", "audit launch") == new


def _audit_log(tmp_path: Path) -> tuple[Path, Warehouse]:
    cfg = StewardConfig(warehouse=tmp_path / "w.duckdb",
                        integrations=[IntegrationConfig(name="hubspot", platform="hubspot", path=tmp_path)])
    config = write_config(cfg, tmp_path / "steward.yaml")
    wh = Warehouse(tmp_path / "w.duckdb")
    for i in range(3):
        ledger.append_audit(wh, run_id="r1", fingerprint=f"f{i}", check_id="c.x", action="pause",
                            target=f"hubspot:{i}", decided_by="policy:c.x", reason="because", outcome="paused")
    return config, wh


def test_audit_log_verify_and_its_old_spelling_answer_alike(tmp_path):
    config, wh = _audit_log(tmp_path)
    head = ledger.audit_head(wh).text
    new, old = (CliRunner().invoke(app, [*cmd, "verify", "-c", str(config), "--expect-head", head])
                for cmd in (["audit", "log"], ["audit-log"]))
    assert (new.exit_code, old.exit_code) == (0, 0) and "audit log intact" in new.stderr
    assert new.stderr == old.stderr and new.stdout == old.stdout == ""
    with wh.connect() as con:
        con.execute("update ledger.audit_log set reason = 'edited' where seq = 2")
    new, old = (CliRunner().invoke(app, [*cmd, "verify", "-c", str(config)])
                for cmd in (["audit", "log"], ["audit-log"]))
    assert (new.exit_code, old.exit_code) == (1, 1)
    assert new.stderr == old.stderr and new.stderr.startswith("audit log tampered: row 2")


def test_audit_launch_and_its_old_spelling_refuse_a_bad_spec_alike(tmp_path):
    config, _ = _audit_log(tmp_path)
    spec = tmp_path / "launch.yaml"
    spec.write_text("name: [unclosed\n", encoding="utf-8")
    new, old = (CliRunner().invoke(app, [*cmd, str(spec), "-c", str(config)]) for cmd in (["audit", "launch"],
                                                                                             ["audit-launch"]))
    assert (new.exit_code, old.exit_code) == (2, 2)
    assert new.stderr == old.stderr and len(new.stderr.splitlines()) == 1
    assert new.stderr.startswith(f"error: {spec}")


@pytest.mark.parametrize("argv", [["--help"], ["audit", "bias", "--help"], ["audit", "launch", "--help"],
                                  ["run", "--help"], ["health", "--help"], ["deploy", "--help"]])
def test_help_imports_no_heavy_library(argv):
    """Start-up: a command's heavy imports happen inside it, so ``--help`` (and the start of every command) loads
    typer and rich only."""
    code = ("import sys\nfrom steward.flows.cli import app\n"
            f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print('loaded:', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "loaded: []"
