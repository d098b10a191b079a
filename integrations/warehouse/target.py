"""Where the warehouse lives: a DuckDB file (the embedded default) or a PostgreSQL database on a server.

``warehouse:`` in steward.yaml is either a path or a URL ``postgresql://user@host:port/database``. The URL never
holds a password: the password comes from the environment variable the config names (``warehouse_password_env``),
so steward.yaml can be committed and shared. Everything that shows a target to a person (logs, errors, reports)
uses :attr:`PostgresTarget.display`, which has no password in it by construction.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ...contracts.errors import ConfigError

__all__ = ["PostgresTarget", "WarehouseTarget", "is_postgres_url", "parse_target"]

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_postgres_url(value: object) -> bool:
    return isinstance(value, str) and value.split("://", 1)[0] in ("postgresql", "postgres")


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database Steward governs in: its schemas ``raw``, ``ledger`` and dbt's live there, as in the
    DuckDB file."""

    host: str
    port: int
    user: str
    database: str
    password_env: str | None = None

    @classmethod
    def from_url(cls, url: str, password_env: str | None = None) -> "PostgresTarget":
        """Parse ``postgresql://user@host[:port]/database``; a password in the URL is refused, not used."""
        parts = urlsplit(url)
        if parts.password is not None:
            raise ConfigError("warehouse: the URL must not hold a password; put it in an environment variable and "
                              "name that variable in `warehouse_password_env`")
        database = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not parts.username or not database:
            raise ConfigError("warehouse: a PostgreSQL URL needs a user, a host and a database: "
                              "postgresql://USER@HOST:PORT/DATABASE")
        for field, value in (("user", parts.username), ("host", parts.hostname), ("database", database)):
            if not _NAME.match(value):
                raise ConfigError(f"warehouse: the URL's {field} '{value}' has characters other than letters, "
                                  "digits, '_', '-' and '.'")
        if password_env is not None and not _ENV.match(password_env):
            raise ConfigError(f"warehouse_password_env: '{password_env}' is not an environment variable name")
        try:
            port = parts.port or 5432
        except ValueError as exc:
            raise ConfigError(f"warehouse: {exc}") from None
        return cls(parts.hostname, port, unquote(parts.username), database, password_env)

    def __str__(self) -> str:  # error messages name a warehouse by its str: never with a secret
        return self.display

    @property
    def display(self) -> str:
        """The URL without any secret: what logs, errors and reports show."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def password(self) -> str | None:
        """The password from the environment, or None (trust or peer authentication, a .pgpass file)."""
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"warehouse_password_env: the environment variable {self.password_env} is not set")
        return value

    def connect_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``psycopg.connect``; they hold the password, so never log them."""
        kwargs: dict[str, object] = {"host": self.host, "port": self.port, "user": self.user,
                                     "dbname": self.database, "application_name": "steward"}
        password = self.password()
        if password is not None:
            kwargs["password"] = password
        return kwargs


WarehouseTarget = Path | PostgresTarget


def parse_target(value: Path | str, password_env: str | None = None) -> WarehouseTarget:
    """A DuckDB path or a :class:`PostgresTarget`, from the config's ``warehouse:`` value."""
    if is_postgres_url(value):
        return PostgresTarget.from_url(str(value), password_env)
    return Path(value)
