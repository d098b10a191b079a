"""``steward.yaml``: where the warehouse is, which policy applies, and which integrations to pull.

Relative paths are resolved against the config file's folder, so a workspace can be moved or checked into a repo.
Secrets are never in this file: an integration or Slack names the environment variable that holds them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from ..contracts.mapping import EntityMapping, MappingError, check_mappings
from ..contracts.policy import Policy
from ..contracts.yaml_input import read_yaml_mapping
from ..contracts.errors import ConfigError
from ..integrations.warehouse.landing import QUARANTINE_KEEP_MAX
from ..integrations.warehouse.target import PostgresTarget, is_postgres_url
from ..integrations.sources.streams import PLATFORMS

__all__ = ["IntegrationConfig", "RetryConfig", "SlackConfig", "DuckDBConfig", "StewardConfig", "load_config",
           "write_config", "effective_policy", "KILL_SWITCH_ENV"]

KILL_SWITCH_ENV = "STEWARD_KILL_SWITCH"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetryConfig(_Strict):
    """How patiently an API integration is pulled; the defaults suit a nightly run against a real platform."""

    attempts: int = Field(6, ge=1, le=20)
    initial_wait: float = Field(0.5, ge=0)
    max_wait: float = Field(30.0, ge=0)
    timeout: float = Field(30.0, gt=0)


class IntegrationConfig(_Strict):
    """One connected platform. ``kind`` says how it is read: export files in a folder, the platform's API, or
    tables an ELT tool (Fivetran, Airbyte) already synced into a warehouse."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    platform: str
    kind: Literal["export_files", "api", "warehouse_tables"] = "export_files"
    path: Path | None = None  # export folder, or the DuckDB file an ELT tool syncs into
    base_url: str | None = None  # API root (api), or a postgresql:// DSN (warehouse_tables)
    credentials: dict[str, str] = Field(default_factory=dict)  # credential field -> NAME of the env variable
    entities: list[str] | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # platform specifics (API version, customer id, ...)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    batch_rows: int = Field(50_000, ge=100)
    quarantine_keep_max: int = Field(QUARANTINE_KEEP_MAX, ge=0)  # quarantined rows kept per batch; counts stay exact
    schedule: str | None = None  # cron for the health monitor and deployments; informational for a single run
    # export_files only: "snapshot" (each file holds the whole entity; a much shorter file is a volume drop) or
    # "delta" (each file holds only the rows new or changed since the last one, merged by key)
    delivery: Literal["snapshot", "delta"] = "snapshot"
    # per entity: where its rows come from (file or table) and how its columns map onto its contract
    # (contracts/mapping.py, docs/configuration.md "Mappings"); without one, an entity is read as the platform's own
    mappings: dict[str, EntityMapping] = Field(default_factory=dict)

    @field_validator("credentials")
    @classmethod
    def _names_not_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for key, var in value.items():
            if not _ENV_NAME.match(var):
                raise ValueError(f"credentials.{key} must name an environment variable (like SALESFORCE_CLIENT_SECRET),"
                                 " not hold the secret itself")
        return value

    @model_validator(mode="after")
    def _kind_needs(self) -> "IntegrationConfig":
        if self.kind == "export_files" and self.path is None:
            raise ValueError(f"integration '{self.name}': kind export_files needs 'path' (the export folder)")
        if self.kind != "export_files" and self.delivery != "snapshot":
            raise ValueError(f"integration '{self.name}': delivery applies to export files only ({self.kind} pulls "
                             "are incremental by their watermark)")
        if self.kind == "api" and not self.base_url:
            raise ValueError(f"integration '{self.name}': kind api needs 'base_url'")
        if self.kind == "warehouse_tables" and self.path is None and not self.base_url:
            raise ValueError(f"integration '{self.name}': kind warehouse_tables needs 'path' (a DuckDB file) "
                             "or 'base_url' (a postgresql:// DSN)")
        check_mappings(self.platform, self.kind, self.mappings)  # MappingError names its field under the integration
        return self

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        if value not in PLATFORMS:
            raise ValueError(f"unknown platform '{value}' (known: {', '.join(sorted(PLATFORMS))})")
        return value


class SlackConfig(_Strict):
    channel: str | None = None  # defaults to the policy's alerts.channel
    token_env: str = "SLACK_BOT_TOKEN"
    token_block: str | None = None  # a Prefect Secret block holding the bot token, used when token_env is unset
    api_url_env: str = "SLACK_API_URL"


