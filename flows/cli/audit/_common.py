"""What every file audit's command shares: ``--fail-on`` and the exit code it decides.

Exit codes are the contract a CI job gates on: 0 nothing at or above ``--fail-on``, 1 at least one finding (or
warning) at or above it, 2 bad input (raised as a ``StewardError`` and turned into one line by ``one_line_errors``).
"""

from __future__ import annotations

from typing import Iterable

import typer

__all__ = ["FAIL_ON_LEVELS", "fail_on_option", "exit_code"]

FAIL_ON_LEVELS = ("info", "warn", "critical", "never")
_RANK = {"info": 0, "warn": 1, "critical": 2}


def fail_on_option() -> str:
    """The ``--fail-on`` option, declared once so every audit spells and documents it the same way."""
    return typer.Option("warn", "--fail-on", help="Exit 1 when a finding is at or above this severity: "
                        "info | warn | critical | never.", case_sensitive=False)


def exit_code(severities: Iterable[str | None], fail_on: str) -> int:
    """1 when any severity (``info``/``warn``/``critical``; None = no finding) reaches ``fail_on``, else 0."""
    level = fail_on.lower()
    if level not in FAIL_ON_LEVELS:
        raise typer.BadParameter(f"--fail-on must be one of {', '.join(FAIL_ON_LEVELS)}, not '{fail_on}'")
    if level == "never":
        return 0
    return int(any(s is not None and _RANK[str(getattr(s, "value", s))] >= _RANK[level] for s in severities))
