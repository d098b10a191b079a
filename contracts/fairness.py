"""Fairness of decisions across groups, judged from per-group confusion counts.

The warehouse (or DuckDB reading a file) counts; this module only divides, compares and judges, so it works the
same on a 300-row CSV and a 300-million-row table. Formulas match the ``gov_bias__selection_rates`` mart (reference =
largest group, pooled two-proportion z, Wilson 95 % interval) and docs/bias-audit.md works an example by hand.

Polarity: ``GroupCounts.positives`` counts the decision being audited. When it is favourable (selected, offered,
prioritised) a group is disadvantaged when it gets it less often; when it is adverse (``favourable=False``: flagged
high-risk, excluded, suppressed, over the contact cap) when it gets it MORE often. Either way ``disparity_ratio`` is
the ratio of FAVOURABLE rates (the four-fifths rule as the EEOC reads it) and ``z`` the pooled z on the favourable
rate, so negative always means disadvantaged; an adverse audit also reports ``adverse_ratio`` (a_g / a_ref), because
a ratio of favourable rates of 0.9 can hide an adverse rate that doubled (5 % against 10 %).

A group *fails* only when two things hold at once: its favourable rate is below ``ratio`` (four fifths) of the
reference group's, or its adverse rate is above ``adverse_ratio`` times the reference's, and the gap is significant
(z <= -``z``). A group smaller than ``min_group_size`` is reported as ``too_small`` instead: with a handful of people
a ratio of 0.5 is noise, and flagging it would teach people to ignore the audit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Literal, Sequence

from .errors import ConfigError
from .finding import Finding, Severity
from .policy import Policy

__all__ = ["GroupCounts", "Rate", "Thresholds", "GroupResult", "DimensionResult", "Verdict", "LARGEST",
           "MOST_FAVOURED", "CHECK_ID", "ADVERSE_CHECK_ID", "FAILING", "wilson", "pooled_z", "audit_dimension", "to_findings"]

CHECK_ID = "bias.selection_rate_disparity"
ADVERSE_CHECK_ID = "bias.adverse_rate_disparity"
LARGEST, MOST_FAVOURED = "largest", "most-favoured"
Verdict = Literal["reference", "too_small", "fails_four_fifths", "fails_adverse_ratio", "passes"]
FAILING: tuple[Verdict, ...] = ("fails_four_fifths", "fails_adverse_ratio")


@dataclass(frozen=True)
class GroupCounts:
    """One group's counts. ``tp..tn`` are None without an outcome; rows whose outcome is unknown count only in n."""

    columns: tuple[str, ...]
    values: tuple[str, ...]
    n: int
    positives: int
    tp: int | None = None
    fp: int | None = None
    fn: int | None = None
    tn: int | None = None

    @property
    def dimension(self) -> str:
        return " x ".join(self.columns)

    @property
    def label(self) -> str:
        return " / ".join(self.values)

    @property
    def has_outcome(self) -> bool:
        return self.tp is not None


@dataclass(frozen=True)
class Rate:
    """num / den with its Wilson interval; ``value`` is None when den is 0 (nobody to measure)."""

    num: int
    den: int
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Thresholds:
    """When a group fails. ``from_policy`` takes them from ``checks['bias.selection_rate_disparity']`` and, for
    adverse decisions, ``checks['bias.adverse_rate_disparity']``."""

    min_group_size: int = 50
    ratio: float = 0.8  # the four-fifths rule: the policy's `warn`
    critical_ratio: float | None = 0.5
    z: float = 2.58  # |z| at 99 % two-sided
    confidence_z: float = 1.96  # Wilson 95 %, as the mart
    adverse_ratio: float = 1.25  # adverse decisions: a_g / a_ref above this fails (when significant)
    critical_adverse_ratio: float | None = 2.0

    @classmethod
    def from_policy(cls, policy: Policy) -> "Thresholds":
        """The check's warn/critical, and the ``n >= N`` and ``z_vs_reference <= -Z`` of its ``where``."""
        rule = policy.checks.get(CHECK_ID)
        if rule is None:
            return cls()
        where = rule.where or ""
        n = re.search(r"\bn\s*>=?\s*(\d+)", where)
        z = re.search(r"z_vs_reference\s*<=?\s*-\s*(\d+(?:\.\d+)?)", where)
        ratio = rule.warn if rule.warn is not None else rule.critical
        adverse = policy.checks.get(ADVERSE_CHECK_ID)
        adverse_warn = None if adverse is None else (adverse.warn if adverse.warn is not None else adverse.critical)
        return cls(min_group_size=int(n.group(1)) if n else cls.min_group_size, ratio=float(ratio),
                   critical_ratio=rule.critical if rule.warn is not None else None,
                   z=float(z.group(1)) if z else cls.z,
                   adverse_ratio=float(adverse_warn) if adverse_warn is not None else cls.adverse_ratio,
                   critical_adverse_ratio=(cls.critical_adverse_ratio if adverse is None else
                                           adverse.critical if adverse.warn is not None else None))


