"""``steward demo``, ``steward run`` and ``steward approve``: a governance run, and the human answer it may wait for.

These only call flows and print what they found; the judgement is in contracts/, the work in the flows.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ...contracts.errors import StewardError

from ._console import SEVERITY_STYLE, err, fail, one_line_errors, print_action_summary, reporting, say_stage, stdout

__all__ = ["demo", "run", "approve"]


class Level(str, Enum):
    """Severity's values as a plain enum for ``--fail-on``: importing contracts.finding (pydantic) would cost every
    ``steward`` command, ``--help`` included, a third of its start-up. tests/flows/test_cli_package.py keeps the two
    equal."""

    info = "info"
    warn = "warn"
    critical = "critical"


FailOn = Optional[Level]


def demo(clean: bool = typer.Option(False, help="Switch every injected problem off."),
         scale: float = typer.Option(1.0, min=0.01, help="Multiply the workspace's size (1 = 3,000 people)."),
         seed: int = typer.Option(7, help="Random seed; the same seed gives the same workspace."),
         workdir: Path = typer.Option(Path("steward-demo"), help="Working folder for exports, warehouse, reports."),
         as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
         fail_on: FailOn = typer.Option(None, help="Exit 1 when a finding is at least this severe."),
         dry_run: bool = typer.Option(False, help="Decide and record actions, but pause nothing."),
         source: str = typer.Option("api", help="api: pull Salesforce, HubSpot and Google Ads through their APIs "
                                                "(local emulators); files: read the export files directly."),
         verbose: bool = typer.Option(False, help="Show Prefect's and dbt's own logs."),
         warehouse: str = typer.Option(None, help="Run into this PostgreSQL database (postgresql://USER@HOST:PORT/DB, "
                                                  "empty) instead of <workdir>/steward.duckdb."),
         warehouse_password_env: str = typer.Option(None, help="The environment variable holding the "
                                                               "--warehouse password.")) -> None:
    """Generate the demo workspace and run the whole governance loop on it, no accounts needed."""
    from ..demo import API_EVENTS_MAX, prepare_demo, read_from_files, write_emulated_config
    from ..runtime import loaded

    loaded()  # what the demo generates is the run's own data: collected as usual (runtime.loading)

    if source not in ("api", "files"):
        fail(f"--source must be 'api' or 'files', not '{source}'")

    def go() -> object:
        from ..runtime import start_temporary_server

        start_temporary_server()  # comes up while the workspace is generated
        with err.status("Generating the demo workspace…"):
            config, ws = prepare_demo(workdir, scale=scale, seed=seed, clean=clean,
                                      progress=lambda line: say_stage("generate", line), warehouse=warehouse,
                                      warehouse_password_env=warehouse_password_env)
        injected = ", ".join(ws.injections.enabled()) or "none (clean)"
        err.print(f"[bold]Demo workspace[/] {ws.root}  ({sum(ws.counts.values()):,} records, injected: {injected})")
        if source == "files":
            return _run(config, "demo", verbose, dry_run)
        from ...integrations.emulator.stack import EmulatorStack

        from_files = read_from_files(ws)
        with err.status("Starting the platform emulators…"), EmulatorStack(ws.root) as stack:
            emulated = write_emulated_config(config, stack.integrations(), from_files)
            err.print("[bold]Platform APIs[/] " + ", ".join(f"{p} {e.base_url}" for p, e in stack.emulators.items())
                      + "  (local emulators)")
            for platform, entities in from_files.items():
                sizes = ", ".join(f"{e} ({ws.counts[f'{platform}.{e}']:,} records)" for e in entities)
                err.print(f"[bold]From export files[/] {platform} {sizes}: more than {API_EVENTS_MAX:,} are read "
                          f"from the export as a backfill, not paged through the API (docs/demo-workspace.md)")
            return _run(emulated, "demo", verbose, dry_run)

    _main(go, as_json, fail_on)


def run(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
        fail_on: FailOn = typer.Option(None, help="Exit 1 when a finding is at least this severe."),
        dry_run: bool = typer.Option(False, help="Decide and record actions, but pause nothing."),
        verbose: bool = typer.Option(False, help="Show Prefect's and dbt's own logs."),
        full_refresh: bool = typer.Option(False, help="Rebuild the incremental (event and people) models from all "
                                                      "of raw, not only from the batches landed since the last "
                                                      "run.")) -> None:
    """Run one governance run against a config file."""
    _main(lambda: _run(config, "on_demand", verbose, dry_run, full_refresh), as_json, fail_on)


def approve(flow_run_id: str = typer.Argument(..., help="The waiting governance flow run's id (printed by the run)."),
            target: str = typer.Option(None, "--target", help="What you answer about, as the run printed it "
                                                              "(platform:campaign); required."),
            reject: bool = typer.Option(False, "--reject", help="Refuse the action instead of approving it."),
            comment: str = typer.Option("", help="Why; kept in the audit log."),
            by: str = typer.Option(None, "--by", help="Answer for this approver instead of yourself (only for "
                                                      "users the policy lists in approvals.delegates)."),
            config: Path = typer.Option(Path("steward.yaml"), "--config", "-c",
                                        help="steward.yaml whose policy lists the delegates (default policy if "
                                             "the file does not exist).")) -> None:
    """Answer a governance run waiting for a human decision (needs PREFECT_API_URL of that run's server).

    You answer as your operating-system user; the run checks the answer's target, its signature and that you are an
    approver in its policy before it acts, and records you in the audit log."""
    from ...contracts.policy import load_policy

    from ..approval import answer
    from ..config import load_config

    with one_line_errors():
        policy = load_policy(load_config(config).policy) if by and config.is_file() else load_policy()
        try:
            request = answer(flow_run_id, target, not reject, by, comment, policy)
        except Exception as exc:  # prefect raises several types for a run that cannot be resumed
            if isinstance(exc, StewardError):
                raise
            first = str(exc).splitlines()[0] if str(exc) else repr(exc)
            fail(f"flow run {flow_run_id}: cannot answer: {first}")
        err.print(f"{'rejected' if reject else 'approved'}: {request.target} ({request.check_id}); "
                  f"flow run {flow_run_id} resumes and checks the answer")


def _run(config: Path, kind: str, verbose: bool, dry_run: bool = False, full_refresh: bool = False):
    import os

    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
        os.environ["STEWARD_DBT_LOG_LEVEL"] = "info"
    from ..runtime import flow_settings, loaded, start_temporary_server, use_temporary_server, waiting_for

    # Prefect's temporary server first, in the background: it comes up while the run loads (docs/deployments.md)
    start_temporary_server()
    from ...contracts.policy import load_policy

    from ..config import load_config

    from ...integrations.transform.policy_marts import refuse_unknown_marts

    cfg = load_config(config)  # fail fast, before the flow starts, on a bad config or policy
    refuse_unknown_marts(load_policy(cfg.policy))  # a check naming a mart the project lacks: before any pull
    _refuse_missing_exports(cfg)  # a configured export file that is not there: before the lock and the warehouse
    from ...integrations.warehouse import Warehouse
    from ...integrations.warehouse.writer_lock import hold_until_exit

    from ..governance import RunParams, governance_run

    # the writer lock first, kept until this process ends: a second run waits here (or stops with one line)
    # before it opens the warehouse or starts its flow; the flow inside takes it again and names it after its run
    hold_until_exit(cfg.warehouse, None, cfg.lock_timeout_seconds, waiting_for(cfg.lock_timeout_seconds, say_stage))
    # with the run's own DuckDB settings: the file, opened once here and pinned, is the one the flow's steps share
    # (the flow pins it too; dbt's stretches close it: connection.released)
    wh = Warehouse(cfg.warehouse, cfg.lock_timeout_seconds, cfg.duckdb.settings(cfg.warehouse))
    with wh.pinned():
        with err.status("Starting Prefect's temporary server…"):
            from ...integrations.transform.dbt_build import preload

            preload(cfg.warehouse)  # while the server comes up on the other core: dbt is imported for the build anyway
            loaded()  # everything the run loaded is kept out of the collector's walks from here (runtime.loading)
            use_temporary_server()  # launched above; it came up while the run loaded
        with reporting(), flow_settings(), err.status("Running the governance loop…"):
            return governance_run(RunParams(config=str(config), kind=kind, dry_run=dry_run,
                                            full_refresh=full_refresh))


def _refuse_missing_exports(cfg) -> None:
    """A configured export file that is missing, refused before the flow starts (the flow's ``preflight`` refuses
    it too, for a run started any other way): one line, exit 2, no run recorded, nothing pulled. Before the writer
    lock and the warehouse are taken: an export-file adapter lists its files without one, so the refusal neither
    waits on another run's lock nor creates or opens the warehouse."""
    from ..steps import adapters_for, preflight

    files = cfg.model_copy(update={"integrations": [i for i in cfg.integrations if i.kind == "export_files"]})
    preflight.fn(adapters_for(files, None))


def _main(go, as_json: bool, fail_on: Level | None) -> None:
    from ...contracts.finding import Severity

    from ..interrupt import EXIT_INTERRUPTED, interrupted_by, say_once, stop_on_signals
    from ..runtime import stop_temporary_server

    say = lambda line: err.print(f"[bold yellow]{line}[/]")  # noqa: E731
    with stop_on_signals(say), one_line_errors():
        try:
            result = go()
        except BaseException as exc:
            if not interrupted_by(exc):
                raise
            stop_temporary_server()  # a signal never reaches Prefect's own atexit hook in time
            say_once(say)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), default=str) + "\n")
    else:
        _summary(result)
    if fail_on and any(Severity(f.severity).at_least(fail_on.value) for f in result.findings):
        raise typer.Exit(1)


