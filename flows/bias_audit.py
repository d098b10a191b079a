"""The bias audit as a Python API: point it at a table or file, say which columns mean what, get a judged result.

    from .bias_audit import audit_bias
    audit = audit_bias("scores.parquet", groups=["age_band", "gender"], intersect=True,
                       score="lead_score", cutoff=60, outcome="converted")
    audit.failed            # True when a group fails four-fifths, the adverse ratio or error-rate parity
    audit.severities        # findings' and warnings' severities: what --fail-on gates on
    audit.to_dict()         # what `steward audit bias --json` prints

``favourable=False`` (the CLI's ``--adverse``) says the decision counted (``positive`` values, or score at the
cut-off) is ADVERSE: flagged, excluded, suppressed. contracts.fairness then judges the group that gets it more often.

It only wires the rooms together: DuckDB counts (integrations.warehouse.group_counts), the contracts judge
(contracts.fairness, contracts.proxies), and the policy supplies the thresholds nobody overrode.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..contracts.bias_policy import BiasPolicy, packaged_bias_policy
from ..contracts.fairness import (LARGEST, MOST_FAVOURED, AuditWarning, DimensionResult, ErrorGap, GroupResult, Rate,
                                  Thresholds, audit_dimension, to_findings)
from ..contracts.finding import Finding
from ..contracts.proxies import PROXY_THRESHOLD, ProxyResult, judge_proxies
from ..contracts.errors import ConfigError
from ..integrations.warehouse.audit_source import open_source
from ..integrations.warehouse.group_counts import ColumnMap, Missing, RowAccount, tally_audit

if TYPE_CHECKING:  # a --policy file is loaded (and validated whole) by the caller; the packaged one is read lightly
    from ..contracts.policy import Policy

__all__ = ["BiasAudit", "audit_bias", "resolve_references"]


@dataclass
class BiasAudit:
    source: str
    subject: str  # names the audited model or table in findings: the table, else the file's stem
    mapping: ColumnMap
    thresholds: Thresholds
    dimensions: list[DimensionResult]
    proxies: list[ProxyResult] = field(default_factory=list)
    proxy_threshold: float = PROXY_THRESHOLD
    policy: Policy | BiasPolicy | None = None  # None: the packaged policy's bias parts (contracts/bias_policy.py)
    favourable: bool = True  # False: the decision counted is adverse (--adverse)
    rows: RowAccount | None = None  # rows read, filtered, and left out for a missing score, outcome or group value

    @property
    def failed(self) -> bool:
        """A finding: a group fails four-fifths, the adverse ratio, equal opportunity or equalised odds."""
        return any(d.failing or d.equalised_odds_failing for d in self.dimensions)

    @property
    def warnings(self) -> list[AuditWarning]:
        return [w for d in self.dimensions for w in d.warnings]

    @property
    def severities(self) -> list[str]:
        """Every finding's and warning's severity, for ``exit_code(severities, --fail-on)``."""
        return [s.value for d in self.dimensions for s in d.severities]

    def findings(self, run_id: str = "bias-audit") -> list[Finding]:
        """Failing groups as Findings, worded and owned as the policy's bias check words and owns them."""
        policy = self.policy or packaged_bias_policy()
        return [f for d in self.dimensions for f in to_findings(d, run_id, policy, self.subject)]

    def to_dict(self, run_id: str = "bias-audit") -> dict[str, Any]:
        m = self.mapping
        return {
            "source": self.source,
            "mapping": {"groups": list(m.groups), "intersect": m.intersect, "score": m.score, "cutoff": m.cutoff,
                        "decision": m.decision, "positive": list(m.positive), "outcome": m.outcome,
                        "outcome_positive": list(m.outcome_positive), "favourable": self.favourable},
            "thresholds": vars(self.thresholds).copy(),
            "failed": self.failed,
            "warnings": [_warning(w) for w in self.warnings],
            "dimensions": [_dimension(d) for d in self.dimensions],
            "proxy_threshold": self.proxy_threshold,
            "proxies": [vars(p).copy() for p in self.proxies],
            "findings": [f.model_dump(mode="json") for f in self.findings(run_id)],
            "rows": self.rows.to_dict() if self.rows else None,
        }


def audit_bias(source: Path | str, groups: Sequence[str], *, table: str | None = None, score: str | None = None,
               cutoff: float | None = None, decision: str | None = None, positive: Sequence[str] = (),
               outcome: str | None = None, outcome_positive: Sequence[str] = (), intersect: bool = False,
               reference: Sequence[str] | str = LARGEST, min_group_size: int | None = None,
               inputs: Sequence[str] | None = None, proxies: bool = True,
               proxy_threshold: float = PROXY_THRESHOLD, policy: Policy | BiasPolicy | None = None,
               favourable: bool = True, where: str | None = None, bins: Sequence[str] = (),
               direction: str = "above") -> BiasAudit:
    """Count in DuckDB, judge in contracts. Thresholds not given come from the policy's bias check and
    ``audits.bias``; ``favourable=False`` judges the counted decision as adverse."""
    mapping = ColumnMap(groups=tuple(groups), score=score, cutoff=cutoff, decision=decision,
                        positive=tuple(str(p) for p in positive), outcome=outcome,
                        outcome_positive=tuple(str(v) for v in outcome_positive), intersect=intersect,
                        direction=direction)
    policy = policy or packaged_bias_policy()
    thresholds = Thresholds.from_policy(policy)
    if min_group_size is not None:
        # one knob for "how many people are enough": a group's n, and the actual positives / negatives of its FNR / FPR
        thresholds = replace(thresholds, min_group_size=min_group_size, error_min_denominator=max(min_group_size, 1))
    with open_source(source, table, where=where, bins=bins) as src:
        counts, account, aggregates = tally_audit(src, mapping, inputs, proxies=proxies)
        name = src.name
    by_dim: dict[str, list] = {}
    for c in counts:
        by_dim.setdefault(c.dimension, []).append(c)
    refs = resolve_references([reference] if isinstance(reference, str) else list(reference), by_dim)
    dims = [audit_dimension(cs, thresholds, refs[d], favourable=favourable) for d, cs in by_dim.items()]
    found = judge_proxies(aggregates.contingencies, aggregates.moments, aggregates.skipped,
                          list(dict.fromkeys(groups)), proxy_threshold) if aggregates else []
    return BiasAudit(name, table or _stem(Path(source)), mapping, thresholds, dims, found, proxy_threshold, policy,
                     favourable=favourable, rows=account)