@dataclass(frozen=True)
class GroupResult:
    counts: GroupCounts
    selection: Rate
    tpr: Rate | None
    fpr: Rate | None
    fnr: Rate | None
    precision: Rate | None
    disparity_ratio: float | None  # None when the reference selects nobody
    rate_difference: float
    z: float
    tpr_difference: float | None
    fpr_difference: float | None
    verdict: Verdict
    severity: Severity | None = None  # set on failing groups only
    # Adverse decisions only: a_g / a_ref (None when the decision is favourable or the reference gets it never).
    adverse_ratio: float | None = None
    favourable: bool = True  # polarity of counts.positives: False = the audited decision is adverse

    @property
    def favourable_rate(self) -> float | None:
        """Share of the group that got the favourable outcome, whichever decision was counted."""
        v = self.selection.value
        return v if v is None or self.favourable else 1.0 - v


@dataclass(frozen=True)
class DimensionResult:
    dimension: str
    columns: tuple[str, ...]
    reference: str
    reference_rule: str
    groups: tuple[GroupResult, ...]
    thresholds: Thresholds
    # Over the judgeable groups (n >= min_group_size), as fairlearn defines them: max - min and min / max.
    demographic_parity_difference: float | None = None
    demographic_parity_ratio: float | None = None
    equalized_odds_difference: float | None = None
    failing: tuple[str, ...] = field(default=())
    # Groups the reference itself would fail against: the reference may be the disadvantaged group (the
    # largest group often is); --reference most-favoured then judges the others against the best-served group.
    favoured_over_reference: tuple[str, ...] = field(default=())
    favourable: bool = True  # False: counts.positives is the adverse decision

    @property
    def reference_group(self) -> GroupResult:
        return next(g for g in self.groups if g.counts.label == self.reference)


def wilson(num: int, den: int, z: float = 1.96) -> Rate:
    """Wilson score interval: unlike p ± z·se it stays inside [0, 1] and is honest at 0 % or 100 % in small groups."""
    if den <= 0:
        return Rate(num, den, None, None, None)
    p = num / den
    centre = p + z * z / (2 * den)
    spread = z * math.sqrt(p * (1 - p) / den + z * z / (4 * den * den))
    scale = 1 + z * z / den
    return Rate(num, den, p, max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale))


