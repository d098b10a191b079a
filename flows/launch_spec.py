"""The launch spec: what a launch will do, in YAML, so a pre-launch audit can judge that and nothing else.

A spec names the launch, its dates, the platforms and models it relies on, who it reaches (a CDP audience tag or a
SQL query returning a column ``email``), on which channels, how much, and for how much money. Worked examples for the
demo workspace are in ``examples/launches/``; every field is described in ``docs/prelaunch.md``. A spec that does not
validate is refused with one line naming the file and the field, like steward.yaml and the policy.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..contracts.policy import GROUP_COLUMNS, require_known
from ..contracts.yaml_input import read_yaml_mapping
from ..integrations.warehouse.confined_sql import check_query
from ..contracts.errors import ConfigError
from ..integrations.sources.streams import PLATFORMS

__all__ = ["LaunchSpec", "Audience", "Population", "Planned", "Budget", "ModelRef", "load_launch_spec", "CHANNELS"]

CHANNELS = ("email", "ads")
_Word = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:+-]+$")]  # becomes a SQL literal: no quotes, no spaces


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Population(_Strict):
    """A set of people: a CDP audience tag (``segment``) or a read-only SQL query over the warehouse that returns a
    column named ``email`` (matched on the trimmed, lower-cased address)."""

    segment: _Word | None = None
    query: str | None = None

    @field_validator("query")
    @classmethod
    def _one_select(cls, value: str | None) -> str | None:
        """Confined before anything runs: one select over Steward's own schemas, whitelisted functions only
        (``integrations.warehouse.confined_sql``); the reason for a refusal names the rule, never a value."""
        if value is None:
            return value
        check_query(value)  # RefusedQuery is a ValueError: pydantic reports it on this field
        return value.strip()

    @model_validator(mode="after")
    def _exactly_one(self) -> "Population":
        if (self.segment is None) == (self.query is None):
            raise ValueError("give either 'segment' (a CDP audience tag) or 'query' (SQL returning a column email)")
        return self


class Audience(Population):
    """Who the launch reaches, who it chooses from (``eligible``, default: every known person), the attributes it
    targets on purpose (left out of the bias check), and whether being selected helps or harms.

    ``favourable: false`` says the selection is adverse (a suppression or exclusion list, a higher price): the bias
    check then finds a group disadvantaged when it is selected MORE often than the reference (docs/prelaunch.md)."""

    eligible: Population | None = None
    intended_dimensions: list[str] = Field(default_factory=list)
    favourable: bool = True

    @field_validator("intended_dimensions")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        require_known(value, GROUP_COLUMNS, "attribute")
        return value


class Planned(_Strict):
    people: int | None = Field(None, ge=1)  # the approved audience size
    emails_per_week: int = Field(0, ge=0, le=50)  # per person, while the launch runs


class Budget(_Strict):
    total: float = Field(ge=0)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"


class ModelRef(_Strict):
    name: _Word
    version: _Word | None = None  # the version approved for the launch


class LaunchSpec(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    name: str = Field(min_length=1, max_length=120)
    owner: str = "marketing-ops"
    starts_on: date
    ends_on: date
    platforms: list[str] = Field(min_length=1)
    campaigns: list[_Word] = Field(default_factory=list)  # CRM campaigns the launch extends (shown, not judged)
    audience: Audience
    channels: list[Literal["email", "ads"]] = Field(min_length=1)
    planned: Planned = Field(default_factory=Planned)
    budget: Budget | None = None
    models: list[ModelRef] = Field(default_factory=list)
    offer: str | None = None

    @field_validator("platforms")
    @classmethod
    def _known_platforms(cls, value: list[str]) -> list[str]:
        require_known(value, sorted(PLATFORMS), "platform")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _consistent(self) -> "LaunchSpec":
        if self.ends_on < self.starts_on:
            raise ValueError(f"ends_on {self.ends_on} is before starts_on {self.starts_on}")
        if "email" in self.channels and self.planned.emails_per_week < 1:
            raise ValueError("channel email needs planned.emails_per_week (at least 1)")
        return self

    @property
    def days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1

    def daily_budget(self) -> float | None:
        return None if self.budget is None else round(self.budget.total / self.days, 2)


def load_launch_spec(path: Path | str) -> LaunchSpec:
    """The spec at ``path``; errors name the file and the field in one line (``ConfigError``, exit code 2)."""
    p = Path(path)
    data = read_yaml_mapping(p, "launch spec", "id, name, audience, channels ...")
    try:
        return LaunchSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "spec"
        raise ConfigError(f"{p}: {loc}: {err['msg'].removeprefix('Value error, ')}") from exc
