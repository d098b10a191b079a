"""The Finding: one failed or warned check, in words a marketing-ops person can act on.

Findings are the only thing judgement produces. Everything downstream (alerts, pauses, the report, the audit log)
reads them, so their fields are the vocabulary of DESIGN.md and never change meaning. The fingerprint is stable
across runs for the same check on the same subject, which is what deduplication and first/last-seen rest on.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

__all__ = ["Severity", "Family", "Action", "Finding", "fingerprint_of", "FAMILIES"]

Family = Literal["data_quality", "reconciliation", "bias", "metric_balance", "privacy_consent", "human_oversight",
                 "transparency", "anomaly", "integration_health"]
FAMILIES: tuple[str, ...] = Family.__args__  # type: ignore[attr-defined]
Action = Literal["none", "alert", "request_approval", "pause"]


class Severity(str, Enum):
    info = "info"
    warn = "warn"
    critical = "critical"

    @property
    def rank(self) -> int:
        return {"info": 0, "warn": 1, "critical": 2}[self.value]

    def at_least(self, other: "Severity | str") -> bool:
        return self.rank >= Severity(other).rank


def fingerprint_of(check_id: str, subject_type: str, subject: str) -> str:
    """Same check on the same subject gives the same fingerprint in every run, whatever the observed value."""
    return hashlib.sha256(f"{check_id}|{subject_type}|{subject}".encode()).hexdigest()[:16]


class Finding(BaseModel):
    run_id: str
    check_id: str = Field(pattern=r"^[a-z_]+\.[a-z0-9_]+$")
    family: Family
    severity: Severity
    subject_type: str
    subject: str
    metric: str
    observed: float | None
    threshold: float | None
    evidence: dict[str, Any] = Field(default_factory=dict)
    explanation: str
    sample_query: str | None = None
    owner: str = "marketing-ops"
    action: Action = "alert"
    target: dict[str, str] | None = None  # the platform object an action would change: {platform, campaign_id}
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.check_id, self.subject_type, self.subject)
