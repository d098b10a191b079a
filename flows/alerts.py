"""Alerting step: the findings policy wants people to see go to the outbox first, then to Slack or the console.

Slack is used when the bot token's environment variable is set; otherwise the alert is printed and kept in the
outbox as ``local``. A Slack that refuses the token leaves the alert queued (never lost) and the run completes.
"""

from __future__ import annotations

import os
from pathlib import Path

from steward.contracts.actions import alertable
from steward.contracts.finding import Finding
from steward.contracts.policy import Policy
from steward.integrations import ledger
from steward.integrations.errors import NotifyError
from steward.integrations.notify.message import build_message, render_text
from steward.integrations.notify.outbox import deliver, enqueue, mark_printed
from steward.integrations.warehouse import Warehouse

from .config import StewardConfig
from .progress import report

__all__ = ["dispatch_alerts"]


def dispatch_alerts(wh: Warehouse, findings: list[Finding], policy: Policy, cfg: StewardConfig, run_id: str,
                    report_path: Path) -> dict:
    chosen = alertable(findings, policy)
    channel = cfg.slack.channel or policy.alerts.channel
    if not chosen:
        return {"channel": channel, "alerted": 0, "outcome": "none",
                "summary": f"nothing at or above {policy.alerts.min_severity.value}"}
    alert_id = enqueue(wh, run_id, chosen, channel, build_message(chosen, run_id, report=str(report_path)))
    token = os.environ.get(cfg.slack.token_env, "").strip()
    if token:
        outcome = _to_slack(wh, token, os.environ.get(cfg.slack.api_url_env), channel)
    else:
        mark_printed(wh, alert_id)
        for line in render_text(chosen).splitlines():
            report("alert", line)
        outcome = "printed"
    ledger.append_audit(wh, run_id=run_id, fingerprint=None, check_id=None, action="alert", target=channel,
                        decided_by=f"policy:alerts.min_severity={policy.alerts.min_severity.value}",
                        reason=f"{len(chosen)} findings at or above {policy.alerts.min_severity.value}",
                        outcome=outcome)
    where = f"Slack {channel}" if token else "the console (no SLACK_BOT_TOKEN; kept in ledger.alert_outbox)"
    return {"channel": channel, "alerted": len(chosen), "outcome": outcome, "alert_id": alert_id,
            "summary": f"{len(chosen)} findings {outcome} to {where}"}


def _to_slack(wh: Warehouse, token: str, api_url: str | None, channel: str) -> str:
    from steward.integrations.notify.slack import DEFAULT_API_URL, SlackNotifier, build_client

    try:
        delivery = deliver(wh, SlackNotifier(build_client(token, api_url or DEFAULT_API_URL), channel))
    except NotifyError as exc:
        report("alert", f"Slack refused the alert, kept queued: {exc}")
        return "queued"
    return "sent" if delivery.sent and not delivery.pending else "queued"