class ServeConfig(_Strict):
    """``steward serve``: where it listens for Slack's interaction requests, and where its signing secret is."""

    host: str = "127.0.0.1"  # behind a TLS proxy or tunnel that Slack's request URL points at
    port: int = Field(3000, ge=1, le=65535)
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    signing_secret_block: str | None = None  # a Prefect Secret block, used when signing_secret_env is unset


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
# DuckDB's share of a run by default: a fixed size, not a share of RAM. A run's process tree is the run (Python, dbt,
# Prefect's client: about 0.6 GiB) plus Prefect's temporary server (about 0.25 GiB), then DuckDB; with 1 GiB for
# DuckDB a 1M-contact / 10M-event run stays under 2 GiB, and a larger one spills to temp_directory instead of taking
# the machine (at 75 % of RAM, DuckDB kept up to 18 GiB of pages on a 24 GiB machine). docs/configuration.md.
DEFAULT_MEMORY_LIMIT = "1GiB"


def _machine_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


class DuckDBConfig(_Strict):
    """How much of the machine DuckDB may use, in dbt's build and in Steward's own queries. A run whose data does not
    fit in ``memory_limit`` spills to ``temp_directory`` instead of failing, so the limit bounds memory, not size."""

    threads: int | None = Field(None, ge=1, le=1024)  # default: the CPUs this process may use
    memory_limit: str | None = None  # "8GB", "512MiB" or a share of RAM, "60%"; default 1GiB
    temp_directory: Path | None = None  # default (DuckDB's own): "<warehouse>.tmp" beside the warehouse file

    @field_validator("memory_limit")
    @classmethod
    def _a_size(cls, value: str | None) -> str | None:
        if value is None:
            return value
        found = _SIZE.match(str(value))
        if not found or float(found.group(1)) <= 0 or (found.group(2) == "%" and float(found.group(1)) > 100):
            raise ValueError(f"'{value}' is not a memory size: write it like 8GB, 512MiB or 60% (of the machine's RAM)")
        return value.strip()

    def settings(self, warehouse: Path) -> dict[str, str]:
        """The DuckDB settings for a warehouse file, defaults filled in, as ``SET`` and dbt-duckdb's profile take
        them (a share of RAM becomes MiB here: DuckDB itself only takes sizes). Without a ``temp_directory`` DuckDB
        spills to ``<warehouse>.tmp``, so none is set."""
        found = _SIZE.match(self.memory_limit or DEFAULT_MEMORY_LIMIT)
        number, unit = float(found.group(1)), found.group(2).upper()
        limit = number / 100 * _machine_memory() if unit == "%" else number * _UNITS[unit]
        out = {"threads": str(self.threads or _usable_cpus()), "memory_limit": f"{max(1, int(limit // 1024**2))}MiB"}
        if self.temp_directory is not None:
            out["temp_directory"] = str(self.temp_directory)
        return out


class StewardConfig(_Strict):
    # a DuckDB file (the default) or postgresql://USER@HOST:PORT/DATABASE; the password never sits in this file:
    # ``warehouse_password_env`` names the environment variable that holds it
    warehouse: Path | PostgresTarget = Path("steward.duckdb")
    warehouse_password_env: str | None = None
    policy: Path | None = None
    work_dir: Path = Path("steward-work")
    report_dir: Path = Path("reports")
    integrations: list[IntegrationConfig] = Field(min_length=1)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    audit_anchor: Path | None = None  # append-only JSON lines file each run writes the audit log's head to
    source: Path | None = None
    lock_timeout_seconds: float = Field(600.0, ge=0)  # how long a run or health check waits for another run
    duckdb: DuckDBConfig = Field(default_factory=DuckDBConfig)  # threads, memory_limit, temp_directory
    serve: ServeConfig = Field(default_factory=ServeConfig)  # `steward serve` (approvals from Slack)

    @model_validator(mode="before")
    @classmethod
    def _warehouse_target(cls, data: Any) -> Any:
        """A PostgreSQL URL becomes a :class:`PostgresTarget` (checked: no password, user, host, database)."""
        if isinstance(data, dict) and is_postgres_url(data.get("warehouse")):
            try:
                target = PostgresTarget.from_url(data["warehouse"], data.get("warehouse_password_env"))
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
            return {**data, "warehouse": target}
        return data

    @field_serializer("warehouse", when_used="json")
    def _warehouse_text(self, value: Path | PostgresTarget) -> str:
        """A server as its URL (no secret in it), as steward.yaml spells it."""
        return value.display if isinstance(value, PostgresTarget) else str(value)

    @field_validator("integrations")
    @classmethod
    def _unique_names(cls, value: list[IntegrationConfig]) -> list[IntegrationConfig]:
        names = [i.name for i in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"integration name '{dupes[0]}' is used twice")
        return value

    def resolved(self, base: Path) -> "StewardConfig":
        def fix(p: Path | None) -> Path | None:
            if p is None or isinstance(p, PostgresTarget):  # a server is not a path
                return p
            return (p if p.is_absolute() else (base / p)).resolve()

        return self.model_copy(update={
            "warehouse": fix(self.warehouse), "policy": fix(self.policy), "work_dir": fix(self.work_dir),
            "report_dir": fix(self.report_dir), "audit_anchor": fix(self.audit_anchor),
            "duckdb": self.duckdb.model_copy(update={"temp_directory": fix(self.duckdb.temp_directory)}),
            "integrations": [i.model_copy(update={"path": fix(i.path)}) for i in self.integrations]})


