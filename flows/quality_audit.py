"""The data quality audit as a Python API: point it at a table or file, get a judged column profile.

    from .quality_audit import audit_quality
    audit = audit_quality("contacts.csv", key=["contact_id"], ranges=["age=0..120"])
    audit.severity          # the worst finding's severity, or None
    audit.to_dict()         # what `steward audit quality --json` prints

It only wires the rooms together: DuckDB counts (integrations.warehouse.column_profile), the contracts judge
(contracts.quality), and the policy's ``audits.quality`` supplies placeholders, sentinels and levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Sequence

from ..contracts.finding import Severity
from ..contracts.policy import Policy, QualityAuditRules, load_policy
from ..contracts.quality import (ColumnVerdict, QualityJudgement, TableProfile, judge_profile, parse_range,
                                 policy_ranges)
from ..integrations.warehouse.audit_source import open_source
from ..integrations.warehouse.column_profile import profile_columns

__all__ = ["QualityAudit", "audit_quality"]


@dataclass
class QualityAudit:
    source: str
    subject: str  # names the audited table in findings: the table, else the file's stem
    profile: TableProfile
    judgement: QualityJudgement
    rules: QualityAuditRules
    where: str | None = None  # the confined --where as it ran (None without one)
    rows_read: int | None = None  # rows before --where (None without one)

    @property
    def severity(self) -> Severity | None:
        return self.judgement.severity

    def severities(self) -> list[Severity]:
        return [f.severity for f in self.judgement.findings]

    def to_dict(self) -> dict[str, Any]:
        """ONE document: the source, its rows, each column's profile, the key's duplicates, and the findings."""
        j, p = self.judgement, self.profile
        return {
            "source": self.source,
            "where": self.where, "rows_read": self.rows_read,
            "rows": p.rows,
            "exact": p.exact,
            "exact_distinct_max_rows": self.rules.exact_distinct_max_rows,
            "exact_median_max_values": self.rules.exact_median_max_values,
            "outlier_z": self.rules.outlier_z,
            "columns": [_column(v) for v in j.columns],
            "key": None if p.key is None else {
                "columns": list(p.key.columns), "distinct_keys": p.key.distinct_keys,
                "duplicated_keys": p.key.duplicated_keys, "duplicate_rows": p.key.extra_rows,
                "null_key_rows": p.key.null_key_rows, "max_rows_per_key": p.key.max_rows_per_key,
                "severity": _sev(max((m.severity for m in j.key.values() if m.severity), default=None,
                                     key=lambda s: s.rank))},
            "severity": _sev(self.severity),
            "findings": [f.model_dump(mode="json") for f in j.findings],
        }


def audit_quality(source: Path | str, *, table: str | None = None, key: Sequence[str] = (),
                  ranges: Sequence[str] = (), policy: Policy | None = None,
                  run_id: str = "quality-audit", where: str | None = None,
                  bins: Sequence[str] = ()) -> QualityAudit:
    """Profile in DuckDB, judge in contracts. ``ranges`` are ``COL=MIN..MAX`` specs; the policy adds its own for
    columns the source has and the specs do not name. ``where`` profiles only the rows matching a confined SQL
    condition; ``bins`` (``COL=EDGES``) profiles a numeric column as its bands."""
    rules = (policy or load_policy()).audits.quality
    given = [parse_range(spec) for spec in ranges]
    with open_source(source, table, where=where, bins=bins) as src:
        src.require(*key, *(r.column for r in given))
        chosen = policy_ranges(rules, src.columns, given, src.name)
        profile = profile_columns(src, rules, chosen, key)
        name, rendered, rows_read = src.name, src.where, src.rows_read() if src.where is not None else None
    subject = table or _stem(Path(source))
    return QualityAudit(name, subject, profile, judge_profile(profile, rules, subject, run_id), rules, rendered,
                        rows_read)


def _stem(path: Path) -> str:
    """What findings call a file: its name without suffix; for a glob (``exports/*.csv``), its folder."""
    return (path.parent.name or "files") if any(ch in path.stem for ch in "*?[") else path.stem


def _column(v: ColumnVerdict) -> dict[str, Any]:
    s, m = v.stats, v.measures

    def measure(name: str) -> dict[str, Any] | None:
        got = m.get(name)
        return None if got is None else {"count": got.count, "share": got.share, "severity": _sev(got.severity)}

    out: dict[str, Any] = {
        "name": s.name, "type": s.type, "kind": s.kind, "rows": s.rows,
        "nulls": measure("null_share"),
        "placeholders": {**(measure("placeholder_share") or {}), "values": dict(v.placeholder_values)},
        "distinct": {"count": s.distinct, "exact": s.distinct_exact},
        "min": _plain(s.minimum), "max": _plain(s.maximum),
        "masked": s.masked,
    }
    if s.kind == "text":
        out["length"] = {"min": s.min_length, "max": s.max_length}
    if s.range is not None:
        out["range"] = {"min": _plain(s.range.low), "max": _plain(s.range.high), "origin": s.range.origin,
                        **measure("out_of_range_share")}  # type: ignore[dict-item]
    if s.robust is not None:
        r = s.robust
        bounds = v.outlier_bounds
        out["outliers"] = {"method": "mad" if r.mad > 0 else "mean_ad" if r.mean_ad > 0 else "constant",
                           "median": None if s.masked else r.median, "mad": None if s.masked else r.mad,
                           "mean_ad": None if s.masked else r.mean_ad, "exact": r.exact,
                           "low": None if s.masked or not bounds else bounds[0],
                           "high": None if s.masked or not bounds else bounds[1],
                           **measure("outlier_share")}  # type: ignore[dict-item]
    out["severity"] = _sev(v.severity)
    return out


def _plain(value: Any) -> Any:
    """JSON-ready: dates as ISO text, decimals as floats."""
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return float(value)


def _sev(severity: Severity | None) -> str | None:
    return None if severity is None else severity.value
