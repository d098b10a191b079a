"""``steward.yaml``: where the warehouse is, which policy applies, and which integrations to pull.

Relative paths are resolved against the config file's folder, so a workspace can be moved or checked into a repo.
Secrets are never in this file: an integration or Slack names the environment variable that holds them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from steward.contracts.policy import Policy
from steward.integrations.errors import ConfigError
from steward.integrations.sources.streams import PLATFORMS

__all__ = ["IntegrationConfig", "SlackConfig", "StewardConfig", "load_config", "write_config", "effective_policy",
           "KILL_SWITCH_ENV"]

KILL_SWITCH_ENV = "STEWARD_KILL_SWITCH"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntegrationConfig(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    platform: str
    kind: Literal["export_files"] = "export_files"
    path: Path
    entities: list[str] | None = None

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


class StewardConfig(_Strict):
    warehouse: Path = Path("steward.duckdb")
    policy: Path | None = None
    work_dir: Path = Path("steward-work")
    report_dir: Path = Path("reports")
    integrations: list[IntegrationConfig] = Field(min_length=1)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    source: Path | None = None

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
            return None if p is None else (p if p.is_absolute() else (base / p)).resolve()

        return self.model_copy(update={
            "warehouse": fix(self.warehouse), "policy": fix(self.policy), "work_dir": fix(self.work_dir),
            "report_dir": fix(self.report_dir),
            "integrations": [i.model_copy(update={"path": fix(i.path)}) for i in self.integrations]})


def load_config(path: Path | str) -> StewardConfig:
    """The config at ``path`` with every path made absolute; errors name the file and the field in one line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found (create one like docs/configuration.md shows, "
                          f"or run `steward demo`)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{p}: not valid YAML{f' at line {mark.line + 1}' if mark else ''}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping with 'integrations'")
    try:
        cfg = StewardConfig(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{p}: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from exc
    return cfg.resolved(p.parent.resolve()).model_copy(update={"source": p.resolve()})


def effective_policy(policy: Policy, dry_run: bool = False) -> Policy:
    """The policy with the run's overrides: ``--dry-run``, and the kill switch any operator can throw from the
    environment (``STEWARD_KILL_SWITCH=1``) without editing the policy file. Overrides only ever make it safer."""
    kill = os.environ.get(KILL_SWITCH_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    actions = policy.actions.model_copy(update={"dry_run": policy.actions.dry_run or dry_run,
                                                "kill_switch": policy.actions.kill_switch or kill})
    return policy.model_copy(update={"actions": actions})


def write_config(cfg: StewardConfig, path: Path) -> Path:
    data = cfg.model_dump(mode="json", exclude={"source"}, exclude_none=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
