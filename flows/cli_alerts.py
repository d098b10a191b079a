"""``steward alerts``: see the incidents Steward is tracking, post a digest of the open ones, resend what Slack missed.

A governance run already delivers its own messages; these commands are for what happens between runs. ``retry`` is
what an operator (or a cron job) runs after a Slack outage or a token fix: it sends every queued outbox row, oldest
first, each exactly once, and exits 1 while some are still queued. ``digest`` goes through the outbox like every
other message, so a digest posted while Slack is down is not lost either.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import typer
from rich.console import Console
from rich.table import Table

from steward.contracts.policy import Policy, load_policy
from steward.integrations.errors import ConfigError, StewardError

from . import progress
from .config import StewardConfig, load_config

if TYPE_CHECKING:  # the warehouse (and duckdb) load only when a command runs
    from steward.integrations.warehouse import Warehouse

__all__ = ["alerts_app"]

alerts_app = typer.Typer(help="Slack alert incidents: list them, post a digest of open ones, retry what Slack missed.",
                         no_args_is_help=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_CONFIG = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml.")
_COLORS = {"critical": "bold red", "warn": "yellow", "info": "cyan"}


class IncidentStatus(str, Enum):
    open = "open"
    resolved = "resolved"
    all = "all"


@alerts_app.command("retry")
def retry(config: Path = _CONFIG) -> None:
    """Deliver queued alert messages to Slack now; exit 1 while some are still queued."""
    def go() -> None:
        from steward.integrations.warehouse import outbox

        from .alerts import slack_sender

        cfg, policy, wh = _open(config)
        sender = slack_sender(cfg, policy.alerts.channel)
        if sender is None:
            raise ConfigError(f"{cfg.slack.token_env} is not set: queued alerts can only be delivered to Slack")
        delivery = outbox.deliver(wh, sender)
        _out().print(f"sent {delivery.sent}, failed {delivery.failed}, pending {delivery.pending}")
        for channel in delivery.blocked:
            err.print(f"[yellow]Slack channel {channel} refused the bot;[/] its alerts stay queued")
        if delivery.pending:
            raise typer.Exit(1)

    _guard(go)


@alerts_app.command("digest")
def digest(config: Path = _CONFIG) -> None:
    """Post one message listing the open incidents, worst and oldest first, to the policy's digest channel."""
    def go() -> None:
        from steward.integrations.notify import incidents
        from steward.integrations.warehouse import outbox
        from steward.integrations.notify.message import build_digest

        from .alerts import flush

        cfg, policy, wh = _open(config)
        now = datetime.now(timezone.utc)
        still_open = incidents.incidents(wh, status=incidents.OPEN)
        channel = policy.alerts.digest_channel or policy.alerts.channel
        message = outbox.OutboxMessage(outbox.POST, channel, build_digest(still_open, now))
        ids = outbox.enqueue(wh, f"digest-{now:%Y%m%dT%H%M%S}", message)
        outcome = flush(wh, cfg, ids, policy.alerts.channel)
        _out().print(f"digest of {len(still_open)} open incidents: {outcome} ({channel})")
        if outcome == "queued":
            raise typer.Exit(1)

    _guard(go)


@alerts_app.command("list")
def list_incidents(config: Path = _CONFIG,
                   status: IncidentStatus = typer.Option(IncidentStatus.open, help="Which incidents to show.")) -> None:
    """The incidents on record: severity, check, subject, channel, and how long each has been open."""
    def go() -> None:
        from steward.integrations.notify import incidents
        from steward.integrations.notify.message import age, redact

        _, _, wh = _open(config)
        rows = incidents.incidents(wh, status=None if status is IncidentStatus.all else status.value)
        now = datetime.now(timezone.utc)
        table = Table("status", "severity", title=f"Incidents ({status.value})")
        table.add_column("check", no_wrap=True)
        for name in ("subject", "channel", "opened (UTC)", "open for", "last seen (UTC)"):
            table.add_column(name, overflow="fold")
        for i in sorted(rows, key=lambda i: (i.status != "open", -i.severity.rank, i.opened_at)):
            table.add_row(i.status, f"[{_COLORS[i.severity.value]}]{i.severity.value}[/]", i.check_id,
                          redact(i.subject), i.channel, _when(i.opened_at), age((i.resolved_at or now) - i.opened_at),
                          _when(i.last_seen_at))
        label = "" if status is IncidentStatus.all else f"{status.value} "
        _out().print(table if rows else f"No {label}incidents.")

    _guard(go)


def _open(config: Path) -> tuple[StewardConfig, Policy, Warehouse]:
    from steward.integrations.warehouse import Warehouse

    from .alerts import alert_policy

    cfg = load_config(config)
    return cfg, alert_policy(load_policy(cfg.policy), cfg), Warehouse(cfg.warehouse)


def _guard(go: Callable[[], None]) -> None:
    """Runs a command with printed alerts shown on stderr; a StewardError is one line and exit 2."""
    progress.set_reporter(lambda stage, detail: err.print(f"  [dim]{stage:>9}[/]  {detail}"))
    try:
        go()
    except StewardError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        progress.set_reporter(None)


def _out() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=160)


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M}"
