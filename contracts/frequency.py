"""Contact pressure judged from counts: how many people got more touches in one window than the cap allows.

The warehouse (or DuckDB reading a file) counts touches per person and calendar window and hands over aggregates
only: people, people over the cap, the busiest window, a histogram of each person's busiest window, the windows with
the most people over the cap, and per group the people and those over the cap. This module divides and judges:
the share over the cap against ``audits.frequency`` in the policy, and per group the bias statistics of
contracts/fairness.py with being over the cap as the ADVERSE decision (``favourable=False``): a group is
disadvantaged when its people are over-contacted more often than the reference group's.

Worked by hand in docs/file-audits.md#contact-frequency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .fairness import DimensionResult, GroupCounts, Thresholds, audit_dimension
from .finding import Severity
from .policy import FrequencyAuditRules

__all__ = ["WINDOWS", "NULL_GROUP", "WindowCount", "FrequencyCounts", "Bucket", "FrequencyResult",
           "share_severity", "buckets", "judge_frequency", "group_counts",
           "dimension_severities"]

WINDOWS = ("day", "week", "month")
NULL_GROUP = "(missing)"  # a group whose value is null: its own group, never merged with a literal 'unknown'


@dataclass(frozen=True)
class WindowCount:
    """One calendar window (its first day, ISO): people touched in it, and how many of them got more than the cap."""

    start: str
    people: int
    over_cap: int
    touches: int


@dataclass(frozen=True)
class FrequencyCounts:
    """Aggregates of one source; ``peaks`` maps a person's busiest-window touches (capped at cap + 1) to people."""

    rows: int
    excluded: Mapping[str, int]  # reason ("missing person", "missing time", "missing count") -> rows left out
    people: int
    over_cap: int
    max_touches: int
    touches: int
    person_windows: int
    person_windows_over_cap: int
    peaks: Mapping[int, int]
    p50: int
    p90: int
    p99: int
    top_windows: tuple[WindowCount, ...] = ()
    groups: tuple[GroupCounts, ...] = ()  # positives = people over the cap; one dimension per group column


@dataclass(frozen=True)
class Bucket:
    """People whose busiest window held ``label`` touches (``"> cap"`` for everyone above the cap)."""

    label: str
    people: int
    share: float
    over_cap: bool


@dataclass(frozen=True)
class FrequencyResult:
    counts: FrequencyCounts
    window: str
    cap: int
    share_over_cap: float
    severity: Severity | None
    distribution: tuple[Bucket, ...]
    dimensions: tuple[DimensionResult, ...] = field(default=())

    @property
    def severities(self) -> list[Severity | None]:
        """The overall severity, every failing group's and every warning's: what ``--fail-on`` weighs."""
        return [self.severity, *(s for d in self.dimensions for s in dimension_severities(d))]


def dimension_severities(d: DimensionResult) -> list[Severity | None]:
    """A dimension's failing groups' severities and its warnings' (a reference or group too small to judge), as
    contracts.fairness reports them: an unjudged group must not read as a pass."""
    return list(d.severities)


def share_severity(share: float, over_cap: int, rules: FrequencyAuditRules) -> Severity | None:
    """None when nobody is over the cap; info for anyone at all; warn / critical from the policy's shares."""
    if over_cap <= 0:
        return None
    if rules.share_critical is not None and share >= rules.share_critical:
        return Severity.critical
    if share >= rules.share_warn:
        return Severity.warn
    return Severity.info


def buckets(peaks: Mapping[int, int], cap: int, people: int) -> tuple[Bucket, ...]:
    """One bucket per touch count from 1 (0 too when a count column holds zeros) up to the cap, then one above it."""
    start = 0 if peaks.get(0) else 1
    out = [Bucket(str(k), peaks.get(k, 0), _share(peaks.get(k, 0), people), False) for k in range(start, cap + 1)]
    above = sum(v for k, v in peaks.items() if k > cap)
    return (*out, Bucket(f"> {cap}", above, _share(above, people), True))


def judge_frequency(counts: FrequencyCounts, window: str, cap: int, rules: FrequencyAuditRules,
                    thresholds: Thresholds = Thresholds(),
                    references: Mapping[str, str] | None = None) -> FrequencyResult:
    """The share over the cap and its severity, the distribution, and per group the over-contact bias verdicts."""
    share = _share(counts.over_cap, counts.people)
    by_dim: dict[str, list[GroupCounts]] = {}
    for g in counts.groups:
        by_dim.setdefault(g.dimension, []).append(g)
    refs = references or {}
    dims = tuple(audit_dimension(cs, thresholds, refs.get(d, "largest"), favourable=False)
                 for d, cs in by_dim.items())
    return FrequencyResult(counts=counts, window=window, cap=cap, share_over_cap=share,
                           severity=share_severity(share, counts.over_cap, rules),
                           distribution=buckets(counts.peaks, cap, counts.people), dimensions=dims)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def group_counts(column: str, rows: Sequence[tuple[str | None, int, int]]) -> list[GroupCounts]:
    """(value, people, over cap) rows of one group column as GroupCounts; a missing value is ``NULL_GROUP``."""
    return [GroupCounts((column,), (NULL_GROUP if v is None else str(v),), int(n), int(over)) for v, n, over in rows]
