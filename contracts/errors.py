"""Errors Steward raises on purpose, each with a message a marketing-ops engineer can act on in one line.

    StewardError                 anything Steward refuses to do, with the source and field it concerns
     ├── ConfigError             a config or policy file is missing, unreadable or invalid
     ├── SourceError             an integration's data cannot be read (missing file, not the expected export)
     │    └── BreakingDrift       one batch's schema drifted too far to land (caught per entity: the run goes on)
     ├── WarehouseError          the DuckDB warehouse cannot be opened or written
     ├── TransformError          the dbt build failed on a model (not on a data test: those become findings)
     └── NotifyError             Slack refused the bot for good (bad token, missing scope)
          └── ChannelError        one channel refused the bot (unknown, archived, bot not invited)

The CLI prints ``str(error)`` alone and exits 2, so messages start with the file or integration they concern.
"""

from __future__ import annotations

__all__ = ["StewardError", "ConfigError", "SourceError", "BreakingDrift", "WarehouseError", "TransformError",
           "NotifyError", "ChannelError"]


class StewardError(Exception):
    """Base of every error Steward raises deliberately."""


class ConfigError(StewardError):
    """A config or policy file is missing, unreadable or invalid."""


class SourceError(StewardError):
    """An integration's data cannot be read as the export it claims to be."""


class BreakingDrift(SourceError):
    """A batch whose schema no longer fits its entity: unrecognisable, primary key gone, or retyped so that no row
    passes. The pull refuses that one batch and records why (``kind``, ``drift``); every other entity still lands.

    Kinds: ``unrecognisable``, ``primary_key_missing``, ``retype_fails_every_row``, ``required_column_missing``
    (raised at landing: a merge that would erase stored values of a required column the batch lacks).
    """

    def __init__(self, message: str, kind: str, drift: dict | None) -> None:
        super().__init__(message)
        self.kind = kind
        self.drift = drift


class WarehouseError(StewardError):
    """The warehouse cannot be opened or written."""


class TransformError(StewardError):
    """A dbt model failed to build."""


class NotifyError(StewardError):
    """An alert channel rejected a message permanently."""


class ChannelError(NotifyError):
    """One channel refuses the bot; alerts for other channels can still go out."""

    def __init__(self, message: str, channel: str) -> None:
        super().__init__(message)
        self.channel = channel
