"""Numbers and series as people read them in an explanation: ``0 (6 times), then 1,281``, never ``[0.0, ..., 1281.0]``.

An explanation is a sentence a marketing-ops person reads in the report, in Slack and in an auditor's evidence pack.
Policy templates name mart columns, and some of those columns hold a series (weekly sends, a baseline's values):
``Series`` formats such a column the way the template's format spec asks, element by element, and runs of equal
values are said once with their count. Pure: no I/O.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

__all__ = ["Series", "number_text", "series_text"]


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
    """A series as words: ``12, 40 (3 times), then 1,281``; ``none`` when it is empty."""
    runs: list[list[Any]] = []  # [text, count]
    for value in values:
        text = number_text(value, spec)
        if runs and runs[-1][0] == text:
            runs[-1][1] += 1
        else:
            runs.append([text, 1])
    if not runs:
        return "none"
    words = [text if count == 1 else f"{text} ({count} times)" for text, count in runs]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + ", then " + words[-1]


class Series(list):
    """A list that formats as ``series_text`` in ``str.format``: ``{weekly_spend:,.0f}`` applies the spec to each
    value. Still a list for anything else that reads it."""

    def __format__(self, spec: str) -> str:
        return series_text(self, spec)

    def __str__(self) -> str:
        return series_text(self)