def _summary(result) -> None:
    from rich.table import Table

    from ...contracts.finding import Severity

    table = Table("severity", "check", "subject", "observed", "threshold", "action", title="Findings")
    for f in sorted(result.findings, key=lambda f: (-Severity(f.severity).rank, f.check_id, f.subject)):
        table.add_row(f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]", f.check_id, f.subject,
                      "" if f.observed is None else f"{f.observed:.4g}",
                      "" if f.threshold is None else f"{f.threshold:.4g}", f.action)
    out = stdout()
    if result.findings:
        out.print(table)
    c = result.counts
    out.print(f"[bold]{c['critical']} critical, {c['warn']} warn, {c['info']} info[/] in {result.seconds:.1f} s")
    for a in result.actions:
        out.print(f"  {a['action']} {a['target']}: {a['outcome']}")
    out.print(f"Alerts: {result.alerts.get('summary', '')}")
    out.print(f"Warehouse: {result.warehouse}")
    print_action_summary(out, _top(result))  # last, where the terminal leaves the reader: what to do next
    out.print(f"Report: [bold]{result.report}[/]")


def _top(result):
    """A reader of the finished run's report top (the same data the page opens with), read back from its warehouse."""
    from ...integrations.warehouse import Warehouse

    from ..report import action_summary

    return lambda: action_summary(Warehouse(result.warehouse), result.run_id)
