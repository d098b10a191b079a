"""Errors Steward raises on purpose, each with a message a marketing-ops engineer can act on in one line.

    StewardError                 anything Steward refuses to do, with the source and field it concerns
     ├── ConfigError             a config or policy file is missing, unreadable or invalid
     ├── SourceError             an integration's data cannot be read (missing file, not the expected export)
     │    ├── BreakingDrift       one batch's schema drifted too far to land (caught per entity: the run goes on)
     │    ├── MappingFailed       an entity's mapping cannot be applied to its source (the run exits 2 once the
     │    │    │                  integration's other entities landed)
     │    │    └── MappingColumnMissing   a source column the mapping names is not in the file or table
     │    └── PaginationLoop      an API named a page it had already sent (reading on would never end)
     ├── WarehouseError          the warehouse cannot be opened or written
     │    └── WarehouseBusy       another run holds the writer lock past the wait allowed
     ├── TransformError          the dbt build failed on a model (not on a data test: those become findings)
     ├── QueryFailed             a launch spec's confined query passed its checks and failed while running
     ├── NotifyError             Slack refused the bot for good (bad token, missing scope)
     │    └── ChannelError        one channel refused the bot (unknown, archived, bot not invited)
     ├── RunInterrupted          a stop was asked for (SIGINT/SIGTERM); raised at the next safe point
     └── ApprovalError           an answer ``steward approve`` will not send

Every error Steward raises on purpose is defined here, in the room every other room may import, so a caller in
``flows/`` or ``integrations/`` catches them without importing the module that raises them.

The CLI prints ``str(error)`` alone and exits 2, so messages start with the file or integration they concern.
"""

from __future__ import annotations

__all__ = ["StewardError", "ConfigError", "SourceError", "BreakingDrift", "MappingFailed", "MappingColumnMissing",
           "PaginationLoop", "WarehouseError",
           "WarehouseBusy", "TransformError", "QueryFailed", "NotifyError", "ChannelError", "RunInterrupted",
           "ApprovalError"]


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


class MappingFailed(SourceError):
    """An entity's mapping (``contracts/mapping.py``) could not be applied to its source: that entity is not read,
    and the run exits 2 once the integration's other entities have landed (``flows/pull.py``)."""


class MappingColumnMissing(MappingFailed):
    """A source column a mapping names is not in the file or table."""


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


class PaginationLoop(SourceError):
    """The platform named a page marker that was already followed: going on would read the same pages forever."""


class WarehouseBusy(WarehouseError):
    """Another run holds the warehouse's writer lock and did not let go within the wait allowed."""


class QueryFailed(StewardError):
    """The query passed the checks but failed while running; the message holds no data values."""

    def __init__(self, message: str, part: str) -> None:
        super().__init__(message)
        self.part = part


class RunInterrupted(StewardError):
    """Raised at a safe point (a batch boundary) after a stop was requested; nothing half-done was committed."""


class ApprovalError(StewardError):
    """An answer ``steward approve`` will not send: no such request, wrong target, no token, delegation refused."""