def pooled_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-proportion z of group 1 against group 2 under the pooled null; 0 when nothing can differ."""
    if n1 <= 0 or n2 <= 0:
        return 0.0
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 0.0
    return (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))


def audit_dimension(counts: Sequence[GroupCounts], thresholds: Thresholds = Thresholds(),
                    reference: str = LARGEST, *, favourable: bool = True) -> DimensionResult:
    """Rates, disparities against the reference and a verdict for every group of one dimension.

    ``favourable=False`` says ``positives`` counts an ADVERSE decision: disadvantaged then means getting it more
    often than the reference, and the most-favoured reference is the group that gets it least.
    """
    if not counts:
        raise ConfigError("no groups to audit: the source has no rows")
    dims = {c.dimension for c in counts}
    if len(dims) != 1:
        raise ValueError(f"audit_dimension takes one dimension at a time, got {sorted(dims)}")
    groups = sorted(counts, key=lambda c: c.values)
    ref = _reference(groups, reference, thresholds.min_group_size, favourable)
    results = tuple(_judge(g, ref, thresholds, favourable) for g in groups)
    judged = [r for r in results if r.counts.n >= thresholds.min_group_size]
    return _summarise(DimensionResult(
        dimension=groups[0].dimension, columns=groups[0].columns, reference=ref.label,
        reference_rule=reference if reference in (LARGEST, MOST_FAVOURED) else "explicit", groups=results,
        thresholds=thresholds, failing=tuple(r.counts.label for r in results if r.verdict in FAILING),
        favoured_over_reference=tuple(r.counts.label for r in judged if _favoured(r, thresholds)),
        favourable=favourable), judged)


def _reference(groups: Sequence[GroupCounts], rule: str, min_n: int, favourable: bool = True) -> GroupCounts:
    """Explicit label, else the largest group, else the most-favoured (highest FAVOURABLE rate) among groups big
    enough to judge."""
    if rule == LARGEST:
        return min(groups, key=lambda g: (-g.n, g.values))
    if rule == MOST_FAVOURED:
        pool = [g for g in groups if g.n >= min_n] or list(groups)
        return min(pool, key=lambda g: (-_favourable_share(g, favourable), -g.n, g.values))
    for g in groups:
        if g.label == rule:
            return g
    names = ", ".join(g.label for g in groups[:20])
    raise ConfigError(f"reference group '{rule}' is not a group of {groups[0].dimension} (groups: {names})")


def _favourable_share(g: GroupCounts, favourable: bool) -> float:
    if not g.n:
        return 0.0
    return g.positives / g.n if favourable else (g.n - g.positives) / g.n


def _judge(g: GroupCounts, ref: GroupCounts, t: Thresholds, favourable: bool = True) -> GroupResult:
    sel, ref_sel = wilson(g.positives, g.n, t.confidence_z), wilson(ref.positives, ref.n, t.confidence_z)
    # The four-fifths ratio and z always compare FAVOURABLE rates; for an adverse decision that is 1 - a.
    fav, ref_fav = (g.positives, ref.positives) if favourable else (g.n - g.positives, ref.n - ref.positives)
    ratio = None if not ref.n or not ref_fav else (fav / g.n if g.n else 0.0) / (ref_fav / ref.n)
    adverse_ratio = None if favourable or not ref_sel.value else (sel.value or 0.0) / ref_sel.value
    z = 0.0 if g is ref else pooled_z(fav, g.n, ref_fav, ref.n)
    tpr, fpr, fnr, precision = _outcome_rates(g, t.confidence_z)
    ref_tpr, ref_fpr, _, _ = _outcome_rates(ref, t.confidence_z)
    verdict, severity = _verdict(g is ref, g.n, ratio, adverse_ratio, z, t)
    return GroupResult(
        counts=g, selection=sel, tpr=tpr, fpr=fpr, fnr=fnr, precision=precision, disparity_ratio=ratio,
        rate_difference=(sel.value or 0.0) - (ref_sel.value or 0.0), z=z,
        tpr_difference=_diff(tpr, ref_tpr), fpr_difference=_diff(fpr, ref_fpr), verdict=verdict, severity=severity,
        adverse_ratio=adverse_ratio, favourable=favourable)


def _verdict(is_ref: bool, n: int, ratio: float | None, adverse_ratio: float | None, z: float,
             t: Thresholds) -> tuple[Verdict, Severity | None]:
    if is_ref:
        return "reference", None
    if n < t.min_group_size:
        return "too_small", None
    four_fifths = ratio is not None and ratio < t.ratio
    adverse = adverse_ratio is not None and adverse_ratio > t.adverse_ratio
    if (four_fifths or adverse) and z <= -t.z:
        critical = ((t.critical_ratio is not None and ratio is not None and ratio < t.critical_ratio)
                    or (t.critical_adverse_ratio is not None and adverse_ratio is not None
                        and adverse_ratio > t.critical_adverse_ratio))
        return ("fails_four_fifths" if four_fifths else "fails_adverse_ratio",
                Severity.critical if critical else Severity.warn)
    return "passes", None


def _favoured(r: GroupResult, t: Thresholds) -> bool:
    """The mirror of a failure: the reference would fail against this group (its favourable rate below ``ratio``
    of this group's, or its adverse rate above ``adverse_ratio`` times this group's), significantly."""
    if r.verdict != "passes" or r.z < t.z:
        return False
    four_fifths = r.disparity_ratio is not None and r.disparity_ratio > 0 and 1 / r.disparity_ratio < t.ratio
    adverse = r.adverse_ratio is not None and (r.adverse_ratio == 0 or 1 / r.adverse_ratio > t.adverse_ratio)
    return four_fifths or adverse


def _outcome_rates(g: GroupCounts, z: float) -> tuple[Rate | None, Rate | None, Rate | None, Rate | None]:
    """TPR, FPR, FNR and precision over the rows whose outcome is known."""
    if not g.has_outcome:
        return None, None, None, None
    tp, fp, fn, tn = g.tp or 0, g.fp or 0, g.fn or 0, g.tn or 0
    return wilson(tp, tp + fn, z), wilson(fp, fp + tn, z), wilson(fn, tp + fn, z), wilson(tp, tp + fp, z)


def _diff(a: Rate | None, b: Rate | None) -> float | None:
    if a is None or b is None or a.value is None or b.value is None:
        return None
    return a.value - b.value


def _spread(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) - min(known) if known else None


def _summarise(result: DimensionResult, judged: Sequence[GroupResult]) -> DimensionResult:
    """Dimension-wide gaps (fairlearn's demographic parity and equalised odds) over the judgeable groups."""
    rates = [r.selection.value for r in judged if r.selection.value is not None]
    if not rates:
        return result
    top = max(rates)
    odds = [_spread([r.tpr.value if r.tpr else None for r in judged]),
            _spread([r.fpr.value if r.fpr else None for r in judged])]
    known_odds = [o for o in odds if o is not None]
    return replace(result, demographic_parity_difference=top - min(rates),
                   demographic_parity_ratio=(min(rates) / top) if top else None,
                   equalized_odds_difference=max(known_odds) if known_odds else None)


def to_findings(result: DimensionResult, run_id: str, policy: Policy, subject_prefix: str) -> list[Finding]:
    """Failing groups as Findings of the mart checks' ids, so alerts, routing and deduplication treat them alike.

    A four-fifths failure is ``bias.selection_rate_disparity`` (metric ``disparity_ratio``, favourable rates); an
    adverse decision whose favourable ratio passes but whose adverse rate is too many times the reference's is
    ``bias.adverse_rate_disparity`` (metric ``adverse_ratio``)."""
    return [_finding(result, g, run_id, policy, subject_prefix) for g in result.groups if g.verdict in FAILING]


def _finding(result: DimensionResult, g: GroupResult, run_id: str, policy: Policy, subject_prefix: str) -> Finding:
    t, ref = result.thresholds, result.reference_group
    severity = g.severity or Severity.warn
    critical = severity is Severity.critical
    subject = f"{subject_prefix}: {result.dimension}={g.counts.label}"
    evidence: dict = {"n": g.counts.n, "positives": g.counts.positives, "selection_rate": g.selection.value,
                      "ci_low": g.selection.low, "ci_high": g.selection.high, "reference_group": result.reference,
                      "reference_rate": ref.selection.value, "z_vs_reference": g.z}
    if g.verdict == "fails_four_fifths":
        check_id, metric, observed = CHECK_ID, "disparity_ratio", g.disparity_ratio
        threshold = t.critical_ratio if critical and t.critical_ratio is not None else t.ratio
    else:
        check_id, metric, observed = ADVERSE_CHECK_ID, "adverse_ratio", g.adverse_ratio
        threshold = (t.critical_adverse_ratio if critical and t.critical_adverse_ratio is not None
                     else t.adverse_ratio)
    if result.favourable:
        explanation = (f"{subject_prefix} selects {result.dimension} {g.counts.label} {g.selection.value:.1%} of "
                       f"the time against {ref.selection.value:.1%} for the reference group {result.reference}: "
                       f"a ratio of {g.disparity_ratio:.2f}, below the {threshold:.2f} the policy allows.")
    else:
        evidence.update(favourable=False, adverse_ratio=g.adverse_ratio, disparity_ratio=g.disparity_ratio)
        times = "" if g.adverse_ratio is None else f" ({g.adverse_ratio:.2f} times as often)"
        limit = (f"a favourable-rate ratio of {g.disparity_ratio:.2f}, below the {threshold:.2f}"
                 if check_id == CHECK_ID else f"above the {threshold:.2f} times")
        explanation = (f"{subject_prefix} gives {result.dimension} {g.counts.label} the adverse decision "
                       f"{g.selection.value:.1%} of the time against {ref.selection.value:.1%} for the reference "
                       f"group {result.reference}{times}: {limit} the policy allows.")
    rule = policy.checks.get(check_id) or policy.checks.get(CHECK_ID)
    return Finding(
        run_id=run_id, check_id=check_id, family="bias", severity=severity, subject_type="segment", subject=subject,
        metric=metric, observed=observed, threshold=threshold, evidence=evidence, explanation=explanation,
        owner=(rule.owner if rule and rule.owner else policy.owner),
        action=rule.action_for(severity) if rule else "alert")
