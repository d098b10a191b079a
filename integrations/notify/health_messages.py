"""Messages for health transitions: pure functions, the neutral ``model.Message`` rendered by ``blockkit``, no client.

One message per announced transition. Leaving healthy opens a thread (a ``post``); every later transition until the
integration is healthy again, the recovery included, is a reply in that thread, so a channel shows one thread per
outage. Messages carry the integration's name, the rule, numbers and the adapter's scrubbed one-line reason: no
customer data, no credentials.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ._format import age, num, safe, when
from .blockkit import render
from .model import Fact, Line, Message, Section

__all__ = ["transition_message", "health_message"]

_TITLE = {"down": "is DOWN", "degraded": "is DEGRADED", "unknown": "cannot be checked (UNKNOWN)",
          "recovered": "has RECOVERED"}


def transition_message(kind: str, integration: str, platform: str, *, previous: str | None, rule: str,
                       reason: str, since: datetime | None, now: datetime, figures: dict[str, Any],
                       silenced_until: str | None = None) -> dict[str, Any]:
    """``kind``: down | degraded | unknown | recovered. ``figures``: signal name -> number (None left out)."""
    return render(health_message(kind, integration, platform, previous=previous, rule=rule, reason=reason,
                                 since=since, now=now, figures=figures, silenced_until=silenced_until))


def health_message(kind: str, integration: str, platform: str, *, previous: str | None, rule: str,
                   reason: str, since: datetime | None, now: datetime, figures: dict[str, Any],
                   silenced_until: str | None = None) -> Message:
    """``transition_message``'s message, before rendering."""
    title = f"{integration} ({platform}) {_TITLE[kind]}"
    lines: list[Line | Fact] = [Line(f"*{safe(title, 150)}*", icon=kind),
                                Fact("Rule", f"`{safe(rule, 60)}` · {safe(reason, 300)}")]
    if kind == "recovered" and since is not None:
        lines.append(Line(f"Back to healthy {when(now)}, after {age(now - since)} "
                          f"{safe(previous or 'unhealthy', 20)}."))
    elif previous:
        lines.append(Line(f"Was {safe(previous, 20)}; changed {when(now)}."))
    shown = " · ".join(f"{k.replace('_', ' ')} {num(v)}" for k, v in figures.items() if v is not None)
    if shown:
        lines.append(Fact("Signals", safe(shown, 500)))
    if kind in ("down", "unknown"):
        lines.append(Line("Governance checks fed by it are marked *not evaluated (source down)* until it recovers."
                          if kind == "down" else "Its health cannot be measured; fix the integration's configuration."))
    text = f"{integration} {_TITLE[kind]}: {rule}"
    return Message(fallback=safe(text, 300), title=f"Integration health: {title}", sections=(Section(tuple(lines)),),
                   context=("Steward integration health monitor",))
