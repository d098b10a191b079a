"""The governance policy: every threshold, severity, owner, channel and action, loaded from YAML.

Rules are data so that a marketing-ops lead can tighten a tolerance or turn a pause into an alert without touching
code. ``scope`` says what the SQL marts measure (handed to dbt as vars); ``checks`` say how to judge what they
measured. A policy that does not validate is refused with one line naming the file and the field.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .codings import Codings
from .errors import ConfigError
from .filters import FilterError, parse_filter
from .finding import Action, Family, Severity
from .obligations import OBLIGATION_ID, Obligation
from .yaml_input import read_packaged_yaml_mapping, read_yaml_mapping

__all__ = ["require_known", "Policy", "CheckRule", "Scope", "Alerts", "Actions", "Route", "load_policy", "DEFAULT_POLICY", "GROUP_COLUMNS",
           "SLACK_MENTION", "SEGMENT_ATTRIBUTES", "ANOMALY_MIN_SCALE", "PII_ALLOWED_TABLES", "HealthPolicy", "HealthRules",
           "MaintenanceWindow", "LaunchPolicy", "LaunchRule", "FileAudits", "BiasAuditRules", "BiasModel",
           "FrequencyAuditRules", "QualityAuditRules", "QualityLevels", "QualityThresholds", "QualityRange"]

DEFAULT_POLICY = "policy.yaml"
# Attributes of the unified customer model an auditor may group by (int_customers__unified).
GROUP_COLUMNS = ("age_band", "gender", "region", "country")
# What alerts.mentions may hold: a user group, a user, or @here; anything else would reach the channel as raw text.
SLACK_MENTION = re.compile(r"^<(!subteam\^[A-Z0-9]{2,32}|@[UW][A-Z0-9]{2,32}|!here)>$")



def require_known(values: Iterable[str], known: Iterable[str], what: str) -> None:
    """A pydantic validator's one answer to a name outside a closed vocabulary: the first unknown one, and every
    known one, so the one-line error says what to write instead (``unknown column 'x' (known: a, b)``)."""
    known = list(known)
    for value in values:
        if value not in known:
            raise ValueError(f"unknown {what} '{value}' (known: {', '.join(known)})")

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Route(_Strict):
    """Where findings that match go; every field given must match, the first matching route wins."""

    channel: str
    family: Family | None = None
    min_severity: Severity | None = None
    owner: str | None = None
    check_id: str | None = None  # an exact id, or a prefix ending in "." ("consent.")


class Alerts(_Strict):
    min_severity: Severity = Severity.warn
    channel: str = "#marketing-ops-alerts"  # where findings no route matches go
    routes: list[Route] = Field(default_factory=list)
    mentions: dict[str, str] = Field(default_factory=dict)  # owner -> Slack mention added to critical alerts
    suppress_hours: float = Field(24, ge=0)  # an open incident is re-notified at most this often unless it worsens
    digest_channel: str | None = None  # `steward alerts digest` posts open incidents here (default: channel)

    @field_validator("mentions")
    @classmethod
    def _slack_mentions(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [m for m in value.values() if not SLACK_MENTION.match(m)]
        if bad:
            raise ValueError(f"'{bad[0]}' is not a Slack mention (<!subteam^ID>, <@USERID> or <!here>)")
        return value


class Actions(_Strict):
    dry_run: bool = False
    kill_switch: bool = False
    approval_timeout_seconds: int = Field(3600, ge=1)
    on_approval_timeout: Literal["reject", "approve"] = "reject"  # the safe choice when nobody answers


# In ``approvals``: the operating-system user the governance run itself runs as (who can read its one-time token).
RUN_USER = "@run_user"
_Approver = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@+-]{1,64}$")]
_SlackUser = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,20}$")]  # a Slack member id (U…, W… on Enterprise Grid)


class Approvals(_Strict):
    """Who may answer a ``request_approval`` pause (docs/policy.md#approvals). Names are operating-system users as
    ``steward approve`` records them; ``@run_user`` is the user the governance run runs as."""

    approvers: list[_Approver] = Field(default_factory=lambda: [RUN_USER])
    checks: dict[str, list[_Approver]] = Field(default_factory=dict)  # check id -> its approvers (replaces the list)
    delegates: list[_Approver] = Field(default_factory=list)  # may answer `--by` someone else (a relay bot, say)
    # Slack user id -> the approver a click on a Slack approval button answers as (`steward serve`, docs/approvals.md)
    slack_users: dict[_SlackUser, _Approver] = Field(default_factory=dict)

    def approvers_for(self, check_id: str, run_user: str) -> list[str]:
        """The approvers of ``check_id``, with ``@run_user`` resolved to ``run_user``."""
        return [run_user if name == RUN_USER else name for name in self.checks.get(check_id, self.approvers)]


# Where raw personal data may live by default: the systems of record for people (CRM, marketing automation, CDP)
# as landed, and their staging; schema.table globs, see docs/policy.md.
PII_ALLOWED_TABLES = ("raw.salesforce__*", "raw.hubspot__*", "raw.marketo__*", "raw.cdp__*",
                      "staging.stg_salesforce__*", "staging.stg_hubspot__*", "staging.stg_marketo__*",
                      "staging.stg_cdp__*", "staging.int_customers__*", "staging.int_email_events__*",
                      "raw.custom__*", "staging.stg_custom__*")  # custom systems' people, consent and touches
# Scope values that become SQL literals or identifiers in the marts: no quotes, nothing else to escape.
_SqlWord = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$")]
_TableGlob = Annotated[str, Field(pattern=r"^[a-z0-9_*?]+\.[a-z0-9_*?]+$")]
_Entity = Annotated[str, Field(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")]
# Numbers that reach SQL as text or judge a metric: a finite value (YAML's .nan or .inf would render as a bare word
# in SQL, or compare false with everything and never fire).
_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Threshold = _Finite
# The CRM's state of a person, as gov_reconciliation__stages derives it from leads and opportunities.
CRM_STATES = ("customer", "opportunity", "contact", "lead_open", "lead_closed", "lead_converted")
_CrmState = Literal["customer", "opportunity", "contact", "lead_open", "lead_closed", "lead_converted"]
# HubSpot lifecycle stage -> the CRM states that justify it; stages not listed are never a mismatch.
LIFECYCLE_STAGE_REQUIRES: dict[str, tuple[str, ...]] = {
    "customer": ("customer",), "evangelist": ("customer",), "opportunity": ("opportunity", "customer"),
    "salesqualifiedlead": ("lead_open", "contact", "opportunity", "customer"),
    "marketingqualifiedlead": ("lead_open", "contact", "opportunity", "customer"),
}
_SegmentValue = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:+ -]+$")]  # "65+", "vulnerable_customer"
# What the sensitive-segment rule may match on: a unified-customer attribute, or a CDP audience tag.
SEGMENT_ATTRIBUTES = (*GROUP_COLUMNS, "audience")
# The daily series the anomaly audit watches, and the smallest spread each counts with (a flat history has none).
ANOMALY_MIN_SCALE = {"send_volume": 50.0, "ad_spend": 50.0, "conversions": 3.0, "quarantine_rate": 0.02}


class BiasModel(_Strict):
    """One audited decision model: which of its decisions the bias mart counts, and whether they help or harm.

    ``favourable: false`` marks an adverse decision (flagged high-risk, excluded, suppressed, a higher price): a group
    is then disadvantaged when it receives the decisions MORE often than the reference (docs/policy.md#bias)."""

    decisions: list[_SqlWord] = Field(min_length=1)
    favourable: bool = True


class Scope(_Strict):
    """What the marts measure, handed to dbt as vars. These defaults are the only copy: the packaged policy.yaml sets
    only what it changes, and dbt_project.yml's ``vars:`` block is generated from them
    (``python -m steward.flows.scope_vars --write``; docs/policy.md#scope-values-passed-to-dbt)."""

    bias_dimensions: list[str] = Field(default_factory=lambda: ["age_band", "gender", "region"], min_length=1)
    # model name -> the decisions audited and their polarity; names and decisions become SQL literals in
    # gov_bias__selection_rates. A bare list means favourable decisions: {lead_scoring: [priority]}
    bias_models: dict[_SqlWord, BiasModel] = Field(
        default_factory=lambda: {"lead_scoring": BiasModel(decisions=["priority"])})
    oversight_min_confidence: float = Field(0.6, ge=0, le=1)
    oversight_high_value_revenue: _Finite = Field(1_000_000, ge=0)
    metric_window_days: int = Field(28, ge=1, le=366)
    # platform (or `default`) -> hours; keys become SQL literals in the freshness marts
    freshness_sla_hours: dict[_SqlWord, Annotated[_Finite, Field(gt=0)]] = Field(
        default_factory=lambda: {"default": 48})
    # privacy and consent
    consent_email_subscriptions: list[_SqlWord] = Field(default_factory=lambda: ["marketing_information"], min_length=1)
    retention_days: dict[_Entity, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: {"hubspot.email_events": 730, "google_ads.audience_uploads": 540,
                                 "decisions.ai_decisions": 1095})
    pii_scan_schemas: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = Field(default_factory=lambda: ["raw"])
    pii_sample_rows: int = Field(1000, ge=1, le=1_000_000)
    pii_min_match_share: float = Field(0.05, gt=0, le=1)
    pii_allowed_tables: list[_TableGlob] = Field(default_factory=lambda: list(PII_ALLOWED_TABLES))
    # metric balance, oversight, transparency and anomaly audits (docs/policy.md)
    contact_cap_per_week: int = Field(5, ge=1)  # marketing emails one person may get in any 7 days
    oversight_sensitive_segments: dict[str, list[_SegmentValue]] = Field(
        default_factory=lambda: {"audience": ["vulnerable_customer"]})  # decisions about them always need a review
    model_registry: dict[_SqlWord, list[_SqlWord]] = Field(
        default_factory=lambda: {"lead_scoring": ["3.2.0"], "next_best_offer": ["1.4.1"]})
    anomaly_baseline_weeks: int = Field(6, ge=2, le=52)  # the same weekday in this many earlier weeks
    anomaly_detection_days: int = Field(7, ge=1, le=31)  # judge each of the last N days
    anomaly_min_scale: dict[str, Annotated[_Finite, Field(ge=0)]] = Field(
        default_factory=lambda: dict(ANOMALY_MIN_SCALE))  # the robust spread never counts as less than this
    anomaly_min_relative_scale: _Finite = Field(0.25, ge=0)  # ... nor as less than this share of the baseline median
    # cross-system consistency (docs/policy.md)
    lifecycle_stage_requires: dict[_SqlWord, Annotated[list[_CrmState], Field(min_length=1)]] = Field(
        default_factory=lambda: {k: list(v) for k, v in LIFECYCLE_STAGE_REQUIRES.items()})
    propagation_lag_hours: dict[_SqlWord, Annotated[_Finite, Field(gt=0)]] = Field(
        default_factory=lambda: {"default": 24})  # by target system; `default` for the rest
    spend_flight_grace_days: int = Field(1, ge=0, le=31)  # days past a CRM campaign's dates not yet counted
    # data_quality.volume_drop: an export's rows vs the median of this many readings before it
    volume_baseline_batches: int = Field(5, ge=1, le=100)

    @field_validator("bias_models", mode="before")
    @classmethod
    def _decision_lists(cls, value: Any) -> Any:
        """The short form ``{model: [decisions]}`` is ``{model: {decisions: [...], favourable: true}}``, so dbt
        and every reader see one shape."""
        if isinstance(value, dict):
            return {k: {"decisions": v} if isinstance(v, list) else v for k, v in value.items()}
        return value

    @field_validator("bias_dimensions")
    @classmethod
    def _known_columns(cls, value: list[str]) -> list[str]:
        require_known(value, GROUP_COLUMNS, "column")
        return value

    @field_validator("oversight_sensitive_segments")
    @classmethod
    def _known_segment_attributes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        require_known(value, SEGMENT_ATTRIBUTES, "attribute")
        return value

    @field_validator("anomaly_min_scale")
    @classmethod
    def _known_series(cls, value: dict[str, float]) -> dict[str, float]:
        require_known(value, ANOMALY_MIN_SCALE, "series")
        return {**ANOMALY_MIN_SCALE, **value}


class CheckRule(_Strict):
    family: Family
    mart: str = Field(pattern=r"^gov_[a-z0-9_]+$")
    subject_type: str
    subject: str
    # the subject's campaign in the one id form (contracts/campaigns.py), a template like subject's:
    # "salesforce:{campaign_id}"; findings then carry it (and its name) as evidence `campaign`
    campaign: str | None = None
    key: list[str] = Field(min_length=1)
    metric: str
    direction: Literal["min", "max"]
    warn: _Threshold | None = None
    critical: _Threshold | None = None
    # Counts, rates, shares and ratios are never below 0, so a negative threshold is a typo that fires on every
    # row; a metric that can be negative (a z-score, a signed difference) says so here.
    metric_can_be_negative: bool = False
    where: str | None = None  # a filter in the closed grammar of contracts/filters.py, never Python
    evidence: list[str] = Field(default_factory=list)
    explanation: str
    owner: str | None = None
    action: dict[Severity, Action] = Field(default_factory=dict)
    suppress_hours: float | None = Field(None, ge=0)  # overrides alerts.suppress_hours for this check

    @field_validator("where")
    @classmethod
    def _safe_filter(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_filter(value)
            except FilterError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _has_threshold(self) -> "CheckRule":
        if self.warn is None and self.critical is None:
            raise ValueError("needs a 'warn' or a 'critical' threshold")
        return self

    @model_validator(mode="after")
    def _thresholds_make_sense(self) -> "CheckRule":
        """A threshold the metric can never reach, or a warn past critical, is a typo that would judge silently."""
        for level in ("warn", "critical"):
            limit = getattr(self, level)
            if limit is not None and limit < 0 and not self.metric_can_be_negative:
                raise ValueError(f"{level} {limit} is below 0, but {self.metric} cannot be negative (a count, rate, "
                                 f"share or ratio); set metric_can_be_negative: true if it can")
        if self.warn is not None and self.critical is not None:
            if self.direction == "max" and self.warn > self.critical:
                raise ValueError(f"warn {self.warn} is above critical {self.critical}: with direction max, higher is "
                                 f"worse, so warn must not exceed critical")
            if self.direction == "min" and self.warn < self.critical:
                raise ValueError(f"warn {self.warn} is below critical {self.critical}: with direction min, lower is "
                                 f"worse, so warn must not be below critical")
        return self

    def action_for(self, severity: Severity) -> Action:
        return self.action.get(severity, "alert" if severity.at_least(Severity.warn) else "none")


_Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class MaintenanceWindow(_Strict):
    """A time when an integration's alerts are silenced (its health is still recorded).

    Either recurring (``start``/``end`` as ``HH:MM`` in UTC, on ``days`` or every day; ``end`` before ``start``
    crosses midnight) or one-off (``starts_at``/``ends_at``, timezone-aware datetimes)."""

    days: list[_Weekday] | None = None
    start: _ClockTime | None = None
    end: _ClockTime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reason: str = ""

    @model_validator(mode="after")
    def _one_shape(self) -> "MaintenanceWindow":
        recurring, one_off = self.start is not None and self.end is not None, self.starts_at and self.ends_at
        if bool(recurring) == bool(one_off):
            raise ValueError("a maintenance window needs either start and end (HH:MM, UTC) or starts_at and ends_at")
        if one_off and (self.starts_at.tzinfo is None or self.ends_at.tzinfo is None):  # type: ignore[union-attr]
            raise ValueError("starts_at and ends_at need a timezone (e.g. 2026-11-21T02:00:00Z)")
        return self


class HealthRules(_Strict):
    """When one integration counts as degraded or down, and how many probes in a row it takes (docs/health.md)."""

    sync_sla_hours: float | None = Field(26, gt=0)  # longest time without a landed batch; None: not judged
    max_latency_ms: float = Field(2000, gt=0)  # a slower answer is degraded
    min_headroom: float = Field(0.10, ge=0, le=1)  # share of the rate limit or quota left; less is degraded
    error_window_hours: float = Field(24, gt=0)  # sync error rate: failed governance runs naming it, in this window
    max_error_rate: float = Field(0.5, ge=0, le=1)
    min_runs_for_error_rate: int = Field(3, ge=1)
    volume_weeks: int = Field(4, ge=1, le=52)  # yesterday's rows vs the same weekday in this many earlier weeks
    volume_min_weeks: int = Field(2, ge=1)  # fewer same-weekday syncs than this: volume is not judged
    min_volume_ratio: float = Field(0.5, ge=0)
    max_volume_ratio: float | None = Field(None, gt=0)
    max_drift_columns: int = Field(0, ge=0)  # drifted columns in an entity's latest batch; more is degraded
    # cross-system reconciliation trend: the share of comparisons (consent per person, spend per campaign) the
    # platform agrees on, against its median over the last ``reconciliation_runs`` governance runs
    max_reconciliation_drop: float = Field(0.05, ge=0, le=1)
    reconciliation_runs: int = Field(5, ge=1, le=100)
    reconciliation_tolerance: float = Field(0.05, ge=0)  # a campaign's spend agrees within this relative difference
    down_after: int = Field(2, ge=1)  # consecutive probes that say down before the state is down
    degraded_after: int = Field(2, ge=1)  # consecutive bad probes before healthy becomes degraded
    recover_after: int = Field(2, ge=1)  # consecutive good probes before it counts as recovered
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)


class HealthPolicy(_Strict):
    """The integration health monitor: its cadence, its thresholds, and per-integration overrides."""

    interval_seconds: float = Field(60, gt=0)  # how often the monitor runs (its schedule)
    probe_timeout_seconds: float = Field(10, gt=0)  # per request; a probe makes at most two attempts
    confirm_interval_seconds: float = Field(5, ge=0)  # a bad probe is re-checked this soon, within the same run
    max_state_age_minutes: float = Field(30, gt=0)  # the governance run trusts a health state at most this old
    channel: str | None = None  # default: alerts.channel
    defaults: HealthRules = Field(default_factory=HealthRules)
    integrations: dict[str, dict[str, Any]] = Field(default_factory=dict)  # integration or platform -> overrides

    @model_validator(mode="after")
    def _overrides_valid(self) -> "HealthPolicy":
        for name in self.integrations:
            try:
                self.rules_for(name)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ValueError(f"integrations.{name}.{'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from None
        return self

    def rules_for(self, integration: str, platform: str | None = None) -> HealthRules:
        """The defaults, then the platform's overrides, then the integration's own."""
        merged = self.defaults.model_dump()
        for key in (platform, integration):
            if key and key in self.integrations:
                merged.update(self.integrations[key])
        return HealthRules.model_validate(merged)


class LaunchRule(CheckRule):
    """A pre-launch check (docs/prelaunch.md) over a ``launch__*`` mart: a row past ``warn`` lets the launch go only
    once ``condition`` is met (GO WITH CONDITIONS); a row past ``critical`` blocks it (NO-GO)."""

    mart: str = Field(pattern=r"^launch__[a-z0-9_]+$")
    condition: str  # what must be done before going ahead; a template like ``explanation``


class LaunchPolicy(_Strict):
    """How a launch spec is audited: the thresholds of every pre-launch check, as data."""

    channel: str | None = None  # where verdicts are posted (default: alerts.channel)
    health_max_age_hours: float = Field(1, gt=0)  # a health monitor state older than this is not trusted
    checks: dict[str, LaunchRule] = Field(min_length=1)

    @field_validator("checks")
    @classmethod
    def _launch_ids(cls, value: dict[str, LaunchRule]) -> dict[str, LaunchRule]:
        bad = [c for c in value if not re.fullmatch(r"launch\.[a-z0-9_]+", c)]
        if bad:
            raise ValueError(f"check id '{bad[0]}' must look like 'launch.<rule>' in lower case")
        return value


class BiasAuditRules(_Strict):
    """Thresholds of ``steward audit bias`` beyond the bias check's own (contracts/fairness.py reads them).

    Error-rate parity (needs an outcome): a group fails equal opportunity when the error that harms it (a false
    negative for a favourable decision, a false positive for an adverse one) is more than ``error_rate_ratio`` times
    the reference's AND at least ``error_rate_min_difference`` higher AND significant (pooled z >= ``error_rate_z``);
    rates over fewer than ``error_rate_min_denominator`` actual positives (or negatives) are not judged.
    """

    error_rate_ratio: float = Field(1.25, gt=1)  # warn
    error_rate_critical_ratio: float | None = Field(2.0, gt=1)
    error_rate_min_difference: float = Field(0.05, ge=0, le=1)
    error_rate_min_denominator: int = Field(30, ge=1)
    error_rate_z: float = Field(2.58, ge=0)

    @model_validator(mode="after")
    def _critical_beyond_warn(self) -> "BiasAuditRules":
        if self.error_rate_critical_ratio is not None and self.error_rate_critical_ratio < self.error_rate_ratio:
            raise ValueError("error_rate_critical_ratio must be at least error_rate_ratio")
        return self


# ------------------------------------------------------------------------------------------------------------------


class FrequencyAuditRules(_Strict):
    """Thresholds of ``steward audit frequency`` (contact pressure on a team's own table; docs/file-audits.md).

    A person is over the cap when any one calendar window (day, ISO week from Monday, month) holds more touches than
    the window's cap. The week's cap defaults to ``scope.contact_cap_per_week``, the one the marts use, so a file and
    the warehouse are judged by the same number; day and month are about the week's pace (two on one day is already
    pressure, twenty a month is four a week sustained). The share of people over the cap sets the severity: any
    person over it is ``info``, ``share_warn`` and above ``warn``, ``share_critical`` and above ``critical``, the same
    shares as ``metric_balance.contact_cap_breach``."""

    cap_per_day: int = Field(2, ge=1)
    cap_per_week: int | None = Field(None, ge=1)  # None: scope.contact_cap_per_week
    cap_per_month: int = Field(20, ge=1)
    share_warn: float = Field(0.05, ge=0, le=1)
    share_critical: float | None = Field(0.10, ge=0, le=1)

    @model_validator(mode="after")
    def _warn_not_past_critical(self) -> "FrequencyAuditRules":
        if self.share_critical is not None and self.share_warn > self.share_critical:
            raise ValueError(f"share_warn {self.share_warn} is above share_critical {self.share_critical}")
        return self

    def cap_for(self, window: str, scope: Scope) -> int:
        """The cap of one window: the policy's own value, else (week) the marts' ``contact_cap_per_week``."""
        if window == "week":
            return self.cap_per_week or scope.contact_cap_per_week
        return {"day": self.cap_per_day, "month": self.cap_per_month}[window]


# ------------------------------------------------------------------------------------------------------------------


class QualityLevels(_Strict):
    """When one measure of ``steward audit quality`` becomes a finding: a value ABOVE a level has that severity (the
    highest one it passes). A level left out never fires; ``warn: 0`` means "any at all is a warning"."""

    info: _Finite | None = Field(None, ge=0)
    warn: _Finite | None = Field(None, ge=0)
    critical: _Finite | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "QualityLevels":
        given = [(n, v) for n, v in (("info", self.info), ("warn", self.warn), ("critical", self.critical))
                 if v is not None]
        for (low, a), (high, b) in zip(given, given[1:]):
            if a > b:
                raise ValueError(f"{low} {a:g} is above {high} {b:g}: a higher level must not fire before a lower one")
        return self


class QualityThresholds(_Strict):
    """The levels of each measure: shares are of a column's rows (0..1), key counts are rows."""

    null_share: QualityLevels = Field(default_factory=lambda: QualityLevels(info=0, warn=0.05, critical=0.5))
    placeholder_share: QualityLevels = Field(default_factory=lambda: QualityLevels(info=0, warn=0.01, critical=0.2))
    out_of_range_share: QualityLevels = Field(default_factory=lambda: QualityLevels(warn=0, critical=0.01))
    outlier_share: QualityLevels = Field(default_factory=lambda: QualityLevels(info=0, warn=0.05))
    duplicate_key_rows: QualityLevels = Field(default_factory=lambda: QualityLevels(critical=0))
    null_key_rows: QualityLevels = Field(default_factory=lambda: QualityLevels(warn=0))


class QualityRange(_Strict):
    """The values a column may hold, by name, wherever a profiled file has that column (``--range`` overrides)."""

    min: _Finite | date | None = None
    max: _Finite | date | None = None

    @model_validator(mode="after")
    def _one_bound_in_order(self) -> "QualityRange":
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None:
            if isinstance(self.min, date) != isinstance(self.max, date):
                raise ValueError("min and max must both be numbers or both be dates")
            if self.min > self.max:  # type: ignore[operator]
                raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class QualityAuditRules(_Strict):
    """Thresholds and severities of ``steward audit quality`` (a column profile of a team's own table).

    Placeholders are compared lower-cased after trimming whitespace, so ``' N/A '`` counts as ``n/a``; ``''`` in the
    list makes empty and whitespace-only strings placeholders. A sentinel number counts only where it lies outside
    the range of the column's other values (999 among ages up to 90, -1 among counts from 0), so a real 999 in a
    column of amounts is left alone. Sentinel dates always count."""

    owner: str = "data-platform"
    placeholders: list[str] = Field(default_factory=lambda: ["unknown", "n/a", "na", "none", "null", "nil", "-",
                                                             "--", "?", "tbd", ""])
    sentinel_numbers: list[_Finite] = Field(default_factory=lambda: [-1, -99, -999, -9999, 999, 9999, 99999,
                                                                     999999])
    sentinel_dates: list[date] = Field(default_factory=lambda: [date(1900, 1, 1), date(1970, 1, 1),
                                                                date(9999, 12, 31)])
    outlier_z: _Finite = Field(3.5, gt=0)  # modified z (0.6745 * |x - median| / MAD) above this: an outlier
    # Above these: approximate distinct counts (HyperLogLog; exact ones cost a hash set per column, the slowest part
    # of a profile) and approximate medians (t-digest; exact ones hold every value: 8 bytes x rows x numeric columns).
    exact_distinct_max_rows: int = Field(200_000, ge=0)
    exact_median_max_values: int = Field(10_000_000, ge=0)  # rows x numeric columns; measured ~20 bytes a value
    ranges: dict[str, QualityRange] = Field(default_factory=dict)
    thresholds: QualityThresholds = Field(default_factory=QualityThresholds)

    @field_validator("placeholders")
    @classmethod
    def _normalised(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(v.strip().lower() for v in value))


# ------------------------------------------------------------------------------------------------------------------


class FileAudits(_Strict):
    """The audits a team runs on its own files and tables (docs/bias-audit.md, docs/file-audits.md)."""

    bias: BiasAuditRules = Field(default_factory=BiasAuditRules)
    frequency: FrequencyAuditRules = Field(default_factory=FrequencyAuditRules)
    quality: QualityAuditRules = Field(default_factory=QualityAuditRules)


class Policy(_Strict):
    version: int = 1
    owner: str = "marketing-ops"
    dbt_test_severity: Severity = Severity.warn  # a failed dbt data test on staged data
    alerts: Alerts = Field(default_factory=Alerts)
    actions: Actions = Field(default_factory=Actions)
    approvals: Approvals = Field(default_factory=Approvals)
    scope: Scope = Field(default_factory=Scope)
    codings: Codings = Field(default_factory=Codings)  # the codes a team uses (docs/policy.md#codings)
    checks: dict[str, CheckRule]
    health: HealthPolicy = Field(default_factory=HealthPolicy)
    launch: LaunchPolicy | None = None  # pre-launch audits; absent: the packaged default's section applies
    audits: FileAudits = Field(default_factory=FileAudits)  # `steward audit bias|frequency|quality` thresholds
    # the evidence pack's obligation table (`steward evidence`, docs/evidence.md); absent: the packaged default's
    obligations: dict[Annotated[str, Field(pattern=OBLIGATION_ID)], Obligation] | None = None
    source: str = "<memory>"

    @field_validator("checks")
    @classmethod
    def _check_ids(cls, value: dict[str, CheckRule]) -> dict[str, CheckRule]:
        for check_id in value:
            if "." not in check_id or check_id != check_id.lower():
                raise ValueError(f"check id '{check_id}' must look like '<domain>.<rule>' in lower case")
        return value

    def dbt_vars(self) -> dict:
        """What the governance marts need to know to measure (the scope, and the codings as one var); judging stays
        in Python."""
        return {**self.scope.model_dump(), "codings": self.codings.dbt_var()}

    @model_validator(mode="after")
    def _approvals_name_known_checks(self) -> "Policy":
        """A mistyped check id in ``approvals.checks`` would silently leave that check to the general approvers."""
        unknown = [c for c in self.approvals.checks if c not in self.checks]
        if unknown:
            raise ValueError(f"approvals.checks: unknown check id '{unknown[0]}'")
        return self


    @model_validator(mode="after")
    def _obligations_name_known_checks(self) -> "Policy":
        """A mistyped check id in ``obligations`` would leave its obligation without that evidence, silently."""
        for oid, ob in (self.obligations or {}).items():
            unknown = [c for c in ob.checks if c not in self.checks]
            if unknown:
                raise ValueError(f"obligations.{oid}.checks: unknown check id '{unknown[0]}'")
        return self

    def obligation_table(self) -> dict[str, Obligation]:
        """The obligations the evidence pack maps to: this policy's, else the packaged default's."""
        return self.obligations if self.obligations is not None else (load_policy().obligations or {})


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy at ``path``, or the packaged default; errors name the file and the field in one line."""
    if path is None:
        where = "default policy"
        data = read_packaged_yaml_mapping(DEFAULT_POLICY, where, "policy file", "'checks'")
    else:
        where = str(Path(path))
        data = read_yaml_mapping(path, "policy file", "'checks'")
    try:
        return Policy.model_validate({**data, "source": where})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{where}: {loc}: {err['msg']}") from exc
