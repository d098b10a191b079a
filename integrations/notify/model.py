"""The neutral message model: what Steward says to people, with no channel's format in it.

Producers (``message`` for findings and incidents, ``health_messages`` for integration health, ``launch_message``
for go/no-go verdicts) build a ``Message``; one renderer per channel turns it into that channel's payload
(``blockkit`` for Slack). A new channel, Teams say, is one more renderer over the same model, and no producer changes.

The model has only what the three producers need, the way Elementary's ``messages`` package does it: a title led by
an icon, sections of lines (a line may be led by an icon, or be a labelled fact), an optional mention that leads a
section, context items (plain notes or links) and a plain-text fallback. Icons are names (``critical``, ``down``,
``go`` ...), never a channel's emoji. Line and fact text is Steward's light markup: ``*bold*`` and ```code```, with
every value from outside already made safe by ``_format.safe`` (redacted, escaped, clipped), because what must not
reach a channel must not reach any channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

__all__ = ["Icon", "Line", "Fact", "Section", "Link", "Message"]

Icon = Literal["critical", "warn", "info", "resolved", "worse", "still_open", "down", "degraded", "unknown",
               "recovered", "go", "go_with_conditions", "no_go"]


@dataclass(frozen=True)
class Line:
    """One line of a section, optionally led by an icon."""

    text: str
    icon: Icon | None = None


@dataclass(frozen=True)
class Fact:
    """A labelled value (``Subject: hubspot``); the renderer decides how a label looks."""

    label: str
    value: str


@dataclass(frozen=True)
class Section:
    """Lines shown together. ``mention`` (a validated channel mention) leads it; ``limit`` caps its characters
    below the channel's own cap, for producers that keep extra headroom."""

    lines: tuple[Union[Line, Fact], ...]
    mention: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Link:
    """A report or run page: a link when ``target`` is an http(s) URL, else shown as a path."""

    target: str
    label: str


@dataclass(frozen=True)
class Message:
    """One message. ``fallback`` is the plain text shown in notifications and wherever rich layout is not."""

    fallback: str
    title: str | None = None
    icon: Icon | None = None
    sections: tuple[Section, ...] = ()
    context: tuple[Union[str, Link], ...] = ()
