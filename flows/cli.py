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
from .cli_alerts import alerts_app  # noqa: E402
from .cli_audit import audit_app  # noqa: E402
from .cli_launch import audit_launch  # noqa: E402
from .deploy import deploy_command  # noqa: E402
from .report_export import report_command  # noqa: E402
from .cli_health import health as health_command  # noqa: E402
from .config import load_config  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Steward keeps autonomous marketing systems honest: reconcile, audit, alert, pause.")
contracts_app = typer.Typer(help="Data contracts.", no_args_is_help=True)
audit_log_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
campaigns_app = typer.Typer(help="Campaigns Steward paused, and resuming them.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(audit_log_app, name="audit-log")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(audit_app, name="audit")
app.add_typer(alerts_app, name="alerts")
app.command("audit-launch")(audit_launch)
app.command("deploy")(deploy_command)
app.command("report")(report_command)
app.command("health")(health_command)
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
         dry_run: bool = typer.Option(False, help="Decide and record actions, but pause nothing."),
         source: str = typer.Option("api", help="api: pull Salesforce, HubSpot and Google Ads through their APIs "
                                                "(local emulators); files: read the export files directly."),
         verbose: bool = typer.Option(False, help="Show Prefect's and dbt's own logs.")) -> None:
    """Generate the demo workspace and run the whole governance loop on it, no accounts needed."""
    from .demo import prepare_demo, write_emulated_config

    if source not in ("api", "files"):
        err.print(f"[bold red]error:[/] --source must be 'api' or 'files', not '{source}'")
        raise typer.Exit(2)

    def go() -> object:
        with err.status("Generating the demo workspace…"):
            config, ws = prepare_demo(workdir, scale=scale, seed=seed, clean=clean)
        injected = ", ".join(ws.injections.enabled()) or "none (clean)"
        err.print(f"[bold]Demo workspace[/] {ws.root}  ({sum(ws.counts.values()):,} records, injected: {injected})")
        if source == "files":
            return _run(config, "demo", verbose, dry_run)
        from steward.integrations.emulator.stack import EmulatorStack

        with err.status("Starting the platform emulators…"), EmulatorStack(ws.root) as stack:
            emulated = write_emulated_config(config, stack.integrations())
            err.print("[bold]Platform APIs[/] " + ", ".join(f"{p} {e.base_url}" for p, e in stack.emulators.items())
                      + "  (local emulators)")
            return _run(emulated, "demo", verbose, dry_run)

    _main(go, as_json, fail_on)


@app.command()
def run(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else."),
        fail_on: FailOn = typer.Option(None, help="Exit 1 when a finding is at least this severe."),
        dry_run: bool = typer.Option(False, help="Decide and record actions, but pause nothing."),
        verbose: bool = typer.Option(False, help="Show Prefect's and dbt's own logs.")) -> None:
    """Run one governance run against a config file."""
    _main(lambda: _run(config, "on_demand", verbose, dry_run), as_json, fail_on)


@app.command()
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
    from .approval import answer

    def go() -> None:
        policy = load_policy(load_config(config).policy) if by and config.is_file() else load_policy()
        try:
            request = answer(flow_run_id, target, not reject, by, comment, policy)
        except StewardError:
            raise
        except Exception as exc:  # prefect raises several types for a run that cannot be resumed
            first = str(exc).splitlines()[0] if str(exc) else repr(exc)
            err.print(f"[bold red]error:[/] flow run {flow_run_id}: cannot answer: {first}")
            raise typer.Exit(2) from None
        err.print(f"{'rejected' if reject else 'approved'}: {request.target} ({request.check_id}); "
                  f"flow run {flow_run_id} resumes and checks the answer")

    _guard(go)


