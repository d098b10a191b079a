"""Turns Findings into messages (the neutral ``model.Message``, rendered for Slack by ``blockkit``) and console
text: pure functions, no Slack client here.

Alerts are incidents, not messages: one parent message per incident (``build_parent``), a threaded reply when it is
still open after the quiet period or got worse (``build_reply``) or cleared (``build_resolved_reply``), the parent
rewritten in place to show where it stands, and a digest of what is still open (``build_digest``). ``build_message``
is the one-message-per-run summary. Each is what a marketing-ops person reads first, so it leads with severity and
observed against threshold, then evidence, explanation and a link to the full report.

A message is also a place where customer data could leak, so it takes only the fields a Finding is designed to carry
and from ``evidence`` only numbers and lists of masked ids; free text is escaped for Slack's mrkdwn and stripped of
anything shaped like an email address (``_format.safe``). Every piece is clipped so Slack's limits (50 blocks, 3000
characters per section, about 13k characters of block text overall) are never reached: what does not fit is
summarised as "+N more". Each ``build_*`` returns the Slack payload ``{"text", "blocks"}``; ``*_message`` is the
same message before rendering, for any other channel's renderer.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Iterable, Protocol, Sequence

from ...contracts.finding import Finding, Severity
from ...contracts.policy import SLACK_MENTION
from ._format import (ORDER, SUBJECT_LIMIT, age, clip, finding_section, link, measure, num, redact, safe, subject_text,
                      when)
from .blockkit import MAX_BLOCK_CHARS, MAX_BLOCKS, SECTION_LIMIT, blocks, chars, line_text, render, section_text
from .model import Line, Link, Message, Section

__all__ = ["build_message", "build_parent", "build_reply", "build_resolved_reply", "build_digest", "render_text",
           "console_line", "summary_message", "parent_message", "reply_message", "resolved_reply_message",
           "digest_message", "redact", "age", "when", "OpenIncident", "MAX_BLOCKS", "MAX_BLOCK_CHARS"]


class OpenIncident(Protocol):
    """What the digest shows of an incident (``contracts.incidents.Incident`` fits)."""

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
    return render(parent_message(finding, run_id, opened_at=opened_at, now=now, resolved_at=resolved_at,
                                 mention=mention, report=report, flow_run_url=flow_run_url))


def parent_message(finding: Finding, run_id: str, *, opened_at: datetime, now: datetime | None = None,
                   resolved_at: datetime | None = None, mention: str | None = None,
                   report: str | None = None, flow_run_url: str | None = None) -> Message:
    """``build_parent``'s message, before rendering."""
    sev = finding.severity
    icon, label = ("resolved", "RESOLVED") if resolved_at else (sev.value, sev.value.upper())
    ping = mention if mention and SLACK_MENTION.match(mention) and not resolved_at else None
    if resolved_at:
        status = Line(f"*Resolved* {when(resolved_at)}, after {age(resolved_at - opened_at)} open", icon="resolved")
    elif now is not None and now > opened_at:
        status = Line(f"*Still open* since {when(opened_at)} ({age(now - opened_at)}); last checked {when(now)}")
    else:
        status = Line(f"*Open* since {when(opened_at)}")
    text = f"{label} {finding.check_id} on {safe(subject_text(finding), SUBJECT_LIMIT)}: {measure(finding)}"
    return Message(fallback=text, title=f"{label}: {redact(finding.check_id)} on {redact(subject_text(finding))}",
                   icon=icon, sections=(finding_section(finding, ping), Section((status,))),
                   context=(f"Incident `{finding.fingerprint}`", *_context(run_id, report, flow_run_url)))


def build_reply(finding: Finding, *, previous_severity: Severity, previous_observed: float | None,
                opened_at: datetime, now: datetime, mention: str | None = None) -> dict[str, Any]:
    """The threaded reply when an open incident is re-notified: worse than last told, or still open."""
    return render(reply_message(finding, previous_severity=previous_severity, previous_observed=previous_observed,
                                opened_at=opened_at, now=now, mention=mention))


def reply_message(finding: Finding, *, previous_severity: Severity, previous_observed: float | None,
                  opened_at: datetime, now: datetime, mention: str | None = None) -> Message:
    """``build_reply``'s message, before rendering."""
    change = (f"{safe(finding.metric, 80)} observed now {num(finding.observed)}, was {num(previous_observed)} "
              f"(threshold {num(finding.threshold)})")
    subject = safe(finding.subject, SUBJECT_LIMIT)
    if finding.severity.rank > previous_severity.rank:
        ping = mention if mention and SLACK_MENTION.match(mention) else None
        now_was = f"now *{finding.severity.value.upper()}* (was {previous_severity.value})"
        section = Section((Line(f"*Worse*: {now_was}; {change}.", icon="worse"),), mention=ping)
        text = f"WORSE {finding.check_id} on {subject}: {now_was.replace('*', '')}; {change}"
    else:
        section = Section((Line(f"*Still open* after {age(now - opened_at)}: {change}.", icon="still_open"),))
        text = f"STILL OPEN {finding.check_id} on {subject}: {change}"
    return Message(fallback=text, sections=(section,))


def build_resolved_reply(finding: Finding, *, opened_at: datetime, resolved_at: datetime,
                         run_id: str) -> dict[str, Any]:
    """The threaded reply when a run no longer finds the problem."""
    return render(resolved_reply_message(finding, opened_at=opened_at, resolved_at=resolved_at, run_id=run_id))


