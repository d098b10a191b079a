"""The pre-launch audit's go/no-go message: the verdict, then each reason with its numbers, as a neutral
``model.Message`` (``verdict_message``) and as the Slack payload (``verdict_payload``).

It reads the launch spec and the verdict through the small Protocols below, so this room needs nothing from the
flows that decide them. Reasons carry numbers and masked ids only; ``escape`` removes any email-shaped text that a
spec's name or a subject might carry.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol, Sequence

from ._format import escape, redact, safe
from .blockkit import render
from .model import Line, Message, Section

__all__ = ["verdict_message", "verdict_payload", "MAX_REASONS"]

MAX_REASONS = 40  # blocking reasons and conditions shown; the export has them all
_LIMIT = 2_900    # characters per section and context line, under Slack's 3,000
_ICON = {"GO": "go", "GO WITH CONDITIONS": "go_with_conditions", "NO-GO": "no_go"}


class LaunchSpecView(Protocol):
    """What the message shows of a launch spec (``flows.launch_spec.LaunchSpec`` fits)."""

    id: str
    name: str
    starts_on: date
    ends_on: date
    channels: Sequence[str]


class ReasonView(Protocol):
    kind: str
    check_id: str
    subject: str
    explanation: str
    condition: str


class VerdictView(Protocol):
    """What the message shows of a verdict (the launch checks' ``Verdict`` fits)."""

    verdict: str
    blocking: Sequence[ReasonView]
    conditions: Sequence[ReasonView]
    checks_evaluated: Sequence[str]


def verdict_payload(spec: LaunchSpecView, verdict: VerdictView, audit_id: str, export: str | None) -> dict[str, Any]:
    """The Slack payload of ``verdict_message``."""
    return render(verdict_message(spec, verdict, audit_id, export))


def verdict_message(spec: LaunchSpecView, verdict: VerdictView, audit_id: str, export: str | None) -> Message:
    """The verdict and its counts, then one section per reason (a condition with what to do about it), then where
    the details are."""
    title = f"Pre-launch audit: {spec.name} — {verdict.verdict}"
    head = (f"*{verdict.verdict}* for `{spec.id}` ({spec.starts_on} to {spec.ends_on}, {', '.join(spec.channels)}): "
            f"{len(verdict.blocking)} blocking, {len(verdict.conditions)} conditions, "
            f"{len(verdict.checks_evaluated)} checks.")
    sections = [Section((Line(escape(head), icon=_ICON[verdict.verdict]),), limit=_LIMIT)]
    sections += [_reason(r) for r in [*verdict.blocking, *verdict.conditions][:MAX_REASONS]]
    context = f"audit `{audit_id}`" + (f" · details: `{export}`" if export else "")
    return Message(fallback=redact(f"{title}: {len(verdict.blocking)} blocking, {len(verdict.conditions)} conditions"),
                   title=safe(title, 150), sections=tuple(sections), context=(safe(context, _LIMIT),))


def _reason(r: ReasonView) -> Section:
    line = Line(escape(f"*{'Blocking' if r.kind == 'blocking' else 'Condition'}* `{r.check_id}` {r.subject}: "
                       f"{r.explanation}"))
    then = (Line(escape(f"→ {r.condition}")),) if r.kind == "condition" else ()
    return Section((line, *then), limit=_LIMIT)
