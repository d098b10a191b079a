"""``steward alerts``: see the incidents Steward is tracking, post a digest of the open ones, resend what Slack missed.

A governance run already delivers its own messages; these commands are for what happens between runs. ``retry`` is
what an operator (or a cron job) runs after a Slack outage or a token fix: it sends every queued outbox row, oldest
first, each exactly once, and exits 1 while some are still queued. ``digest`` goes through the outbox like every
other message, so a digest posted while Slack is down is not lost either.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._console import SEVERITY_STYLE, err, one_line_errors, reporting, stdout

if TYPE_CHECKING:  # the policy, the config and the warehouse (and duckdb) load only when a command runs
    from ...contracts.policy import Policy
    from ...integrations.warehouse import Warehouse

    from ..config import StewardConfig

__all__ = ["alerts_app"]

alerts_app = typer.Typer(help="Slack alert incidents: list them, post a digest of open ones, retry what Slack missed.",
                         no_args_is_help=True)
_CONFIG = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml.")


class IncidentStatus(str, Enum):
    open = "open"
    resolved = "resolved"
    all = "all"


@alerts_app.command("retry")
def retry(config: Path = _CONFIG) -> None:
    """Deliver queued alert messages to Slack now; exit 1 while some are still queued."""
    from ...contracts.errors import ConfigError
    from ...integrations.warehouse import outbox

    from ..alerts import slack_sender

    with reporting(), one_line_errors():
        cfg, policy, wh = _open(config)
        sender = slack_sender(cfg, policy.alerts.channel)
        if sender is None:
            raise ConfigError(f"{cfg.slack.token_env} is not set: queued alerts can only be delivered to Slack")
        delivery = outbox.deliver(wh, sender)
        stdout().print(f"sent {delivery.sent}, failed {delivery.failed}, pending {delivery.pending}")
        for channel in delivery.blocked:
            err.print(f"[yellow]Slack channel {channel} refused the bot;[/] its alerts stay queued")
        if delivery.pending:
            raise typer.Exit(1)


@alerts_app.command("digest")
def digest(config: Path = _CONFIG) -> None:
    """Post one message listing the open incidents, worst and oldest first, to the policy's digest channel."""
    from ...contracts.incidents import OPEN
    from ...integrations.notify import incidents
    from ...integrations.warehouse import outbox
    from ...integrations.notify.message import build_digest

    from ..alerts import flush

    with reporting(), one_line_errors():
        cfg, policy, wh = _open(config)
        now = datetime.now(timezone.utc)
        still_open = incidents.incidents(wh, status=OPEN)
        channel = policy.alerts.digest_channel or policy.alerts.channel
        message = outbox.OutboxMessage(outbox.POST, channel, build_digest(still_open, now))
        ids = outbox.enqueue(wh, f"digest-{now:%Y%m%dT%H%M%S}", message)
        outcome = flush(wh, cfg, ids, policy.alerts.channel)
        stdout().print(f"digest of {len(still_open)} open incidents: {outcome} ({channel})")
        if outcome == "queued":
            raise typer.Exit(1)


@alerts_app.command("list")
def list_incidents(config: Path = _CONFIG,
                   status: IncidentStatus = typer.Option(IncidentStatus.open, help="Which incidents to show.")) -> None:
    """The incidents on record: severity, check, subject, channel, and how long each has been open."""
    from rich.table import Table

    from ...integrations.notify import incidents
    from ...integrations.notify.message import age, redact

    with reporting(), one_line_errors():
        _, _, wh = _open(config)
        rows = incidents.incidents(wh, status=None if status is IncidentStatus.all else status.value)
        now = datetime.now(timezone.utc)
        table = Table("status", "severity", title=f"Incidents ({status.value})")
        table.add_column("check", no_wrap=True)
        for name in ("subject", "channel", "opened (UTC)", "open for", "last seen (UTC)"):
            table.add_column(name, overflow="fold")
        for i in sorted(rows, key=lambda i: (i.status != "open", -i.severity.rank, i.opened_at)):
            table.add_row(i.status, f"[{SEVERITY_STYLE[i.severity.value]}]{i.severity.value}[/]", i.check_id,
                          redact(i.subject), i.channel, _when(i.opened_at), age((i.resolved_at or now) - i.opened_at),
                          _when(i.last_seen_at))
        label = "" if status is IncidentStatus.all else f"{status.value} "
        stdout().print(table if rows else f"No {label}incidents.")


def _open(config: Path) -> tuple[StewardConfig, Policy, Warehouse]:
    from ...contracts.policy import load_policy
    from ...integrations.warehouse import Warehouse

    from ..alerts import alert_policy
    from ..config import load_config

    cfg = load_config(config)
    return cfg, alert_policy(load_policy(cfg.policy), cfg), Warehouse(cfg.warehouse)


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M}"