def resolved_reply_message(finding: Finding, *, opened_at: datetime, resolved_at: datetime, run_id: str) -> Message:
    """``build_resolved_reply``'s message, before rendering."""
    lasted = age(resolved_at - opened_at)
    line = (f"*Resolved*: run `{safe(run_id, 100)}` no longer finds it (last observed "
            f"{num(finding.observed)}, threshold {num(finding.threshold)}); it was open for {lasted}.")
    text = f"RESOLVED {finding.check_id} on {safe(finding.subject, SUBJECT_LIMIT)} after {lasted}"
    return Message(fallback=text, sections=(Section((Line(line, icon="resolved"),)),))


def build_digest(incidents: Sequence[OpenIncident], now: datetime) -> dict[str, Any]:
    """One message listing open incidents, worst and oldest first, one line each, packed into few sections."""
    return render(digest_message(incidents, now))


def digest_message(incidents: Sequence[OpenIncident], now: datetime) -> Message:
    """``build_digest``'s message, before rendering."""
    ordered = sorted(incidents, key=lambda i: (-i.severity.rank, i.opened_at, i.check_id, i.subject))
    counts = Counter(i.severity for i in ordered)
    split = ", ".join(f"{counts[s]} {s.value}" for s in ORDER if counts[s]) or "none"
    title = f"Steward: {len(ordered)} open incident{'' if len(ordered) == 1 else 's'} ({split})"
    lines = [Line(f"*{i.severity.value.upper()}* `{i.check_id}` · {safe(i.subject, SUBJECT_LIMIT)} · "
                  f"open {age(now - i.opened_at)} · observed {num(i.observed)} · {safe(i.channel, 80)}",
                  icon=i.severity.value) for i in ordered]
    sections, shown = _pack(Message(fallback=title, title=title), lines)
    if shown < len(lines):
        more = f"*+{len(lines) - shown} more open incidents*: `steward alerts list` shows them all."
        sections.append(_section(more))
    if not lines:
        sections.append(_section("No open incidents."))
    return Message(fallback=title, title=title, sections=tuple(sections))


def build_message(findings: Sequence[Finding], run_id: str, report: str | None = None,
                  flow_run_url: str | None = None) -> dict[str, Any]:
    """The Slack payload ``{"text": fallback, "blocks": [...]}`` summarising one run's findings in one message.

    Args:
        findings: The run's findings, in any order; the message shows the worst first.
        run_id: Shown in the context line so the alert can be traced to the run ledger.
        report: Path or URL of the HTML report; URLs become links, paths are shown as code.
        flow_run_url: Link to the orchestrator's run page, if there is one.
    """
    return render(summary_message(findings, run_id, report, flow_run_url))


def summary_message(findings: Sequence[Finding], run_id: str, report: str | None = None,
                    flow_run_url: str | None = None) -> Message:
    """``build_message``'s message, before rendering; what does not fit Slack's limits is a "+N more" line."""
    ordered = _worst_first(findings)
    frame = Message(fallback=_fallback(findings, run_id), title=_title(findings),
                    context=_context(run_id, report, flow_run_url))
    budget = MAX_BLOCK_CHARS - chars(blocks(frame)) - 200  # 200: room for the "+N more" line
    sections: list[Section] = []
    for finding in ordered:
        section = finding_section(finding)
        size = len(section_text(section))
        if 1 + len(sections) >= MAX_BLOCKS - 2 or size > budget:
            break
        sections.append(section)
        budget -= size
    if len(sections) < len(ordered):
        sections.append(_section(_more_text(ordered[len(sections):], report)))
    return Message(fallback=frame.fallback, title=frame.title, sections=tuple(sections), context=frame.context)


def render_text(findings: Iterable[Finding]) -> str:
    """One plain line per finding, worst first, for the console when no Slack is configured."""
    ordered = _worst_first(findings)
    if not ordered:
        return "No findings."
    return "\n".join(
        f"{f.severity.value.upper():8} {f.check_id} [{f.family}] {redact(subject_text(f))}: {redact(f.metric)} "
        f"{num(f.observed)} vs threshold {num(f.threshold)} - {redact(' '.join(f.explanation.split()))}"
        for f in ordered)


def console_line(payload: dict[str, Any]) -> str:
    """A payload's fallback text as one console line, with mrkdwn's escapes undone (it goes to no channel)."""
    text = " ".join(str(payload.get("text") or "").split())
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _pack(frame: Message, lines: Sequence[Line]) -> tuple[list[Section], int]:
    """``lines`` as sections of at most SECTION_LIMIT characters under ``frame``'s title; and how many fit."""
    budget = MAX_BLOCK_CHARS - chars(blocks(frame)) - 200  # 200: room for the "+N more" line
    sections: list[Section] = []
    chunk: list[Line] = []
    size_of_chunk = 0
    shown = 0
    for line in lines:
        size = len(line_text(line)) + 1
        if size > budget:
            break
        if chunk and size_of_chunk + size > SECTION_LIMIT:
            if 1 + len(sections) >= MAX_BLOCKS - 2:
                break
            sections.append(Section(tuple(chunk)))
            chunk, size_of_chunk = [], 0
        chunk.append(line)
        size_of_chunk += size
        budget -= size
        shown += 1
    if chunk:
        sections.append(Section(tuple(chunk)))
    return sections, shown


def _section(text: str) -> Section:
    return Section((Line(text),))


def _context(run_id: str, report: str | None, flow_run_url: str | None) -> tuple[str | Link, ...]:
    """The run, and the report and the orchestrator's run page when there are any."""
    links = [Link(report, "Report")] if report else []
    return (f"Run `{safe(run_id, 100)}`", *links, *([Link(flow_run_url, "Flow run")] if flow_run_url else []))


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
    return "\n".join(lines)