def resolve_references(specs: Sequence[str], groups: dict[str, list]) -> dict[str, str]:
    """Per dimension: ``largest`` | ``most-favoured`` | ``DIMENSION=GROUP`` | ``GROUP`` (in whichever has it)."""
    rule = LARGEST
    chosen: dict[str, str] = {}
    for spec in specs or [LARGEST]:
        if spec in (LARGEST, MOST_FAVOURED):
            rule = spec
        elif "=" in spec and spec.split("=", 1)[0].strip() in groups:
            dim, value = (s.strip() for s in spec.split("=", 1))
            chosen[dim] = value
        else:
            hits = [d for d, cs in groups.items() if any(c.label == spec for c in cs)]
            if not hits:
                raise ConfigError(f"reference group '{spec}' is in no audited dimension "
                                  f"({', '.join(groups)}); use DIMENSION=GROUP or largest / most-favoured")
            chosen.update({d: spec for d in hits if d not in chosen})
    return {d: chosen.get(d, rule) for d in groups}


def _stem(path: Path) -> str:
    """What findings call a file: its name without suffix; for a glob (``scores/*.parquet``), its folder."""
    return (path.parent.name or "files") if any(ch in path.stem for ch in "*?[") else path.stem


def _rate(r: Rate | None) -> dict[str, Any] | None:
    return None if r is None else {"value": r.value, "ci_low": r.low, "ci_high": r.high, "num": r.num, "den": r.den}


def _group(g: GroupResult) -> dict[str, Any]:
    c = g.counts
    confusion = {"tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn} if c.has_outcome else None
    return {
        "group": c.label, "values": {k: None if isinstance(v, Missing) else v for k, v in zip(c.columns, c.values)},
        "n": c.n,
        "counts": {"positives": c.positives, **(confusion or {})},
        "rates": {"selection_rate": _rate(g.selection), "tpr": _rate(g.tpr), "fpr": _rate(g.fpr),
                  "fnr": _rate(g.fnr), "precision": _rate(g.precision)},
        "favourable_rate": g.favourable_rate,
        "vs_reference": {"disparity_ratio": g.disparity_ratio, "adverse_ratio": g.adverse_ratio,
                         "rate_difference": g.rate_difference, "z": g.z,
                         "tpr_difference": g.tpr_difference, "fpr_difference": g.fpr_difference},
        "verdict": g.verdict, "severity": g.severity.value if g.severity else None,
        "error_parity": None if g.fpr_gap is None else {
            "fpr": _gap(g.fpr_gap), "fnr": _gap(g.fnr_gap), "equal_opportunity": g.equal_opportunity,
            "equalised_odds": g.equalised_odds, "severity": g.error_severity.value if g.error_severity else None},
    }


def _gap(x: ErrorGap | None) -> dict[str, Any] | None:
    return None if x is None else {"ratio": x.ratio, "difference": x.difference, "z": x.z, "harm": x.harm,
                                   "verdict": x.verdict, "severity": x.severity.value if x.severity else None}


def _warning(w: AuditWarning) -> dict[str, Any]:
    return {"kind": w.kind, "dimension": w.dimension, "group": w.group, "n": w.n, "minimum": w.minimum,
            "severity": w.severity.value, "message": w.message}


def _dimension(d: DimensionResult) -> dict[str, Any]:
    return {
        "dimension": d.dimension, "columns": list(d.columns), "reference_group": d.reference,
        "reference_rule": d.reference_rule, "demographic_parity_difference": d.demographic_parity_difference,
        "demographic_parity_ratio": d.demographic_parity_ratio,
        "equalized_odds_difference": d.equalized_odds_difference, "failing": list(d.failing),
        "favoured_over_reference": list(d.favoured_over_reference),
        "error_parity": {
            "equalized_odds_ratio": d.equalized_odds_ratio,
            "equal_opportunity_difference": d.equal_opportunity_difference,
            "equal_opportunity_ratio": d.equal_opportunity_ratio,
            "false_positive_rate_difference": d.false_positive_rate_difference,
            "false_positive_rate_ratio": d.false_positive_rate_ratio,
            "false_negative_rate_difference": d.false_negative_rate_difference,
            "false_negative_rate_ratio": d.false_negative_rate_ratio,
            "equal_opportunity_rate": "fnr" if d.favourable else "fpr",
            "equal_opportunity_failing": list(d.equal_opportunity_failing),
            "equalised_odds_failing": list(d.equalised_odds_failing)},
        "warnings": [_warning(w) for w in d.warnings],
        "groups": [_group(g) for g in d.groups],
    }
