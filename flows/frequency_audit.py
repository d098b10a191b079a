"""The frequency audit as a Python API: contact pressure on any table or file a team brings.

    from .frequency_audit import audit_frequency
    audit = audit_frequency("sends.parquet", person="contact_id", at="sent_at", window="week", groups=["region"])
    audit.result.share_over_cap   # share of people whose busiest week held more touches than the cap
    audit.to_dict()               # what `steward audit frequency --json` prints

It only wires the rooms together: DuckDB counts (integrations.warehouse.frequency_counts), the contracts judge
(contracts.frequency, contracts.fairness with over-contact as the adverse decision), and the policy supplies the cap
and the thresholds nobody overrode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from ..contracts.errors import ConfigError
from ..contracts.fairness import LARGEST, DimensionResult, GroupResult, Thresholds
from ..contracts.frequency import FrequencyResult, judge_frequency
from ..contracts.policy import FrequencyAuditRules, Policy, load_policy
from ..integrations.warehouse.audit_source import open_source
from ..integrations.warehouse.frequency_counts import FrequencySpec, count_frequency
from .bias_audit import resolve_references

__all__ = ["FrequencyAudit", "audit_frequency", "warnings_of"]


@dataclass
class FrequencyAudit:
    source: str
    spec: FrequencySpec
    rules: FrequencyAuditRules
    thresholds: Thresholds
    result: FrequencyResult
    where: str | None = None  # the confined --where as it ran (None without one)
    rows_read: int | None = None  # rows before --where (None without one)

    @property
    def severities(self) -> list:
        return self.result.severities

    def to_dict(self) -> dict[str, Any]:
        r, c, s = self.result, self.result.counts, self.spec
        return {
            "source": self.source,
            "mapping": {"person": s.person, "at": s.at, "count": s.count, "window": s.window,
                        "groups": list(s.groups)},
            "cap": r.cap, "window": r.window,
            "rules": self.rules.model_dump(), "thresholds": vars(self.thresholds).copy(),
            "where": self.where, "rows_read": self.rows_read,
            "rows": c.rows, "excluded_rows": dict(c.excluded),
            "people": c.people, "people_over_cap": c.over_cap, "share_over_cap": r.share_over_cap,
            "max_touches_in_a_window": c.max_touches, "touches": c.touches,
            "person_windows": c.person_windows, "person_windows_over_cap": c.person_windows_over_cap,
            "percentiles": {"p50": c.p50, "p90": c.p90, "p99": c.p99},
            "distribution": [{"touches": b.label, "people": b.people, "share": b.share, "over_cap": b.over_cap}
                             for b in r.distribution],
            "top_windows": [vars(w).copy() for w in c.top_windows],
            "severity": r.severity.value if r.severity else None,
            "groups": [_dimension(d) for d in r.dimensions],
        }


def audit_frequency(source: Path | str, person: str, *, at: str | None = None, count: str | None = None,
                    window: str = "week", cap: int | None = None, groups: Sequence[str] = (),
                    table: str | None = None, reference: Sequence[str] | str = LARGEST,
                    min_group_size: int | None = None, policy: Policy | None = None, where: str | None = None,
                    bins: Sequence[str] = ()) -> FrequencyAudit:
    """Count in DuckDB, judge in contracts. The cap, shares and bias thresholds not given come from the policy.
    ``where`` keeps the rows matching a confined SQL condition and ``bins`` bands numeric columns (``COL=EDGES``),
    as in the bias audit: a banded column can be a group."""
    spec = FrequencySpec(person=person, at=at, count=count, window=window, groups=tuple(dict.fromkeys(groups)))
    if cap is not None and cap < 1:
        raise ConfigError(f"--cap must be 1 or more, not {cap}")
    policy = policy or load_policy()
    rules = policy.audits.frequency
    cap = rules.cap_for(window, policy.scope) if cap is None else cap
    thresholds = Thresholds.from_policy(policy)
    if min_group_size is not None:
        thresholds = replace(thresholds, min_group_size=min_group_size)
    with open_source(source, table, where=where, bins=bins) as src:
        counts = count_frequency(src, spec, cap)
        name, rendered, rows_read = src.name, src.where, src.rows_read() if src.where is not None else None
    by_dim: dict[str, list] = {}
    for g in counts.groups:
        by_dim.setdefault(g.dimension, []).append(g)
    refs = resolve_references([reference] if isinstance(reference, str) else list(reference), by_dim) if by_dim \
        else {}
    result = judge_frequency(counts, window, cap, rules, thresholds, refs)
    return FrequencyAudit(name, spec, rules, thresholds, result, rendered, rows_read)


def _group(g: GroupResult) -> dict[str, Any]:
    c = g.counts
    sel = g.selection
    return {
        "group": c.label, "people": c.n, "over_cap": c.positives,
        "over_cap_rate": {"value": sel.value, "ci_low": sel.low, "ci_high": sel.high},
        "vs_reference": {"disparity_ratio": g.disparity_ratio, "adverse_ratio": getattr(g, "adverse_ratio", None),
                         "over_cap_rate_difference": g.rate_difference, "z": g.z},
        "verdict": g.verdict, "severity": g.severity.value if g.severity else None,
    }


def _dimension(d: DimensionResult) -> dict[str, Any]:
    return {"dimension": d.dimension, "reference_group": d.reference, "reference_rule": d.reference_rule,
            "failing": list(d.failing), "groups": [_group(g) for g in d.groups],
            "warnings": [{"kind": w.kind, "group": w.group, "n": w.n, "minimum": w.minimum, "message": w.message,
                          "severity": w.severity.value} for w in warnings_of(d)]}


def warnings_of(d: DimensionResult) -> tuple:
    """What contracts.fairness could not judge in a dimension (a reference or group too small), said out loud."""
    return tuple(d.warnings)
