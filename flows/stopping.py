"""A shared stop flag: a signal asks a run to stop, and long loops stop at their next safe point.

Ctrl-C or SIGTERM must not tear a batch in half. The CLI's signal handler only *asks* (``request_stop``); the pull
loop looks between batches (``raise_if_stopped``), so every batch either commits whole with its watermark or was
never started. The flag lives in its own module because the pull loop (``flows/pull.py``), the governance flow and
the signal handler (``flows/interrupt.py``) all need it, and none should import another's internals.
"""

from __future__ import annotations

import threading
from typing import Callable

from ..contracts.errors import RunInterrupted

__all__ = ["on_stop", "request_stop", "stop_requested", "stop_reason", "raise_if_stopped", "reset"]

_STOP = threading.Event()
_reason: str | None = None
_listener: Callable[[], None] | None = None


def on_stop(listener: Callable[[], None] | None) -> None:
    """Who is told when a stop is requested (the CLI's watchdog); one listener, None removes it."""
    global _listener
    _listener = listener


def request_stop(reason: str) -> None:
    """Ask every loop that checks the flag to stop at its next safe point; ``reason`` names why (``SIGINT``)."""
    global _reason
    if not _STOP.is_set():
        _reason = reason
        _STOP.set()
    if _listener is not None:
        _listener()


def stop_requested() -> bool:
    return _STOP.is_set()


def stop_reason() -> str | None:
    return _reason if _STOP.is_set() else None


def raise_if_stopped(where: str) -> None:
    """The safe-point check: ``where`` says what stopped (``salesforce.contacts``), for the run's ledger."""
    if _STOP.is_set():
        raise RunInterrupted(f"{where}: stopped at a batch boundary ({_reason})")


def reset() -> None:
    """Clear the flag: a process that runs again after a stop (a test, a long-lived worker) starts clean."""
    global _reason
    _reason = None
    _STOP.clear()
