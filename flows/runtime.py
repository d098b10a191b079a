"""Prefect and dbt settings Steward runs with, applied before either library is imported.

A newcomer's first run must not phone home, must not wait on a heartbeat thread, and must keep the terminal for
Steward's own progress; users who want Prefect's logs set PREFECT_LOGGING_LEVEL themselves.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["apply_defaults", "flow_settings"]

_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "PREFECT_LOGGING_LEVEL": "CRITICAL",  # a failed run is reported by the CLI in one line, not a traceback
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
}


# Prefect's background queue services log under their bare class names, outside the ``prefect`` logger tree, so
# PREFECT_LOGGING_LEVEL does not reach them. At exit they warn about events still queued for a temporary server
# that is already gone; that line would land after the CLI's own one-line error and bury it.
_SERVICE_LOGGERS = ("EventsWorker", "APILogWorker")


def apply_defaults() -> None:
    user_chose_logging = "PREFECT_LOGGING_LEVEL" in os.environ
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
    if not user_chose_logging:
        for name in _SERVICE_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def flow_settings() -> Iterator[None]:
    """No flow-run heartbeat: our runs are short and its thread costs a second at every exit."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
