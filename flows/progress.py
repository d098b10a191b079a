"""Stage-by-stage progress of a run, for whoever is watching (the CLI's rich display, or nobody).

Flows report through a module-level hook rather than a parameter because Prefect parameters must serialise.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["Reporter", "set_reporter", "report"]

Reporter = Callable[[str, str], None]
_reporter: Reporter | None = None


def set_reporter(fn: Reporter | None) -> None:
    global _reporter
    _reporter = fn


def report(stage: str, detail: str) -> None:
    if _reporter is not None:
        _reporter(stage, detail)
