"""Slack messages for health transitions: pure functions, Block Kit payloads, no client.

One message per announced transition. Leaving healthy opens a thread (a ``post``); every later transition until the
integration is healthy again, the recovery included, is a reply in that thread, so a channel shows one thread per
outage. Messages carry the integration's name, the rule, numbers and the adapter's scrubbed one-line reason: no
customer data, no credentials.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..notify._format import age, header, num, safe, section, when

__all__ = ["transition_message", "EMOJI"]

EMOJI = {"down": ":red_circle:", "degraded": ":large_orange_circle:", "unknown": ":white_circle:",
         "recovered": ":white_check_mark:"}
_TITLE = {"down": "is DOWN", "degraded": "is DEGRADED", "unknown": "cannot be checked (UNKNOWN)",
          "recovered": "has RECOVERED"}


def transition_message(kind: str, integration: str, platform: str, *, previous: str | None, rule: str,
                       reason: str, since: datetime | None, now: datetime, figures: dict[str, Any],
                       silenced_until: str | None = None) -> dict[str, Any]:
    """``kind``: down | degraded | unknown | recovered. ``figures``: signal name -> number (None left out)."""
    title = f"{integration} ({platform}) {_TITLE[kind]}"
    lines = [f"{EMOJI[kind]} *{safe(title, 150)}*",
             f"*Rule:* `{safe(rule, 60)}` · {safe(reason, 300)}"]
    if kind == "recovered" and since is not None:
        lines.append(f"Back to healthy {when(now)}, after {age(now - since)} {safe(previous or 'unhealthy', 20)}.")
    elif previous:
        lines.append(f"Was {safe(previous, 20)}; changed {when(now)}.")
    shown = " · ".join(f"{k.replace('_', ' ')} {num(v)}" for k, v in figures.items() if v is not None)
    if shown:
        lines.append(f"*Signals:* {safe(shown, 500)}")
    if kind in ("down", "unknown"):
        lines.append("Governance checks fed by it are marked *not evaluated (source down)* until it recovers."
                     if kind == "down" else "Its health cannot be measured; fix the integration's configuration.")
    text = f"{integration} {_TITLE[kind]}: {rule}"
    return {"text": safe(text, 300), "blocks": [header(f"Integration health: {title}"), section("\n".join(lines)),
                                                {"type": "context", "elements": [
                                                    {"type": "mrkdwn", "text": "Steward integration health monitor"}]}]}
