"""Alerting step: findings become incidents, incidents become Slack messages, and every message goes through the outbox.

The order matters for "never lose an alert": incidents and their messages are written to the warehouse in one
transaction (``notify.incidents.record``) before any HTTP call; only then is the outbox delivered. Slack is used when
the bot token's environment variable is set; otherwise the run's messages are printed and kept as ``local``. A Slack
that is down, throttling or refusing the token leaves messages queued (``steward alerts retry`` sends them later) and
the run completes. One audit row per run records what was decided and what became of it, including the messages
earlier runs had left queued that this run delivered ("delivered 34 (34 queued by earlier runs)").

Delivery is at least once: a process killed between Slack's ok and the row's ``sent`` mark posts that one message
again on the next delivery (a duplicate, never a loss). The window is one HTTP answer and one local update wide.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..contracts.actions import alertable
from ..contracts.finding import Finding
from ..contracts.incidents import plan
from ..contracts.policy import Policy
from ..integrations.warehouse import ledger
from ..contracts.errors import ConfigError, NotifyError
from ..integrations.notify import incidents
from ..integrations.warehouse import outbox
from ..integrations.notify.message import console_line
from ..integrations.warehouse import Warehouse

from .config import StewardConfig
from .progress import report

if TYPE_CHECKING:
    from ..integrations.notify.slack import SlackNotifier

__all__ = ["dispatch_alerts", "alert_policy", "slack_sender", "flush", "deliver_queued", "Flushed", "ALWAYS_EVALUATED"]

# Checks every governance run evaluates besides the policy's own: dbt's data tests run in every build.
ALWAYS_EVALUATED = ("data_quality.dbt_test",)


def dispatch_alerts(wh: Warehouse, findings: list[Finding], policy: Policy, cfg: StewardConfig, run_id: str,
                    report_path: Path) -> dict:
    """Open, re-notify, suppress or resolve this run's incidents, deliver their messages, audit the outcome.

    Returns a dict for the run result: ``channel`` (the default channel), ``alerted`` (findings at or above the alert
    severity), ``outcome`` (``none``, ``sent``, ``queued`` or ``printed``), ``summary`` (one line), the decision
    counts (``opened``, ``repeated``, ``worsened``, ``suppressed``, ``resolved``), ``channels`` messaged and
    ``messages`` enqueued, ``delivered`` (what Slack accepted in this step, earlier runs' messages included) and
    ``delivered_earlier`` (of those, queued by earlier runs). A run with nothing to decide still delivers what
    earlier runs left queued, and audits it.
    """
    policy = alert_policy(policy, cfg)
    chosen = alertable(findings, policy)
    now = datetime.now(timezone.utc)
    known = {i.fingerprint: i for i in incidents.incidents(wh)}
    decisions = plan(chosen, known, policy, [*policy.checks, *ALWAYS_EVALUATED], now)
    ids = incidents.record(wh, run_id, decisions, now, report=str(report_path), flow_run_url=_flow_run_url())
    kinds = Counter(d.kind for d in decisions)
    channels = sorted({a.channel for a in outbox.alerts(wh, ids=ids)}) if ids else []
    result = {"channel": policy.alerts.channel, "alerted": len(chosen), "opened": kinds["open"],
              "repeated": kinds["repeat"], "worsened": kinds["worse"], "suppressed": kinds["suppress"],
              "resolved": kinds["resolve"], "channels": channels, "messages": len(ids), "delivered": 0,
              "delivered_earlier": 0}
    quiet = {**result, "outcome": "none", "summary": f"nothing at or above {policy.alerts.min_severity.value}"}
    if not decisions and not outbox.alerts(wh, status=outbox.QUEUED):
        return quiet
    flushed = deliver_queued(wh, cfg, ids, policy.alerts.channel)
    if not decisions and not flushed.delivered:
        return quiet
    result = {**result, "delivered": flushed.delivered, "delivered_earlier": flushed.earlier}
    summary = _summary(result, flushed.outcome, policy, cfg)
    ledger.append_audit(wh, run_id=run_id, fingerprint=None, check_id=None, action="alert",
                        target=", ".join(channels) or policy.alerts.channel,
                        decided_by=f"policy:alerts (min_severity={policy.alerts.min_severity.value}, "
                                   f"suppress_hours={policy.alerts.suppress_hours:g})",
                        reason=summary,
                        outcome=flushed.outcome + (f"; {_delivered(result)}" if flushed.earlier else ""))
    return {**result, "outcome": flushed.outcome, "summary": summary}


def _flow_run_url() -> str | None:
    """The Prefect UI page of this run, when there is a lasting server to open it on (not a temporary one)."""
    from prefect.runtime import flow_run
    from prefect.settings import PREFECT_API_URL

    return flow_run.ui_url if PREFECT_API_URL.value() and flow_run.id else None


def alert_policy(policy: Policy, cfg: StewardConfig) -> Policy:
    """The policy with ``slack.channel`` from steward.yaml, when set, as the channel unrouted findings go to."""
    if not cfg.slack.channel or cfg.slack.channel == policy.alerts.channel:
        return policy
    return policy.model_copy(update={"alerts": policy.alerts.model_copy(update={"channel": cfg.slack.channel})})


def slack_sender(cfg: StewardConfig, default_channel: str) -> "SlackNotifier | None":
    """A Slack client with the token from the environment variable steward.yaml names, else from its Prefect Secret
    block (``slack.token_block``); None when neither is set up."""
    token = os.environ.get(cfg.slack.token_env, "").strip() or _secret_block_token(cfg.slack.token_block)
    if not token:
        return None
    from ..integrations.notify.slack import DEFAULT_API_URL, SlackNotifier, build_client

    api_url = os.environ.get(cfg.slack.api_url_env, "").strip() or DEFAULT_API_URL
    return SlackNotifier(build_client(token, api_url), default_channel)


def _secret_block_token(block: str | None) -> str:
    if not block:
        return ""
    from prefect.blocks.system import Secret

    try:
        return str(Secret.load(block).get()).strip()
    except ValueError as exc:  # Prefect's "no block document named ..." error
        raise ConfigError(f"slack.token_block: no Prefect Secret block named '{block}' ({exc})") from None


@dataclass(frozen=True)
class Flushed:
    """What one delivery did: ``outcome`` of this run's messages (``none``, ``sent``, ``queued``, ``printed``),
    ``delivered`` messages Slack accepted, and ``earlier``: how many of those earlier runs had queued."""

    outcome: str
    delivered: int = 0
    earlier: int = 0


def flush(wh: Warehouse, cfg: StewardConfig, ids: list[str], default_channel: str) -> str:
    """Deliver what is queued (these messages and any an earlier run left), or print these when Slack is not set up.

    Returns ``none`` (nothing to send), ``sent``, ``queued`` (some of ``ids`` wait for Slack) or ``printed``.
    """
    return deliver_queued(wh, cfg, ids, default_channel).outcome


def deliver_queued(wh: Warehouse, cfg: StewardConfig, ids: list[str], default_channel: str) -> Flushed:
    """``flush``, counting what was delivered and how much of it earlier runs had left queued."""
    sender = slack_sender(cfg, default_channel)
    if sender is None:
        mine = outbox.alerts(wh, status=outbox.QUEUED, ids=ids) if ids else []
        for alert in mine:
            if alert.kind != outbox.UPDATE:  # an update rewrites a message the console has already shown
                report("alert", f"{alert.channel}  {console_line(alert.payload)}")
            outbox.mark_printed(wh, alert.alert_id)
        return Flushed("printed" if mine else "none")
    try:
        delivery = outbox.deliver(wh, sender)
    except NotifyError as exc:
        report("alert", f"Slack refused the alert, kept queued: {exc}")
        return Flushed("queued" if ids else "none")
    for channel in delivery.blocked:
        report("alert", f"Slack channel {channel} refused the bot; its alerts stay queued")
    earlier = len(set(delivery.sent_ids) - set(ids))
    if earlier:
        report("alert", f"delivered {earlier} messages queued by earlier runs")
    if not ids:
        return Flushed("none", delivery.sent, earlier)
    return Flushed("queued" if outbox.alerts(wh, status=outbox.QUEUED, ids=ids) else "sent", delivery.sent, earlier)


def _summary(result: dict, outcome: str, policy: Policy, cfg: StewardConfig) -> str:
    counts = (f"{result['opened']} opened, {result['repeated'] + result['worsened']} re-notified "
              f"({result['worsened']} worse), {result['suppressed']} suppressed, {result['resolved']} resolved")
    head = f"{result['alerted']} findings at or above {policy.alerts.min_severity.value}: {counts}"
    where = {"sent": f"sent to Slack {', '.join(result['channels'])}",
             "queued": "queued in ledger.alert_outbox (Slack unreachable or refusing; `steward alerts retry`)",
             "printed": f"printed to the console (no {cfg.slack.token_env}; kept in ledger.alert_outbox)",
             "none": "nothing new to send"}[outcome]
    line = f"{head}; {result['messages']} messages {where}" if outcome != "none" else f"{head}; {where}"
    return f"{line}; {_delivered(result)}" if result["delivered_earlier"] else line


def _delivered(result: dict) -> str:
    return f"delivered {result['delivered']} ({result['delivered_earlier']} queued by earlier runs)"
