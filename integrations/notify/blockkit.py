"""The Slack renderer: a neutral ``model.Message`` in, Slack's ``{"text": fallback, "blocks": [...]}`` out.

The only module in Steward that writes Block Kit (the Slack emulator parses it, as Slack does). It owns everything
that is Slack's and not the message's: block shapes (a ``header`` for the title, one ``section`` of mrkdwn per
section, a ``context`` for the context items), the emoji an icon name stands for, how a fact's label looks, and
Slack's size limits. Producers that must fit a message into Slack (``message.build_message``, ``build_digest``)
measure with ``chars`` and ``section_text`` so what they leave out is what Slack would have refused.
"""

from __future__ import annotations

from typing import Any, Sequence

from ._format import clip, link
from .model import Fact, Icon, Line, Link, Message, Section

__all__ = ["render", "blocks", "section_text", "line_text", "title_text", "chars", "EMOJI", "MAX_BLOCKS",
           "MAX_BLOCK_CHARS", "HEADER_LIMIT", "SECTION_LIMIT", "FALLBACK_LIMIT"]

MAX_BLOCKS = 45             # Slack allows 50; the rest is headroom for callers that add a block
MAX_BLOCK_CHARS = 11_000    # Slack rejects ~13.2k characters of block text (msg_blocks_too_long)
HEADER_LIMIT = 150
SECTION_LIMIT = 3_000
FALLBACK_LIMIT = 3_000

EMOJI: dict[Icon, str] = {
    "critical": ":red_circle:", "warn": ":large_orange_circle:", "info": ":large_blue_circle:",
    "resolved": ":white_check_mark:", "worse": ":arrow_double_up:", "still_open": ":repeat:",
    "down": ":red_circle:", "degraded": ":large_orange_circle:", "unknown": ":white_circle:",
    "recovered": ":white_check_mark:",
    "go": ":large_green_circle:", "go_with_conditions": ":large_yellow_circle:", "no_go": ":red_circle:"}


def render(message: Message) -> dict[str, Any]:
    """The payload ``chat.postMessage`` and ``chat.update`` take (``text`` and ``blocks``)."""
    return {"text": clip(message.fallback, FALLBACK_LIMIT), "blocks": blocks(message)}


def blocks(message: Message) -> list[dict[str, Any]]:
    """Header (when there is a title), one section per section, context (when there is any), in that order."""
    out: list[dict[str, Any]] = []
    if message.title is not None:
        out.append({"type": "header",
                    "text": {"type": "plain_text", "text": title_text(message), "emoji": True}})
    out += [{"type": "section", "text": {"type": "mrkdwn", "text": section_text(s)}} for s in message.sections]
    if message.context:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _context_text(item)}
                                                    for item in message.context]})
    return out


def title_text(message: Message) -> str:
    """Plain text, so nothing in a title can ping or link; the icon leads it."""
    title = message.title or ""
    return clip(f"{EMOJI[message.icon]} {title}" if message.icon else title, HEADER_LIMIT)


def section_text(section: Section) -> str:
    """The section's lines as mrkdwn, within its limit, a mention (already validated) leading them."""
    limit = min(section.limit or SECTION_LIMIT, SECTION_LIMIT)
    text = clip("\n".join(line_text(line) for line in section.lines), limit)
    return clip(f"{section.mention} {text}", limit) if section.mention else text


def line_text(line: Line | Fact) -> str:
    if isinstance(line, Fact):
        return f"*{line.label}:* {line.value}"
    return f"{EMOJI[line.icon]} {line.text}" if line.icon else line.text


def chars(rendered: Sequence[dict[str, Any]]) -> int:
    """Characters of text in blocks, the way Slack's overall limit counts them (approximately)."""
    total = 0
    for block in rendered:
        total += len((block.get("text") or {}).get("text", ""))
        total += sum(len(e.get("text", "")) for e in block.get("elements", []))
    return total


def _context_text(item: str | Link) -> str:
    return link(item.target, item.label) if isinstance(item, Link) else item