@campaigns_app.command("list")
def campaigns_list(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c")) -> None:
    """Campaigns Steward has paused or resumed, with the reason, and actions a crash left unconfirmed."""
    from steward.integrations.warehouse.ledger import IN_FLIGHT, campaign_controls, open_intents
    from steward.integrations.warehouse import Warehouse

    def go() -> None:
        wh = Warehouse(load_config(config).warehouse)
        rows = campaign_controls(wh)
        table = Table("integration", "campaign", "state", "changed", "reason")
        for r in rows.itertuples(index=False):
            state = f"{r.state} (unconfirmed)" if r.state in IN_FLIGHT.values() else r.state
            table.add_row(r.integration, r.campaign_id, state, str(r.changed_at)[:19], (r.reason or "")[:80])
        (Console() if sys.stdout.isatty() else Console(width=160)).print(table)
        for intent in open_intents(wh):
            err.print(f"[yellow]{intent.integration}:{intent.campaign_id}:[/] run {intent.run_id} began to "
                      f"{intent.action} it and stopped before the platform's answer was recorded. "
                      f"`steward campaigns reconcile -c {config}` reads its status on {intent.integration} and "
                      f"records what happened; if it is paused, `steward campaigns resume {intent.integration} "
                      f"{intent.campaign_id} --reason \"...\" -c {config}` resumes it.")

    _guard(go)


@campaigns_app.command("reconcile")
def campaigns_reconcile(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c")) -> None:
    """Settle pauses and resumes a crash left unconfirmed, by reading each campaign's status on its platform
    (every governance run does this first too); exit 1 while some cannot be read."""
    from steward.integrations.warehouse.ledger import open_intents
    from steward.integrations.warehouse import Warehouse

    from .steps import adapters_for, reconcile_controls

    def go() -> None:
        cfg = load_config(config)
        wh = Warehouse(cfg.warehouse)
        for row in reconcile_controls(wh, adapters_for(cfg, wh), "manual"):
            err.print(f"{row['target']}: {row['outcome']}")
        left = open_intents(wh)
        for intent in left:
            err.print(f"[yellow]{intent.integration}:{intent.campaign_id}:[/] still unconfirmed (its status could "
                      f"not be read)")
        if left:
            raise typer.Exit(1)
        err.print("no unconfirmed pause or resume left")

    _guard(go)


@campaigns_app.command("resume")
def campaigns_resume(integration: str = typer.Argument(..., help="Integration name from steward.yaml."),
                     campaign_id: str = typer.Argument(..., help="The platform's own campaign id."),
                     reason: str = typer.Option(..., help="Why it is safe to run again; kept in the audit log."),
                     by: str = typer.Option(None, "--by", help="Who decides (default: $USER)."),
                     config: Path = typer.Option(Path("steward.yaml"), "--config", "-c")) -> None:
    """Resume a paused campaign through its platform, recorded in the audit log with who and why.

    Written as intent first (``resuming``), like a run's pauses, so a crash mid-call is settled by the next run."""
    import getpass

    from steward.integrations.warehouse import ledger
    from steward.integrations.errors import ConfigError as _ConfigError
    from steward.integrations.warehouse import Warehouse

    from .steps import adapters_for

    def go() -> None:
        cfg = load_config(config)
        wh = Warehouse(cfg.warehouse)
        adapter = adapters_for(cfg, wh).get(integration)
        if adapter is None:
            raise _ConfigError(f"{config}: no integration named '{integration}'")
        who = by or getpass.getuser()
        target = f"{adapter.platform}:{campaign_id}"
        intent = ledger.begin_control(wh, ledger.ControlIntent(adapter.name, campaign_id, "resume", "manual",
                                                               f"person:{who}", reason, target=target))
        result = adapter.resume(campaign_id, reason)
        outcome = "resumed" if result.changed else f"unchanged: {result.detail}"
        ledger.append_audit(wh, run_id="manual", fingerprint=None, check_id=None, action="resume",
                            target=target, decided_by=f"person:{who}", reason=reason,
                            outcome=outcome)
        # the platform says it runs: a row that said paused now says active; no row stays no row
        ledger.end_control(wh, intent, "active" if result.changed or intent.prior else None, result.campaign_id)
        err.print(f"{target}: {outcome}")

    _guard(go)


@contracts_app.command("list")
def contracts_list() -> None:
    """Every source contract: entity, owner, severity, version, columns."""
    from steward.contracts.registry import SOURCE_CONTRACTS

    table = Table("entity", "owner", "severity", "version", "columns")
    for c in SOURCE_CONTRACTS.values():
        table.add_row(c.stream, c.owner, c.severity, c.version, str(len(c.columns())))
    Console().print(table)


@contracts_app.command("docs")
def contracts_docs(output: Path = typer.Option(Path("docs/contracts.md"), "--output", "-o",
                                              help="Where to write the page."),
                   check: bool = typer.Option(False, "--check", help="Exit 1 if the page on disk is out of date.")
                   ) -> None:
    """Write the source contracts as Markdown (generated from the registry)."""
    from steward.contracts.docs import contracts_markdown

    page = contracts_markdown()
    if check:
        current = output.read_text(encoding="utf-8") if output.is_file() else ""
        if current != page:
            err.print(f"[bold red]{output} is out of date:[/] run `steward contracts docs -o {output}`")
            raise typer.Exit(1)
        err.print(f"[green]{output} is up to date[/]")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    err.print(f"wrote {output} ({page.count(chr(10) + '## ')} contracts)")


@contracts_app.command("validate")
def contracts_validate(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c"),
                       entity: list[str] = typer.Option(None, "--entity", "-e",
                                                        help="Only this entity (<platform>.<entity>); repeatable."),
                       quarantine: bool = typer.Option(False, "--quarantine",
                                                       help="Move failing rows from raw to ledger.quarantine."),
                       as_json: bool = typer.Option(False, "--json", help="One JSON object per entity and "
                                                                           "integration instead of a table.")
                       ) -> None:
    """Re-judge what is already landed against the contracts in force now, in the warehouse; exit 1 if rows fail
    and stay in raw."""
    import json as _json

    from steward.integrations.warehouse.revalidation import revalidate
    from steward.integrations.warehouse import Warehouse

    def go() -> None:
        wh = Warehouse(load_config(config).warehouse)
        try:
            results = revalidate(wh, entity or None, quarantine,
                                 progress=None if as_json else lambda what: err.print(f"judging {what}"))
        except KeyError as exc:
            from steward.integrations.errors import ConfigError
            raise ConfigError(str(exc.args[0])) from None
        if as_json:
            for r in results:
                print(_json.dumps(r.__dict__, sort_keys=True))
        else:
            table = Table("entity", "integration", "contract", "rows", "failing", "quarantined", "checks broken")
            for r in results:
                broken = ", ".join(f"{k} ({v})" for k, v in sorted(r.by_check.items(), key=lambda kv: -kv[1]))
                table.add_row(r.entity, r.integration, r.contract_version, f"{r.rows:,}", f"{r.failing_rows:,}",
                              f"{r.quarantined:,}", broken or "-")
            Console().print(table)
        if any(r.failing_rows > r.quarantined for r in results):
            raise typer.Exit(1)

    _guard(go)


@audit_log_app.command("verify")
def audit_log_verify(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c"),
                     expect_head: str = typer.Option(None, "--expect-head", metavar="SEQ:HASH",
                                                     help="An anchor you kept (from a run report or Slack): the "
                                                          "log must still hold this row with this hash.")) -> None:
    """Check the audit log's keyed hash chain and its head against the latest anchor; exit 1 at the first edited,
    missing or forged row, or when the log was cut short or rewritten since an anchor."""
    from steward.integrations.warehouse import ledger
    from steward.integrations.warehouse import Warehouse

    def go() -> None:
        cfg = load_config(config)
        anchors = [ledger.parse_head(expect_head)] if expect_head else []
        kept = ledger.latest_anchor(cfg.audit_anchor) if cfg.audit_anchor else None
        anchors += [kept] if kept else []
        key = ledger.audit_key()
        check = ledger.check_audit_log(Warehouse(cfg.warehouse), key, anchors)
        if check.needs_key:
            err.print(f"[bold red]error:[/] ledger.audit_log row {check.broken_seq} {check.problem}: set "
                      f"{ledger.AUDIT_KEY_ENV} (or {ledger.AUDIT_KEY_BLOCK_ENV}) to verify it")
            raise typer.Exit(2)
        if check.broken_seq is not None:
            err.print(f"[bold red]audit log tampered:[/] row {check.broken_seq} {check.problem}")
            raise typer.Exit(1)
        if check.anchor_problem:
            err.print(f"[bold red]audit log tampered:[/] {check.anchor_problem}")
            raise typer.Exit(1)
        err.print(f"[green]audit log intact[/]: {_audit_summary(check, cfg.audit_anchor, key is not None)}")

    _guard(go)


def _audit_summary(check, anchor_file: Path | None, have_key: bool) -> str:
    head = f"{check.rows} rows, head {check.head.text}" if check.head else "no rows"
    if check.key_id:
        keyed = f"keyed (key id {check.key_id})" + (f" after {check.legacy_rows} legacy rows" if check.legacy_rows
                                                     else "")
    elif have_key and check.rows:
        keyed = ("no row is keyed yet although a key is set (no run since keying, or a log rewritten without the "
                 "key: only an anchor tells)")
    else:
        keyed = "unkeyed (no STEWARD_AUDIT_KEY: a recomputed chain is caught only by an anchor)"
    anchored = ", ".join(f"matches anchor seq {a.seq}" + (f" of run {a.run_id}" if a.run_id else "")
                         for a in check.anchors) or (f"no anchor in {anchor_file} yet" if anchor_file else
                                                     "no anchor given (truncation cannot be detected)")
    return f"{head}; {keyed}; {anchored}"


def _guard(go) -> None:
    """Known errors are one line and exit 2."""
    try:
        go()
    except StewardError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


def _run(config: Path, kind: str, verbose: bool, dry_run: bool = False):
    import os

    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
        os.environ["STEWARD_DBT_LOG_LEVEL"] = "info"
    cfg = load_config(config)  # fail fast, before Prefect starts, on a bad config or policy
    load_policy(cfg.policy)
    from steward.integrations.warehouse import Warehouse
    from steward.integrations.warehouse.writer_lock import hold_until_exit

    from .governance import RunParams, governance_run
    from .runtime import flow_settings, waiting_for

    say = lambda stage, detail: err.print(f"  [dim]{stage:>9}[/]  {detail}")  # noqa: E731
    # the writer lock first, kept until this process ends: a second run waits here (or stops with one line)
    # before it opens the warehouse or starts Prefect; the flow inside takes it again and names it after its run
    hold_until_exit(cfg.warehouse, None, cfg.lock_timeout_seconds, waiting_for(cfg.lock_timeout_seconds, say))
    Warehouse(cfg.warehouse, cfg.lock_timeout_seconds)
    progress.set_reporter(say)
    try:
        with flow_settings(), err.status("Running the governance loop…"):
            return governance_run(RunParams(config=str(config), kind=kind, dry_run=dry_run))
    finally:
        progress.set_reporter(None)


def _main(go, as_json: bool, fail_on: Severity | None) -> None:
    from .interrupt import EXIT_INTERRUPTED, interrupted_by, say_once, stop_on_signals
    from .runtime import stop_temporary_server

    say = lambda line: err.print(f"[bold yellow]{line}[/]")  # noqa: E731
    with stop_on_signals(say):
        try:
            result = go()
        except BaseException as exc:
            if not interrupted_by(exc):
                if isinstance(exc, StewardError):
                    err.print(f"[bold red]error:[/] {exc}")
                    raise typer.Exit(2) from None
                raise
            stop_temporary_server()  # a signal never reaches Prefect's own atexit hook in time
            say_once(say)
            raise typer.Exit(EXIT_INTERRUPTED) from None
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
