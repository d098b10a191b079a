"""Approvals in Slack: the Approve / Reject message, Slack's signed interaction requests, and the message after.

Three pieces, all Slack's and none of them a decision (the paused flow run decides, ``flows/approval.py``):

* ``approval_payload`` builds the message a ``request_approval`` posts: what is asked and why, and two buttons
  whose ``value`` names the paused flow run, the request id and the target, never a secret. Slack only sends back
  a value a message of ours carried, and the request carrying it is signed, but the flow run checks it again anyway.
* ``InteractionVerifier`` checks ``X-Slack-Signature`` / ``X-Slack-Request-Timestamp`` with slack-sdk's
  ``SignatureVerifier`` (HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the app's signing secret, at most five
  minutes old) and refuses a request whose signature it has already seen (a replay).
* ``parse_click`` reads a ``block_actions`` payload into an ``ApprovalClick``; ``decided_payload`` is the message
  after the decision ("Approved by <@U…> at …"), buttons gone, so nobody clicks twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from ._format import clip

__all__ = ["APPROVE", "REJECT", "ApprovalClick", "InteractionVerifier", "approval_payload", "decided_payload",
           "parse_click", "MAX_AGE_SECONDS"]

APPROVE, REJECT = "steward_approve", "steward_reject"  # the buttons' action ids
MAX_AGE_SECONDS = 300  # Slack's own rule, and SignatureVerifier's: older requests may be replays
_VALUE_KEYS = ("run", "request", "target")


@dataclass(frozen=True)
class ApprovalClick:
    """One click on an approval button, as Slack reports it (``block_actions``)."""

    approved: bool
    flow_run_id: str
    request_id: str
    target: str
    user_id: str
    user_name: str
    channel_id: str
    message_ts: str
    original: dict[str, Any]  # the message as it was clicked: its text and blocks, for the update


def approval_payload(*, flow_run_id: str, request_id: str, target: str, label: str, check_id: str, reason: str,
                     timeout_seconds: int) -> dict[str, Any]:
    """``text`` and ``blocks`` of the approval request; ``label`` is the campaign as people know it (name and id)."""
    value = json.dumps({"run": flow_run_id, "request": request_id, "target": target}, separators=(",", ":"))
    question = f"Steward asks to pause {label}"
    minutes = max(1, round(timeout_seconds / 60))
    body = (f":raised_hand: *{clip(question, 500)}*\n*Check:* `{check_id}`\n*Why:* {clip(reason, 1500)}\n"
            f"Waiting {minutes} min for an approver; then the policy's safe choice applies.")
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        {"type": "actions", "block_id": f"steward_approval_{request_id}", "elements": [
            {"type": "button", "action_id": APPROVE, "style": "primary", "value": value,
             "text": {"type": "plain_text", "text": "Approve pause"}},
            {"type": "button", "action_id": REJECT, "style": "danger", "value": value,
             "text": {"type": "plain_text", "text": "Reject"}}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"request {request_id} · flow run {flow_run_id}"
                                                                   f" · or: `steward approve {flow_run_id} "
                                                                   f"--target {target}`"}]}]
    return {"text": clip(f"{question} ({check_id}): {reason}", 3000), "blocks": blocks}


def decided_payload(click: ApprovalClick, outcome: str, at: datetime) -> dict[str, Any]:
    """The clicked message with its buttons replaced by who decided what, and when (UTC)."""
    line = f"{outcome} by <@{click.user_id}> at {at:%Y-%m-%d %H:%M} UTC"
    kept = [b for b in click.original.get("blocks") or [] if b.get("type") != "actions"]
    icon = ":white_check_mark:" if click.approved else ":no_entry:"
    blocks = [*kept, {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{line}*"}}]
    text = clip(f"{line}: {click.original.get('text') or ''}", 3000)
    return {"text": text, "blocks": blocks}


def parse_click(body: bytes) -> ApprovalClick | None:
    """The approval click a form-encoded interaction request (``payload=<json>``) carries; None for any other
    interaction (another app's button, a shortcut). Raises ValueError when the request is not Slack's shape."""
    try:
        [raw] = parse_qs(body.decode(), strict_parsing=True, max_num_fields=5)["payload"]
        payload = json.loads(raw)
    except (ValueError, KeyError, UnicodeDecodeError):
        raise ValueError("the request is not a Slack interaction (form field 'payload' with JSON)") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    action = next((a for a in payload.get("actions") or [] if isinstance(a, dict)
                   and a.get("action_id") in (APPROVE, REJECT)), None)
    if action is None:
        return None
    try:
        value = json.loads(action.get("value") or "")
        ids = {k: str(value[k]) for k in _VALUE_KEYS}
        user = payload["user"]
        channel = (payload.get("channel") or {}).get("id") or payload["container"]["channel_id"]
        message = payload.get("message") or {}
        ts = message.get("ts") or payload["container"]["message_ts"]
    except (ValueError, KeyError, TypeError):
        raise ValueError("the approval click lacks its run, request, target, user, channel or message") from None
    return ApprovalClick(action["action_id"] == APPROVE, ids["run"], ids["request"], ids["target"],
                         str(user.get("id") or ""), str(user.get("username") or user.get("name") or ""),
                         str(channel), str(ts), {"text": message.get("text"), "blocks": message.get("blocks")})


class InteractionVerifier:
    """Slack's request signature and age (``SignatureVerifier``), plus a memory of signatures already accepted.

    A replay inside the five-minute window carries a valid signature, so validity alone does not stop it; the
    memory holds every accepted signature until it is too old to pass the age check anyway (bounded by that).
    """

    def __init__(self, signing_secret: str, max_age: int = MAX_AGE_SECONDS) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self._max_age = max_age
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """None when the request is Slack's, fresh and new; else why not (one short phrase, no secret in it)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp, sig = lowered.get("x-slack-request-timestamp"), lowered.get("x-slack-signature")
        if not timestamp or not sig:
            return "unsigned request (no X-Slack-Signature / X-Slack-Request-Timestamp)"
        try:
            age = time.time() - int(timestamp)
        except ValueError:
            return "malformed X-Slack-Request-Timestamp"
        if abs(age) > self._max_age:
            return f"request timestamp {int(age)} s off (more than {self._max_age} s: stale or replayed)"
        if not self._verifier.is_valid(body, timestamp, sig):
            return "signature does not match the signing secret"
        with self._lock:
            now = time.time()
            while self._seen and next(iter(self._seen.values())) < now - 2 * self._max_age:
                self._seen.popitem(last=False)
            if f"{timestamp}:{sig}" in self._seen:
                return "replayed request (this signature was already accepted)"
            self._seen[f"{timestamp}:{sig}"] = now
        return None
