"""Turns Findings into a Slack Block Kit payload and a console text: pure functions, no Slack client here.

The message is what a marketing-ops person reads first, so it is built for them: worst findings first, one section
each, counts by severity in the header, and links to the full report. It is also a place where customer data could
leak, so it takes only the fields a Finding is designed to carry (check, family, severity, subject, metric, observed,
threshold, explanation) and from ``evidence`` only numbers and lists of masked ids; free text is escaped for Slack's
mrkdwn and stripped of anything shaped like an email address. Every piece is clipped so that Slack's limits (50 blocks,
3000 characters per section, about 13k characters of block text overall) are never reached: what does not fit is
summarised as "+N more findings, see the report".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Iterable, Sequence

from ...contracts.finding import Finding, Severity

__all__ = ["build_message", "render_text", "redact", "MAX_BLOCKS", "MAX_BLOCK_CHARS"]

MAX_BLOCKS = 45             # Slack allows 50; the rest is headroom for callers that add a block
MAX_BLOCK_CHARS = 11_000    # Slack rejects ~13.2k characters of block text (msg_blocks_too_long)
HEADER_LIMIT = 150
SECTION_LIMIT = 3_000
FALLBACK_LIMIT = 3_000
SUBJECT_LIMIT, EXPLANATION_LIMIT, EVIDENCE_LIMIT = 150, 500, 300
MAX_EVIDENCE_IDS = 5

SEVERITY_EMOJI = {Severity.critical: ":red_circle:", Severity.warn: ":large_orange_circle:",
                  Severity.info: ":large_blue_circle:"}
_ORDER = (Severity.critical, Severity.warn, Severity.info)
_EMAIL = re.compile(r"[\w.%+\-]+(?:@|%40|＠)[\w\-]+(?:\.[\w\-]+)*|@|%40|＠", re.IGNORECASE)
# What masked ids look like: the dbt ``mask_id`` token (h:<hex>) or a prefixed numeric id such as dec_000000123.
_MASKED_ID = re.compile(r"^(h:[0-9a-f]{6,64}|[A-Za-z]{1,12}[_\-:][0-9][0-9_\-]{2,63})$")
_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def build_message(findings: Sequence[Finding], run_id: str, report: str | None = None,
                  flow_run_url: str | None = None) -> dict[str, Any]:
    """The Slack payload ``{"text": fallback, "blocks": [...]}`` for one run's findings.

    Args:
        findings: The run's findings, in any order; the message shows the worst first.
        run_id: Shown in the context line so the alert can be traced to the run ledger.
        report: Path or URL of the HTML report; URLs become links, paths are shown as code.
        flow_run_url: Link to the orchestrator's run page, if there is one.
    """
    ordered = _worst_first(findings)
    context = _context(run_id, report, flow_run_url)
    blocks: list[dict[str, Any]] = [_header(findings)]
    budget = MAX_BLOCK_CHARS - _chars(blocks) - _chars([context]) - 200  # 200: room for the "+N more" line
    shown = 0
    for finding in ordered:
        section = _section(_finding_text(finding))
        if len(blocks) >= MAX_BLOCKS - 2 or _chars([section]) > budget:
            break
        blocks.append(section)
        budget -= _chars([section])
        shown += 1
    if shown < len(ordered):
        blocks.append(_section(_more_text(ordered[shown:], report)))
    blocks.append(context)
    return {"text": _fallback(findings, run_id), "blocks": blocks}


def render_text(findings: Iterable[Finding]) -> str:
    """One plain line per finding, worst first, for the console when no Slack is configured."""
    ordered = _worst_first(findings)
    if not ordered:
        return "No findings."
    return "\n".join(
        f"{f.severity.value.upper():8} {f.check_id} [{f.family}] {redact(f.subject)}: {redact(f.metric)} "
        f"{_num(f.observed)} vs threshold {_num(f.threshold)} - {redact(' '.join(f.explanation.split()))}"
        for f in ordered)


def redact(text: str) -> str:
    """Replace anything shaped like an email address (and any stray ``@``) so no address reaches a channel."""
    return _EMAIL.sub("[redacted]", text)


def _worst_first(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity.rank, f.check_id, f.subject))


def _header(findings: Sequence[Finding]) -> dict[str, Any]:
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts[s]} {s.value}" for s in _ORDER if counts[s]]
    title = f"Steward: {', '.join(parts)}" if parts else "Steward: no findings"
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(title, HEADER_LIMIT), "emoji": True}}


def _finding_text(f: Finding) -> str:
    lines = [
        f"{SEVERITY_EMOJI[f.severity]} *{f.severity.value.upper()}* `{f.check_id}` · {f.family.replace('_', ' ')}",
        f"*Subject:* {_safe(f.subject, SUBJECT_LIMIT)}",
        f"*{_safe(f.metric, 80)}:* {_num(f.observed)} (threshold {_num(f.threshold)})",
    ]
    evidence = _evidence(f.evidence)
    if evidence:
        lines.append(f"*Evidence:* {_clip(evidence, EVIDENCE_LIMIT)}")
    lines.append(_safe(" ".join(f.explanation.split()), EXPLANATION_LIMIT))
    return _clip("\n".join(lines), SECTION_LIMIT)


def _evidence(evidence: dict[str, Any]) -> str:
    """Numbers and masked-id lists only; any other string is dropped, whatever it holds."""
    parts = []
    for key, value in evidence.items():
        if not isinstance(key, str) or not _KEY.match(key):
            continue
        if isinstance(value, bool):
            parts.append(f"{key} {'yes' if value else 'no'}")
        elif isinstance(value, (int, float)) and math.isfinite(value):
            parts.append(f"{key} {_num(value)}")
        elif isinstance(value, (list, tuple)):
            ids = [v for v in value if isinstance(v, str) and _MASKED_ID.match(v)]
            if ids:
                more = f" +{len(ids) - MAX_EVIDENCE_IDS}" if len(ids) > MAX_EVIDENCE_IDS else ""
                parts.append(f"{key} {', '.join(f'`{i}`' for i in ids[:MAX_EVIDENCE_IDS])}{more}")
    return " · ".join(parts)


def _more_text(rest: Sequence[Finding], report: str | None) -> str:
    counts = Counter(f.severity for f in rest)
    split = ", ".join(f"{counts[s]} {s.value}" for s in _ORDER if counts[s])
    where = f": {_link(report, 'open the report')}" if report else " in the report"
    return _clip(f"*+{len(rest)} more findings* ({split}), see the full list{where}.", SECTION_LIMIT)


def _context(run_id: str, report: str | None, flow_run_url: str | None) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": f"Run `{_safe(run_id, 100)}`"}]
    if report:
        elements.append({"type": "mrkdwn", "text": _link(report, "Report")})
    if flow_run_url:
        elements.append({"type": "mrkdwn", "text": _link(flow_run_url, "Flow run")})
    return {"type": "context", "elements": elements}


def _fallback(findings: Sequence[Finding], run_id: str) -> str:
    counts = Counter(f.severity for f in findings)
    parts = ", ".join(f"{counts[s]} {s.value}" for s in _ORDER if counts[s]) or "no findings"
    worst = _worst_first(findings)[:3]
    lines = [f"Steward run {_safe(run_id, 100)}: {parts}"]
    lines += [f"{f.severity.value}: {f.check_id} on {_safe(f.subject, SUBJECT_LIMIT)}" for f in worst]
    return _clip("\n".join(lines), FALLBACK_LIMIT)


def _link(target: str, label: str) -> str:
    """A Slack link for http(s) URLs; anything else (a file path) as inline code, since Slack cannot open it."""
    if re.match(r"^https?://[^\s<>|@]+$", target):
        return f"<{target}|{label}>"
    return f"{label}: `{_safe(target, 300)}`"


def _safe(text: str, limit: int) -> str:
    """Redacted, escaped for mrkdwn (so ``<!channel>`` cannot ping anyone) and clipped."""
    escaped = redact(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _clip(escaped, limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _num(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) >= 1 else f"{value:.3g}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _chars(blocks: Sequence[dict[str, Any]]) -> int:
    """Characters of text in blocks, the way Slack's overall limit counts them (approximately)."""
    total = 0
    for block in blocks:
        total += len((block.get("text") or {}).get("text", ""))
        total += sum(len(e.get("text", "")) for e in block.get("elements", []))
    return total
