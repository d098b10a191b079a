"""What every file audit's command shares: ``--fail-on`` and the exit code it decides.

Exit codes are the contract a CI job gates on: 0 nothing at or above ``--fail-on``, 1 at least one finding (or
warning) at or above it, 2 bad input (raised as a ``StewardError`` and turned into one line by ``one_line_errors``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn

import typer

from .._console import fail, one_line_errors

__all__ = ["FAIL_ON_LEVELS", "fail_on_option", "check_fail_on", "exit_code", "finish"]

FAIL_ON_LEVELS = ("info", "warn", "critical", "never")
_RANK = {"info": 0, "warn": 1, "critical": 2}


def fail_on_option() -> str:
    """The ``--fail-on`` option, declared once so every audit spells and documents it the same way."""
    return typer.Option("warn", "--fail-on", help="Exit 1 when a finding is at or above this severity: "
                        "info | warn | critical | never.", case_sensitive=False)


def check_fail_on(fail_on: str) -> None:
    """A misspelt ``--fail-on`` is bad input: one error line and exit 2 before the source is read, not after the
    audit printed its tables."""
    if fail_on.lower() not in FAIL_ON_LEVELS:
        from rich.markup import escape

        fail(f"--fail-on must be one of {', '.join(FAIL_ON_LEVELS)}, not '{escape(fail_on)}'")


def finish(*, as_json: bool, document: Callable[[], dict[str, Any]], show: Callable[[], None], html: Path | None,
           write_html: Callable[[Path], None], severities: Iterable[Any], fail_on: str) -> NoReturn:
    """How every file audit ends: ONE JSON document on stdout (``--json``, nothing else there) or the printed tables,
    the ``--html`` page if asked (a path that cannot be written is one line, exit 2), then the exit code."""
    if as_json:
        sys.stdout.write(json.dumps(document(), default=str) + "\n")
    else:
        show()
    if html is not None:
        with one_line_errors():
            write_html(html)
    raise typer.Exit(exit_code(severities, fail_on))


def exit_code(severities: Iterable[str | None], fail_on: str) -> int:
    """1 when any severity (``info``/``warn``/``critical``; None = no finding) reaches ``fail_on``, else 0."""
    level = fail_on.lower()
    if level not in FAIL_ON_LEVELS:
        raise typer.BadParameter(f"--fail-on must be one of {', '.join(FAIL_ON_LEVELS)}, not '{fail_on}'")
    if level == "never":
        return 0
    return int(any(s is not None and _RANK[str(getattr(s, "value", s))] >= _RANK[level] for s in severities))
