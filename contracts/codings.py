"""Codings: the values a team's systems use for the groups an auditor compares, decision types and channels.

Teams code the same fact differently (``M``/``F``/``U`` or ``male``/``female``; age as a number or as a band; their
own decision types), so the codes are policy data, not contract checks: a row whose code the policy does not list
lands and is REPORTED (``data_quality.unknown_codes``, mart ``gov_data_quality__codings``) instead of being
quarantined. A missing value (null) is not a code: it stays null in staging and is the group ``(missing)`` in the bias
marts, apart from a literal ``unknown`` a system wrote on purpose.

Bands turn a numeric attribute into groups once, in staging (``dbt_project/macros/codings.sql``): edges
``[18, 25, 35]`` give ``under 18``, ``18-24``, ``25-34`` and ``35+``. The labels are computed here, so the policy can
be checked for consistency (a banded attribute's list must hold every label its bands produce) before dbt runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["Codings", "DecisionType", "band_labels", "ATTRIBUTE_COLUMNS", "BAND_COLUMNS", "MISSING_GROUP"]

# The people attributes Steward's staging models carry (CRM, CDP, custom people): what an attribute may name.
ATTRIBUTE_COLUMNS = ("age_band", "gender", "region", "country")
# The numeric attributes a contract carries (PeopleFrame.age, ProfileFrame.age): what a band may be declared for.
BAND_COLUMNS = ("age",)
# The bias marts' name for the group of people whose attribute is missing (null), never merged into "unknown".
MISSING_GROUP = "(missing)"

# A code becomes a SQL literal in the marts: any text but quotes, backslashes and control characters.
_Code = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^'\"\\\x00-\x1f]+$")]
_Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
_Edge = Annotated[float, Field(allow_inf_nan=False)]

AGE_EDGES = [18, 25, 35, 45, 55, 65]
DEMO_ATTRIBUTES = {"age_band": ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"],
                   "gender": ["female", "male", "nonbinary", "unknown"],
                   "region": ["NA", "EMEA", "APAC", "LATAM"]}
DEMO_DECISION_TYPES = {"lead_score": ["priority"], "next_best_offer": [], "audience_selection": [], "send_time": [],
                       "budget_allocation": []}
DEMO_CHANNELS = ["email", "sms", "push", "ads", "direct_mail", "call"]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def band_labels(edges: list[float]) -> list[str]:
    """The labels of the bands ``edges`` cut: ``under <first>``, one per interval, then ``<last>+``.

    Whole-number edges give inclusive labels (``25-34`` for 25 <= age < 35); others say where the band stops
    (``2.5-<5``), since there is no "one less" of a fraction."""
    labels = [f"under {_number(edges[0])}"]
    for low, high in zip(edges, edges[1:]):
        whole = float(low).is_integer() and float(high).is_integer()
        labels.append(f"{_number(low)}-{_number(high - 1)}" if whole else f"{_number(low)}-<{_number(high)}")
    return labels + [f"{_number(edges[-1])}+"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionType(_Strict):
    """One type of decision in the decision log, and which of its decisions are favourable to the person."""

    favourable: list[_Code] = Field(default_factory=list)  # empty: no decision of the type helps or harms


class Codings(_Strict):
    """``codings:`` in the policy (docs/policy.md#codings); the defaults are the demo's codes."""

    bands: dict[_Name, Annotated[list[_Edge], Field(min_length=1)]] = Field(
        default_factory=lambda: {"age": list(AGE_EDGES)})
    attributes: dict[_Name, Annotated[list[_Code], Field(min_length=1)]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEMO_ATTRIBUTES.items()})
    sensitive: list[_Name] = Field(default_factory=lambda: ["age_band", "gender"])
    decision_types: dict[_Code, DecisionType] = Field(
        default_factory=lambda: {k: DecisionType(favourable=v) for k, v in DEMO_DECISION_TYPES.items()})
    channels: list[_Code] = Field(default_factory=lambda: list(DEMO_CHANNELS), min_length=1)

    @field_validator("bands")
    @classmethod
    def _increasing_edges(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        for column, edges in value.items():
            if column not in BAND_COLUMNS:
                raise ValueError(f"unknown numeric column '{column}' (known: {', '.join(BAND_COLUMNS)})")
            for low, high in zip(edges, edges[1:]):
                if high <= low:
                    raise ValueError(f"{column}: edges must be strictly increasing numbers ({_number(high)} after "
                                     f"{_number(low)})")
        return value

    @field_validator("attributes")
    @classmethod
    def _known_attributes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name in value:
            if name not in ATTRIBUTE_COLUMNS:
                raise ValueError(f"unknown attribute '{name}' (known: {', '.join(ATTRIBUTE_COLUMNS)})")
        return {name: list(dict.fromkeys(codes)) for name, codes in value.items()}

    @field_validator("decision_types", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        """``lead_score: [priority]`` is ``lead_score: {favourable: [priority]}``; a bare null has none."""
        if isinstance(value, dict):
            return {k: {"favourable": v} if isinstance(v, list) else ({} if v is None else v)
                    for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Codings":
        """A sensitive attribute the policy does not list, or a band its attribute does not allow, would make every
        banded row an unknown code: refused before anything runs. ``under <first edge>`` need not be listed: the
        codings check accepts every label a band produces."""
        for name in self.sensitive:
            if name not in self.attributes:
                raise ValueError(f"sensitive: '{name}' is not one of the attributes ({', '.join(self.attributes)})")
        for column, edges in self.bands.items():
            allowed = self.attributes.get(f"{column}_band")
            missing = [label for label in band_labels(edges)[1:] if allowed is not None and label not in allowed]
            if missing:
                raise ValueError(f"attributes.{column}_band lacks '{missing[0]}', a label bands.{column} produces "
                                 f"(all: {', '.join(band_labels(edges))})")
        return self

    def allowed(self, attribute: str) -> list[str]:
        """The codes ``attribute`` may hold: its list, plus every label of the band that produces it."""
        column = attribute[:-len("_band")] if attribute.endswith("_band") else None
        labels = band_labels(self.bands[column]) if column in self.bands else []
        return list(dict.fromkeys([*self.attributes.get(attribute, []), *labels]))

    def dbt_var(self) -> dict[str, Any]:
        """The ``codings`` var dbt reads: each band's edges with its labels, so SQL never formats a number."""
        plain = self.model_dump()
        plain["bands"] = {column: {"edges": [int(e) if float(e).is_integer() else e for e in edges],
                                   "labels": band_labels(edges)} for column, edges in self.bands.items()}
        plain["attributes"] = {name: self.allowed(name) for name in self.attributes}
        return plain
