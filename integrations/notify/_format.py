"""Formatting shared by Steward's message producers: escaping, redaction, numbers, times and a finding's lines.

Everything that could let customer data or a stray ping into a channel is here, in one place: ``safe`` escapes
mrkdwn (so ``<!channel>`` cannot ping anyone) and redacts anything shaped like an email address, ``evidence_text``
keeps only numbers and masked ids, and ``clip`` keeps every piece within its limit. Slack's own limits and block
shapes are the renderer's (``blockkit``).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ...contracts.campaigns import finding_campaigns, ref_of
from ...contracts.finding import Finding, Severity
from .model import Fact, Line, Section

__all__ = ["SUBJECT_LIMIT", "ORDER", "redact", "escape", "safe", "clip", "num", "link", "finding_section",
           "evidence_text", "measure", "when", "age", "subject_text", "pause_text"]

SUBJECT_LIMIT, EXPLANATION_LIMIT, EVIDENCE_LIMIT = 150, 500, 300
MAX_EVIDENCE_IDS = 5

ORDER = (Severity.critical, Severity.warn, Severity.info)
_EMAIL = re.compile(r"[\w.%+\-]+(?:@|%40|＠)[\w\-]+(?:\.[\w\-]+)*|@|%40|＠", re.IGNORECASE)
# What masked ids look like: the dbt ``mask_id`` token (h:<hex>) or a prefixed numeric id such as dec_000000123.
_MASKED_ID = re.compile(r"^(h:[0-9a-f]{6,64}|[A-Za-z]{1,12}[_\-:][0-9][0-9_\-]{2,63})$")
_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def redact(text: str) -> str:
    """Replace anything shaped like an email address (and any stray ``@``) so no address reaches a channel."""
    return _EMAIL.sub("[redacted]", text)


def measure(f: Finding) -> str:
    """``metric observed vs threshold threshold``, for one-line texts."""
    return f"{safe(f.metric, 80)} {num(f.observed)} vs threshold {num(f.threshold)}"


def when(moment: datetime) -> str:
    """A moment in UTC to the minute: every reader of a channel sees the same time whatever their zone."""
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def age(span: timedelta) -> str:
    """A duration the way people say it: 3d 4h, 5h 12m, 8m."""
    minutes = max(int(span.total_seconds() // 60), 0)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def finding_section(f: Finding, mention: str | None = None) -> Section:
    """One finding as a section: severity and check, subject, observed vs threshold, evidence, explanation."""
    lines: list[Line | Fact] = [
        Line(f"*{f.severity.value.upper()}* `{f.check_id}` · {f.family.replace('_', ' ')}", icon=f.severity.value),
        Fact("Subject", safe(subject_text(f), SUBJECT_LIMIT)),
        Fact(safe(f.metric, 80), f"{num(f.observed)} (threshold {num(f.threshold)})"),
    ]
    target = pause_text(f)
    if target:
        lines.append(Fact("Pauses" if f.action == "pause" else "Campaign to act on", safe(target, SUBJECT_LIMIT)))
    evidence = evidence_text(f.evidence)
    if evidence:
        lines.append(Fact("Evidence", clip(evidence, EVIDENCE_LIMIT)))
    lines.append(Line(safe(" ".join(f.explanation.split()), EXPLANATION_LIMIT)))
    return Section(tuple(lines), mention=mention)


def subject_text(f: Finding) -> str:
    """The finding's subject; a campaign by its name and its one id form (``'Spring sale'
    (salesforce:701000000000000003)``), the form the pause line and ``steward campaigns list`` use too."""
    ref = ref_of(f.evidence.get("campaign"), _name(f.evidence.get("campaign_name")))
    return ref.mention if ref else f.subject


def pause_text(f: Finding) -> str | None:
    """The campaign an action on the finding changes, when it is not the subject itself (a CRM campaign's email)."""
    subject, pause = finding_campaigns(f.evidence)
    ref = ref_of(pause, _name(f.evidence.get("pause_campaign_name")))
    return ref.mention if ref and pause != subject else None


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def evidence_text(evidence: dict[str, Any]) -> str:
    """Numbers and masked-id lists only; any other string is dropped, whatever it holds."""
    parts = []
    for key, value in evidence.items():
        if not isinstance(key, str) or not _KEY.match(key):
            continue
        if isinstance(value, bool):
            parts.append(f"{key} {'yes' if value else 'no'}")
        elif isinstance(value, (int, float)) and math.isfinite(value):
            parts.append(f"{key} {num(value)}")
        elif isinstance(value, (list, tuple)):
            ids = [v for v in value if isinstance(v, str) and _MASKED_ID.match(v)]
            if ids:
                more = f" +{len(ids) - MAX_EVIDENCE_IDS}" if len(ids) > MAX_EVIDENCE_IDS else ""
                parts.append(f"{key} {', '.join(f'`{i}`' for i in ids[:MAX_EVIDENCE_IDS])}{more}")
    return " · ".join(parts)


def link(target: str, label: str) -> str:
    """A Slack link for http(s) URLs; anything else (a file path) as inline code, since Slack cannot open it."""
    if re.match(r"^https?://[^\s<>|@]+$", target):
        return f"<{target}|{label}>"
    return f"{label}: `{safe(target, 300)}`"


def safe(text: str, limit: int) -> str:
    """Redacted, escaped for mrkdwn (so ``<!channel>`` cannot ping anyone) and clipped."""
    return clip(escape(text), limit)


def escape(text: str) -> str:
    """Redacted and escaped for mrkdwn, not clipped: for texts whose limit applies to the whole line they are in."""
    return redact(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def num(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) >= 1 else f"{value:.3g}"
