"""The ``steward`` command: runs flows and shows what they found. It holds no checks of its own."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .runtime import apply_defaults

apply_defaults()

from steward.contracts.finding import Severity  # noqa: E402
from steward.contracts.policy import load_policy  # noqa: E402
from steward.integrations.errors import StewardError  # noqa: E402

from . import progress  # noqa: E402
from .config import load_config  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Steward keeps autonomous marketing systems honest: reconcile, audit, alert, pause.")
contracts_app = typer.Typer(help="Data contracts.", no_args_is_help=True)
audit_log_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(audit_log_app, name="audit-log")
err = Console(stderr=True, highlight=False, soft_wrap=True)  # an error is one line, however long
_COLORS = {"critical": "bold red", "warn": "yellow", "info": "cyan"}

FailOn = Optional[Severity]


@app.command()
def demo(clean: bool = typer.Option(False, help="Switch every injected problem off."),
         scale: float = typer.Option(1.0, min=0.01, help="Multiply the workspace's size (1 = 3,000 people)."),
         seed: int = typer.Option(7, help="Random seed; the same seed gives the same workspace."),
         workdir: Path = typer.Option(Path("steward-demo"), help="Working folder for exports, warehouse, reports."),
         as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
         fail_on: FailOn = typer.Option(None, help="Exit 1 when a finding is at least this severe."),
         verbose: bool = typer.Option(False, help="Show Prefect's and dbt's own logs.")) -> None:
    """Generate the demo workspace and run the whole governance loop on it, no accounts needed."""
    from .demo import prepare_demo

    def go() -> object:
        with err.status("Generating the demo workspace…"):
            config, ws = prepare_demo(workdir, scale=scale, seed=seed, clean=clean)
        injected = ", ".join(ws.injections.enabled()) or "none (clean)"
        err.print(f"[bold]Demo workspace[/] {ws.root}  ({sum(ws.counts.values()):,} records, injected: {injected})")
        return _run(config, "demo", verbose)

    _main(go, as_json, fail_on)


@app.command()
def run(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
        fail_on: FailOn = typer.Option(None, help="Exit 1 when a finding is at least this severe."),
        verbose: bool = typer.Option(False, help="Show Prefect's and dbt's own logs.")) -> None:
    """Run one governance run against a config file."""
    _main(lambda: _run(config, "on_demand", verbose), as_json, fail_on)


@contracts_app.command("list")
def contracts_list() -> None:
    """Every source contract: entity, owner, severity, version, columns."""
    from steward.contracts.registry import SOURCE_CONTRACTS

    table = Table("entity", "owner", "severity", "version", "columns")
    for c in SOURCE_CONTRACTS.values():
        table.add_row(c.stream, c.owner, c.severity, c.version, str(len(c.columns())))
    Console().print(table)


@audit_log_app.command("verify")
def audit_log_verify(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c")) -> None:
    """Check the audit log's hash chain; exit 1 at the first edited or missing row."""
    from steward.integrations.ledger import verify_audit_log
    from steward.integrations.warehouse import Warehouse

    def go() -> None:
        broken = verify_audit_log(Warehouse(load_config(config).warehouse))
        if broken is not None:
            err.print(f"[bold red]audit log tampered:[/] row {broken} does not match its hash chain")
            raise typer.Exit(1)
        err.print("[green]audit log intact[/]")

    try:
        go()
    except StewardError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


def _run(config: Path, kind: str, verbose: bool):
    import os

    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
        os.environ["STEWARD_DBT_LOG_LEVEL"] = "info"
    cfg = load_config(config)  # fail fast, before Prefect starts, on a bad config or policy
    load_policy(cfg.policy)
    from steward.integrations.warehouse import Warehouse

    Warehouse(cfg.warehouse)
    from .governance import RunParams, governance_run
    from .runtime import flow_settings

    progress.set_reporter(lambda stage, detail: err.print(f"  [dim]{stage:>9}[/]  {detail}"))
    try:
        with flow_settings(), err.status("Running the governance loop…"):
            return governance_run(RunParams(config=str(config), kind=kind))
    finally:
        progress.set_reporter(None)


def _main(go, as_json: bool, fail_on: Severity | None) -> None:
    try:
        result = go()
    except StewardError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), default=str) + "\n")
    else:
        _summary(result)
    if fail_on and any(Severity(f.severity).at_least(fail_on) for f in result.findings):
        raise typer.Exit(1)


def _summary(result) -> None:
    table = Table("severity", "check", "subject", "observed", "threshold", "action", title="Findings")
    for f in sorted(result.findings, key=lambda f: (-Severity(f.severity).rank, f.check_id, f.subject)):
        table.add_row(f"[{_COLORS[f.severity]}]{f.severity}[/]", f.check_id, f.subject,
                      "" if f.observed is None else f"{f.observed:.4g}",
                      "" if f.threshold is None else f"{f.threshold:.4g}", f.action)
    out = Console() if sys.stdout.isatty() else Console(width=160)
    if result.findings:
        out.print(table)
    c = result.counts
    out.print(f"[bold]{c['critical']} critical, {c['warn']} warn, {c['info']} info[/] in {result.seconds:.1f} s")
    for a in result.actions:
        out.print(f"  {a['action']} {a['target']}: {a['outcome']}")
    out.print(f"Alerts: {result.alerts.get('summary', '')}")
    out.print(f"Warehouse: {result.warehouse}")
    out.print(f"Report: [bold]{result.report}[/]")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
