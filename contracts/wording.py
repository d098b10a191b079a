"""Numbers and series as people read them in an explanation: ``0 (6 times), then 1,281``, never ``[0.0, ..., 1281.0]``.

An explanation is a sentence a marketing-ops person reads in the report, in Slack and in an auditor's evidence pack.
Policy templates name mart columns, and some of those columns hold a series (weekly sends, a baseline's values):
``Series`` formats such a column the way the template's format spec asks, element by element, and runs of equal
values are said once with their count. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

__all__ = ["Series", "Pairs", "number_text", "series_text", "as_words"]


def number_text(value: Any, spec: str = "") -> str:
    """One value: with the template's spec when it gives one, else whole numbers with thousands separators and at
    most two decimals (``1,281``, ``0.25``); a missing value reads ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value) if not spec else format(str(value), spec)
    if spec:
        return format(value, spec)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def series_text(values: Iterable[Any], spec: str = "") -> str:
    """A series as words: ``12, 40 (3 times), then 1,281``, or ``0 all 6 times``; names as a list (``LeadSource and Region``); ``none``
    when it is empty."""
    values = list(values)
    if any(isinstance(v, str) for v in values):
        names = [number_text(v, spec) for v in values]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    runs: list[list[Any]] = []  # [text, count]
    for value in values:
        text = number_text(value, spec)
        if runs and runs[-1][0] == text:
            runs[-1][1] += 1
        else:
            runs.append([text, 1])
    if not runs:
        return "none"
    if len(runs) == 1 and runs[0][1] > 1:
        return f"{runs[0][0]} all {runs[0][1]} times"
    words = [text if count == 1 else f"{text} ({count} times)" for text, count in runs]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + ", then " + words[-1]


def as_words(value: Any) -> Any:
    """A value ready for an explanation: a list (or a string holding a JSON list or object, as marts keep drift)
    becomes a ``Series`` or ``Pairs`` that formats as words; anything else is returned as it is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return Series(value)
    if isinstance(value, dict):
        return Pairs(value)
    return value


class Pairs(dict):
    """A mapping that formats as ``Email → EmailAddress, Amount → text`` (``none`` when empty)."""

    def __format__(self, spec: str) -> str:
        return ", ".join(_pair(k, v) for k, v in self.items()) or "none"

    def __str__(self) -> str:
        return format(self, "")


class Series(list):
    """A list that formats as ``series_text`` in ``str.format``: ``{weekly_spend:,.0f}`` applies the spec to each
    value. Still a list for anything else that reads it."""

    def __format__(self, spec: str) -> str:
        return series_text(self, spec)

    def __str__(self) -> str:
        return series_text(self)


def _pair(key: Any, value: Any) -> str:
    """``Email → EmailAddress``; a nested change (a retyped column) as ``Amount (DOUBLE → VARCHAR)``."""
    if isinstance(value, dict):
        if {"from", "to"} <= set(value):
            return f"{key} ({value['from']} → {value['to']})"
        return f"{key} ({', '.join(_pair(k, v) for k, v in value.items())})"
    return f"{key} → {value}"