def load_config(path: Path | str) -> StewardConfig:
    """The config at ``path`` with every path made absolute; errors name the file and the field in one line."""
    p = Path(path)
    data = read_yaml_mapping(p, "config file", "'integrations'",
                             hint=" (create one like docs/configuration.md shows, or run `steward demo`)")
    data = _mapping_files(data, p)
    try:
        cfg = StewardConfig.model_validate({**data, "source": None})
    except ValidationError as exc:
        err = exc.errors()[0]
        mapping = (err.get("ctx") or {}).get("error")
        if isinstance(mapping, MappingError) or "mappings" in err["loc"]:  # integrations[2].mappings.touches...
            at = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in err["loc"]).lstrip(".")
            if isinstance(mapping, MappingError):
                raise ConfigError(f"{p}: {at}.{mapping.field}: {mapping.reason}") from exc
            raise ConfigError(f"{p}: {at}: {err['msg'].removeprefix('Value error, ')}") from exc
        where = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        # the warehouse URL's own check already names its field (warehouse or warehouse_password_env)
        raise ConfigError(f"{p}: {msg}" if not where and msg.startswith("warehouse") else f"{p}: {where}: {err['msg']}") from exc
    return cfg.resolved(p.parent.resolve()).model_copy(update={"source": p.resolve()})


def _mapping_files(data: dict, config: Path) -> dict:
    """An integration's ``mappings`` may name a YAML file (relative to the config's folder) holding the entity
    mappings instead of listing them inline, so one platform's mapping is a file a team copies or shares
    (examples/mappings/). The file is data like the rest: read by the one YAML reader, validated like inline
    mappings; its errors name the config, the field and the file."""
    integrations = data.get("integrations")
    if not isinstance(integrations, list):
        return data
    resolved = []
    for index, entry in enumerate(integrations):
        named = entry.get("mappings") if isinstance(entry, dict) else None
        if isinstance(named, str):
            where = f"{config}: integrations[{index}].mappings"
            path = Path(named) if Path(named).is_absolute() else config.parent / named
            try:
                entry = {**entry, "mappings": read_yaml_mapping(path, "mapping file", "entity mappings")}
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        resolved.append(entry)
    return {**data, "integrations": resolved}


def effective_policy(policy: Policy, dry_run: bool = False) -> Policy:
    """The policy with the run's overrides: ``--dry-run``, and the kill switch any operator can throw from the
    environment (``STEWARD_KILL_SWITCH=1``) without editing the policy file. Overrides only ever make it safer."""
    kill = os.environ.get(KILL_SWITCH_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    actions = policy.actions.model_copy(update={"dry_run": policy.actions.dry_run or dry_run,
                                                "kill_switch": policy.actions.kill_switch or kill})
    return policy.model_copy(update={"actions": actions})


def write_config(cfg: StewardConfig, path: Path) -> Path:
    data = cfg.model_dump(mode="json", exclude={"source"}, exclude_none=True)
    if not data.get("duckdb"):
        data.pop("duckdb", None)  # DuckDB's defaults: nothing to write
    if data.get("serve") == ServeConfig().model_dump(mode="json", exclude_none=True):
        data.pop("serve", None)
    data["integrations"] = [i.model_dump(mode="json", exclude_defaults=True) for i in cfg.integrations]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
