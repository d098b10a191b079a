"""Formatting shared by Steward's Slack messages: Slack's limits, escaping, redaction, numbers and times.

Everything that could let customer data or a stray ping into a channel is here, in one place: ``safe`` escapes
mrkdwn (so ``<!channel>`` cannot ping anyone) and redacts anything shaped like an email address, ``evidence_text``
keeps only numbers and masked ids, and ``clip`` keeps every piece within Slack's limits.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from ...contracts.finding import Finding, Severity

__all__ = ["MAX_BLOCKS", "MAX_BLOCK_CHARS", "HEADER_LIMIT", "SECTION_LIMIT", "FALLBACK_LIMIT", "SUBJECT_LIMIT",
           "SEVERITY_EMOJI", "ORDER", "redact", "safe", "clip", "num", "section", "header", "chars", "link",
           "context_block", "finding_text", "evidence_text", "measure", "when", "age"]

MAX_BLOCKS = 45             # Slack allows 50; the rest is headroom for callers that add a block
MAX_BLOCK_CHARS = 11_000    # Slack rejects ~13.2k characters of block text (msg_blocks_too_long)
HEADER_LIMIT = 150
SECTION_LIMIT = 3_000
FALLBACK_LIMIT = 3_000
SUBJECT_LIMIT, EXPLANATION_LIMIT, EVIDENCE_LIMIT = 150, 500, 300
MAX_EVIDENCE_IDS = 5

SEVERITY_EMOJI = {Severity.critical: ":red_circle:", Severity.warn: ":large_orange_circle:",
                  Severity.info: ":large_blue_circle:"}
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


def finding_text(f: Finding) -> str:
    """One finding as a section: severity and check, subject, observed vs threshold, evidence, explanation."""
    lines = [
        f"{SEVERITY_EMOJI[f.severity]} *{f.severity.value.upper()}* `{f.check_id}` · {f.family.replace('_', ' ')}",
        f"*Subject:* {safe(f.subject, SUBJECT_LIMIT)}",
        f"*{safe(f.metric, 80)}:* {num(f.observed)} (threshold {num(f.threshold)})",
    ]
    evidence = evidence_text(f.evidence)
    if evidence:
        lines.append(f"*Evidence:* {clip(evidence, EVIDENCE_LIMIT)}")
    lines.append(safe(" ".join(f.explanation.split()), EXPLANATION_LIMIT))
    return clip("\n".join(lines), SECTION_LIMIT)


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


def context_block(run_id: str, report: str | None, flow_run_url: str | None) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": f"Run `{safe(run_id, 100)}`"}]
    if report:
        elements.append({"type": "mrkdwn", "text": link(report, "Report")})
    if flow_run_url:
        elements.append({"type": "mrkdwn", "text": link(flow_run_url, "Flow run")})
    return {"type": "context", "elements": elements}


def link(target: str, label: str) -> str:
    """A Slack link for http(s) URLs; anything else (a file path) as inline code, since Slack cannot open it."""
    if re.match(r"^https?://[^\s<>|@]+$", target):
        return f"<{target}|{label}>"
    return f"{label}: `{safe(target, 300)}`"


def safe(text: str, limit: int) -> str:
    """Redacted, escaped for mrkdwn (so ``<!channel>`` cannot ping anyone) and clipped."""
    escaped = redact(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return clip(escaped, limit)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def num(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) >= 1 else f"{value:.3g}"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def chars(blocks: Sequence[dict[str, Any]]) -> int:
    """Characters of text in blocks, the way Slack's overall limit counts them (approximately)."""
    total = 0
    for block in blocks:
        total += len((block.get("text") or {}).get("text", ""))
        total += sum(len(e.get("text", "")) for e in block.get("elements", []))
    return total


def header(title: str) -> dict[str, Any]:
    """A header block; plain text, so nothing in it can ping or link."""
    return {"type": "header", "text": {"type": "plain_text", "text": clip(title, HEADER_LIMIT), "emoji": True}}
