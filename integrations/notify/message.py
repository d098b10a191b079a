"""Turns Findings into Slack Block Kit payloads and console text: pure functions, no Slack client here.

Alerts are incidents, not messages: one parent message per incident (``build_parent``), a threaded reply when it is
still open after the quiet period or got worse (``build_reply``) or cleared (``build_resolved_reply``), the parent
rewritten in place to show where it stands, and a digest of what is still open (``build_digest``). ``build_message``
is the one-message-per-run summary. Each is what a marketing-ops person reads first, so it leads with severity and
observed against threshold, then evidence, explanation and a link to the full report.

A message is also a place where customer data could leak, so it takes only the fields a Finding is designed to carry
and from ``evidence`` only numbers and lists of masked ids; free text is escaped for Slack's mrkdwn and stripped of
anything shaped like an email address (``_format.safe``). Every piece is clipped so Slack's limits (50 blocks, 3000
characters per section, about 13k characters of block text overall) are never reached: what does not fit is
summarised as "+N more".
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Iterable, Protocol, Sequence

from ...contracts.finding import Finding, Severity
from ...contracts.policy import SLACK_MENTION
from ._format import (FALLBACK_LIMIT, MAX_BLOCK_CHARS, MAX_BLOCKS, ORDER, SECTION_LIMIT, SEVERITY_EMOJI,
                      SUBJECT_LIMIT, age, chars, clip, context_block, finding_text, header, link, measure, num,
                      redact, safe, section, when)

__all__ = ["build_message", "build_parent", "build_reply", "build_resolved_reply", "build_digest", "render_text",
           "console_line", "redact", "age", "when", "OpenIncident", "MAX_BLOCKS", "MAX_BLOCK_CHARS"]


class OpenIncident(Protocol):
    """What the digest shows of an incident (``notify.incidents.Incident`` fits)."""

    check_id: str
    subject: str
    severity: Severity
    channel: str
    observed: float | None
    opened_at: datetime


def build_parent(finding: Finding, run_id: str, *, opened_at: datetime, now: datetime | None = None,
                 resolved_at: datetime | None = None, mention: str | None = None,
                 report: str | None = None, flow_run_url: str | None = None) -> dict[str, Any]:
    """An incident's parent message: the finding, and a status line saying where the incident stands.

    Posted once when the incident opens, then rewritten (``chat.update``) when it is re-notified (pass ``now``) or
    resolved (pass ``resolved_at``), so a channel shows one current message per problem instead of a pile.
    ``mention`` is dropped unless it is shaped like a Slack mention (the policy validates it too).
    """
    sev = finding.severity
    emoji, label = (":white_check_mark:", "RESOLVED") if resolved_at else (SEVERITY_EMOJI[sev], sev.value.upper())
    body = finding_text(finding)
    if mention and SLACK_MENTION.match(mention) and not resolved_at:
        body = clip(f"{mention} {body}", SECTION_LIMIT)
    if resolved_at:
        status = f":white_check_mark: *Resolved* {when(resolved_at)}, after {age(resolved_at - opened_at)} open"
    elif now is not None and now > opened_at:
        status = f"*Still open* since {when(opened_at)} ({age(now - opened_at)}); last checked {when(now)}"
    else:
        status = f"*Open* since {when(opened_at)}"
    context = context_block(run_id, report, flow_run_url)
    context["elements"].insert(0, {"type": "mrkdwn", "text": f"Incident `{finding.fingerprint}`"})
    title = f"{emoji} {label}: {redact(finding.check_id)} on {redact(finding.subject)}"
    text = f"{label} {finding.check_id} on {safe(finding.subject, SUBJECT_LIMIT)}: {measure(finding)}"
    return {"text": clip(text, FALLBACK_LIMIT), "blocks": [header(title), section(body), section(status), context]}


def build_reply(finding: Finding, *, previous_severity: Severity, previous_observed: float | None,
                opened_at: datetime, now: datetime, mention: str | None = None) -> dict[str, Any]:
    """The threaded reply when an open incident is re-notified: worse than last told, or still open."""
    change = (f"{safe(finding.metric, 80)} observed now {num(finding.observed)}, was {num(previous_observed)} "
              f"(threshold {num(finding.threshold)})")
    subject = safe(finding.subject, SUBJECT_LIMIT)
    if finding.severity.rank > previous_severity.rank:
        ping = f"{mention} " if mention and SLACK_MENTION.match(mention) else ""
        now_was = f"now *{finding.severity.value.upper()}* (was {previous_severity.value})"
        line = f"{ping}:arrow_double_up: *Worse*: {now_was}; {change}."
        text = f"WORSE {finding.check_id} on {subject}: {now_was.replace('*', '')}; {change}"
    else:
        line = f":repeat: *Still open* after {age(now - opened_at)}: {change}."
        text = f"STILL OPEN {finding.check_id} on {subject}: {change}"
    return {"text": clip(text, FALLBACK_LIMIT), "blocks": [section(clip(line, SECTION_LIMIT))]}


def build_resolved_reply(finding: Finding, *, opened_at: datetime, resolved_at: datetime,
                         run_id: str) -> dict[str, Any]:
    """The threaded reply when a run no longer finds the problem."""
    lasted = age(resolved_at - opened_at)
    line = (f":white_check_mark: *Resolved*: run `{safe(run_id, 100)}` no longer finds it (last observed "
            f"{num(finding.observed)}, threshold {num(finding.threshold)}); it was open for {lasted}.")
    text = f"RESOLVED {finding.check_id} on {safe(finding.subject, SUBJECT_LIMIT)} after {lasted}"
    return {"text": clip(text, FALLBACK_LIMIT), "blocks": [section(clip(line, SECTION_LIMIT))]}


def build_digest(incidents: Sequence[OpenIncident], now: datetime) -> dict[str, Any]:
    """One message listing open incidents, worst and oldest first, one line each, packed into few sections."""
    ordered = sorted(incidents, key=lambda i: (-i.severity.rank, i.opened_at, i.check_id, i.subject))
    counts = Counter(i.severity for i in ordered)
    split = ", ".join(f"{counts[s]} {s.value}" for s in ORDER if counts[s]) or "none"
    title = f"Steward: {len(ordered)} open incident{'' if len(ordered) == 1 else 's'} ({split})"
    blocks: list[dict[str, Any]] = [header(title)]
    lines = [f"{SEVERITY_EMOJI[i.severity]} *{i.severity.value.upper()}* `{i.check_id}` · "
             f"{safe(i.subject, SUBJECT_LIMIT)} · open {age(now - i.opened_at)} · observed {num(i.observed)} · "
             f"{safe(i.channel, 80)}" for i in ordered]
    shown = _pack(blocks, lines)
    if shown < len(lines):
        blocks.append(section(f"*+{len(lines) - shown} more open incidents*: `steward alerts list` shows them all."))
    if not lines:
        blocks.append(section("No open incidents."))
    return {"text": clip(title, FALLBACK_LIMIT), "blocks": blocks}


def build_message(findings: Sequence[Finding], run_id: str, report: str | None = None,
                  flow_run_url: str | None = None) -> dict[str, Any]:
    """The Slack payload ``{"text": fallback, "blocks": [...]}`` summarising one run's findings in one message.

    Args:
        findings: The run's findings, in any order; the message shows the worst first.
        run_id: Shown in the context line so the alert can be traced to the run ledger.
        report: Path or URL of the HTML report; URLs become links, paths are shown as code.
        flow_run_url: Link to the orchestrator's run page, if there is one.
    """
    ordered = _worst_first(findings)
    context = context_block(run_id, report, flow_run_url)
    blocks: list[dict[str, Any]] = [header(_title(findings))]
    budget = MAX_BLOCK_CHARS - chars(blocks) - chars([context]) - 200  # 200: room for the "+N more" line
    shown = 0
    for finding in ordered:
        block = section(finding_text(finding))
        if len(blocks) >= MAX_BLOCKS - 2 or chars([block]) > budget:
            break
        blocks.append(block)
        budget -= chars([block])
        shown += 1
    if shown < len(ordered):
        blocks.append(section(_more_text(ordered[shown:], report)))
    blocks.append(context)
    return {"text": _fallback(findings, run_id), "blocks": blocks}


def render_text(findings: Iterable[Finding]) -> str:
    """One plain line per finding, worst first, for the console when no Slack is configured."""
    ordered = _worst_first(findings)
    if not ordered:
        return "No findings."
    return "\n".join(
        f"{f.severity.value.upper():8} {f.check_id} [{f.family}] {redact(f.subject)}: {redact(f.metric)} "
        f"{num(f.observed)} vs threshold {num(f.threshold)} - {redact(' '.join(f.explanation.split()))}"
        for f in ordered)


def console_line(payload: dict[str, Any]) -> str:
    """A payload's fallback text as one console line, with mrkdwn's escapes undone (it goes to no channel)."""
    text = " ".join(str(payload.get("text") or "").split())
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _pack(blocks: list[dict[str, Any]], lines: Sequence[str]) -> int:
    """Adds ``lines`` to ``blocks`` as sections of at most SECTION_LIMIT characters; returns how many fit."""
    budget = MAX_BLOCK_CHARS - chars(blocks) - 200  # 200: room for the "+N more" line
    chunk: list[str] = []
    shown = 0
    for line in lines:
        size = len(line) + 1
        if size > budget:
            break
        if chunk and sum(len(x) + 1 for x in chunk) + size > SECTION_LIMIT:
            if len(blocks) >= MAX_BLOCKS - 2:
                break
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
        budget -= size
        shown += 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return shown


def _worst_first(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity.rank, f.check_id, f.subject))


def _title(findings: Sequence[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts[s]} {s.value}" for s in ORDER if counts[s]]
    return f"Steward: {', '.join(parts)}" if parts else "Steward: no findings"


def _more_text(rest: Sequence[Finding], report: str | None) -> str:
    counts = Counter(f.severity for f in rest)
    split = ", ".join(f"{counts[s]} {s.value}" for s in ORDER if counts[s])
    where = f": {link(report, 'open the report')}" if report else " in the report"
    return clip(f"*+{len(rest)} more findings* ({split}), see the full list{where}.", SECTION_LIMIT)


def _fallback(findings: Sequence[Finding], run_id: str) -> str:
    counts = Counter(f.severity for f in findings)
    parts = ", ".join(f"{counts[s]} {s.value}" for s in ORDER if counts[s]) or "no findings"
    lines = [f"Steward run {safe(run_id, 100)}: {parts}"]
    worst = _worst_first(findings)[:3]
    lines += [f"{f.severity.value}: {f.check_id} on {safe(f.subject, SUBJECT_LIMIT)}" for f in worst]
    return clip("\n".join(lines), FALLBACK_LIMIT)
