"""``steward campaigns ...``: the campaigns Steward paused or resumed, settling what a crash left open, resuming one."""

from __future__ import annotations

from pathlib import Path

import typer

from ._console import err, one_line_errors, stdout

__all__ = ["campaigns_app"]

campaigns_app = typer.Typer(help="Campaigns Steward paused, and resuming them.", no_args_is_help=True)


@campaigns_app.command("list")
def campaigns_list(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c")) -> None:
    """Campaigns Steward has paused or resumed, by name and id, with the whole reason; for each campaign still
    paused, the exact command that resumes it; and actions a crash left unconfirmed."""
    from rich.table import Table

    from ...integrations.warehouse.ledger import IN_FLIGHT, campaign_controls, open_intents
    from ...integrations.warehouse.reads import campaign_refs
    from ...integrations.warehouse import Warehouse

    from ..config import load_config

    with one_line_errors():
        cfg = load_config(config)
        wh = Warehouse(cfg.warehouse)
        platforms = {i.name: i.platform for i in cfg.integrations}
        rows, refs = campaign_controls(wh), campaign_refs(wh)
        out = stdout()
        # the reason is never cut: it wraps in its column, however long
        table = Table("campaign", "integration", "state", "changed", "reason", show_lines=True)
        table.columns[4].overflow = "fold"
        paused = []
        for r in rows.itertuples(index=False):
            ref = _ref(refs, platforms.get(r.integration, r.integration), str(r.campaign_id))
            state = f"{r.state} (unconfirmed)" if r.state in IN_FLIGHT.values() else r.state
            table.add_row(ref.mention, r.integration, state, str(r.changed_at)[:19], r.reason or "")
            if r.state == "paused":
                paused.append((ref, r.integration, r.campaign_id))
        out.print(table)
        for ref, integration, campaign_id in paused:  # one line each, never wrapped: it is copied as it is
            out.print(f"to resume {ref.mention}: {_resume_command(integration, campaign_id, config)}",
                      soft_wrap=True, markup=False, highlight=False)
        for intent in open_intents(wh):
            err.print(f"[yellow]{intent.integration}:{intent.campaign_id}:[/] run {intent.run_id} began to "
                      f"{intent.action} it and stopped before the platform's answer was recorded. "
                      f"`steward campaigns reconcile -c {config}` reads its status on {intent.integration} and "
                      f"records what happened; if it is paused, "
                      f"`{_resume_command(intent.integration, intent.campaign_id, config)}` resumes it.")


def _ref(refs: dict, platform: str, campaign_id: str):
    """The campaign as the directory names it (its key alone when the directory does not know it)."""
    from ...contracts.campaigns import CampaignRef, campaign_key

    return refs.get(campaign_key(platform, campaign_id)) or CampaignRef(platform, campaign_id)


def _resume_command(integration: str, campaign_id: str, config: Path) -> str:
    return f'steward campaigns resume {integration} {campaign_id} --reason "..." -c {config}'


@campaigns_app.command("reconcile")
def campaigns_reconcile(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c")) -> None:
    """Settle pauses and resumes a crash left unconfirmed, by reading each campaign's status on its platform
    (every governance run does this first too); exit 1 while some cannot be read."""
    from ...integrations.warehouse.ledger import open_intents
    from ...integrations.warehouse import Warehouse

    from ..config import load_config
    from ..steps import adapters_for, reconcile_controls

    with one_line_errors():
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


@campaigns_app.command("resume")
def campaigns_resume(integration: str = typer.Argument(..., help="Integration name from steward.yaml."),
                     campaign_id: str = typer.Argument(..., help="The platform's own campaign id."),
                     reason: str = typer.Option(..., help="Why it is safe to run again; kept in the audit log."),
                     by: str = typer.Option(None, "--by", help="Who decides (default: $USER)."),
                     config: Path = typer.Option(Path("steward.yaml"), "--config", "-c")) -> None:
    """Resume a paused campaign through its platform, recorded in the audit log with who and why.

    Written as intent first (``resuming``), like a run's pauses, so a crash mid-call is settled by the next run."""
    import getpass

    from ...integrations.warehouse import ledger
    from ...contracts.errors import ConfigError
    from ...integrations.warehouse import Warehouse

    from ..config import load_config
    from ..steps import adapters_for

    with one_line_errors():
        cfg = load_config(config)
        wh = Warehouse(cfg.warehouse)
        adapter = adapters_for(cfg, wh).get(integration)
        if adapter is None:
            raise ConfigError(f"{config}: no integration named '{integration}'")
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
