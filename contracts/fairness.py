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
a ratio of 0.5 is noise, and flagging it would teach people to ignore the audit. But not judging is not passing: every
group too small to judge, and a reference too small to judge against, is an ``AuditWarning`` (severity warn), so a
CI job gating on warnings never reads an unjudged audit as green.

Error-rate parity (with an outcome): each group's FPR (among actual negatives) and FNR (among actual positives)
against the reference's, as ratio, difference and pooled z. The error that harms a group depends on polarity: for a
favourable decision a false negative (qualified, denied), for an adverse one a false positive (wrongly flagged).
*Equal opportunity* judges that error only; *equalised odds* also the other stratum, where the harm is the group
getting the favourable decision less often by mistake (a lower FPR of a favourable decision, a lower FNR of an
adverse one). Thresholds come from the policy's ``audits.bias``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, Sequence, Union

from .errors import ConfigError
from .finding import Finding, Severity

if TYPE_CHECKING:  # read, never built here: a file audit passes the packaged policy's bias parts (bias_policy.py)
    from .bias_policy import BiasPolicy
    from .policy import Policy

    PolicyLike = Union[Policy, BiasPolicy]

__all__ = ["GroupCounts", "Rate", "Thresholds", "GroupResult", "DimensionResult", "Verdict", "LARGEST",
           "MOST_FAVOURED", "CHECK_ID", "ADVERSE_CHECK_ID", "FAILING", "ErrorGap", "AuditWarning", "ParityVerdict",
           "ERROR_CHECK_IDS", "wilson", "pooled_z", "audit_dimension", "to_findings"]

CHECK_ID = "bias.selection_rate_disparity"
ADVERSE_CHECK_ID = "bias.adverse_rate_disparity"
LARGEST, MOST_FAVOURED = "largest", "most-favoured"
Verdict = Literal["reference", "too_small", "reference_too_small", "fails_four_fifths", "fails_adverse_ratio",
                  "passes"]
ParityVerdict = Literal["reference", "too_small", "fails", "passes"]
ERROR_CHECK_IDS = {"equal_opportunity": "bias.equal_opportunity", "equalised_odds": "bias.equalised_odds"}
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
    # error-rate parity (policy audits.bias): the harmful error rate above error_ratio x the reference's, at least
    # error_difference higher, with pooled z >= error_z; rates over fewer than error_min_denominator are not judged
    error_ratio: float = 1.25
    critical_error_ratio: float | None = 2.0
    error_difference: float = 0.05
    error_min_denominator: int = 30
    error_z: float = 2.58

    @classmethod
    def from_policy(cls, policy: PolicyLike) -> "Thresholds":
        """The check's warn/critical, and the ``n >= N`` and ``z_vs_reference <= -Z`` of its ``where``."""
        rules = policy.audits.bias
        errors = dict(error_ratio=rules.error_rate_ratio, critical_error_ratio=rules.error_rate_critical_ratio,
                      error_difference=rules.error_rate_min_difference,
                      error_min_denominator=rules.error_rate_min_denominator, error_z=rules.error_rate_z)
        rule = policy.checks.get(CHECK_ID)
        if rule is None:
            return cls(**errors)
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
                                           adverse.critical if adverse.warn is not None else None), **errors)


@dataclass(frozen=True)
class ErrorGap:
    """One error rate of a group against the reference's: FPR among actual negatives, FNR among actual positives.

    ``harm`` says which way hurts the group: ``higher`` for the error that wrongly withholds the favourable outcome
    (FNR of a favourable decision, FPR of an adverse one), ``lower`` for the other (fewer lucky mistakes)."""

    rate: Literal["fpr", "fnr"]
    ratio: float | None  # group / reference; None when the reference's rate is 0 or unknown
    difference: float | None  # group - reference
    z: float  # pooled two-proportion z, positive = the group errs more often
    harm: Literal["higher", "lower"]
    verdict: ParityVerdict
    severity: Severity | None = None


@dataclass(frozen=True)
class AuditWarning:
    """Something the audit could not judge, said out loud: an unjudged group must never read as a passing one."""

    kind: Literal["reference_too_small", "group_too_small", "error_rates_too_small", "reference_disadvantaged"]
    dimension: str
    group: str
    n: int
    minimum: int
    message: str
    severity: Severity = Severity.warn


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
    # Error-rate parity against the reference (None without an outcome).
    fpr_gap: ErrorGap | None = None
    fnr_gap: ErrorGap | None = None
    equal_opportunity: ParityVerdict | None = None  # the harmful error only (FNR if favourable, FPR if adverse)
    equalised_odds: ParityVerdict | None = None  # both error rates
    error_severity: Severity | None = None  # worst severity of a failing error gap

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
    # fairlearn's error-rate metrics over the judgeable groups: max - min and min / max (equal opportunity = TPR)
    equalized_odds_ratio: float | None = None
    equal_opportunity_difference: float | None = None
    equal_opportunity_ratio: float | None = None
    false_positive_rate_difference: float | None = None
    false_positive_rate_ratio: float | None = None
    false_negative_rate_difference: float | None = None
    false_negative_rate_ratio: float | None = None
    equal_opportunity_failing: tuple[str, ...] = field(default=())
    equalised_odds_failing: tuple[str, ...] = field(default=())
    warnings: tuple[AuditWarning, ...] = field(default=())

    @property
    def severities(self) -> list[Severity]:
        """Every finding's and warning's severity: what ``--fail-on`` gates on."""
        return ([g.severity for g in self.groups if g.severity is not None]
                + [g.error_severity for g in self.groups if g.error_severity is not None]
                + [w.severity for w in self.warnings])

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
    if ref.n < thresholds.min_group_size:
        judged = []  # nothing was judged against a reference this small: no green figure either
    favoured = tuple(r.counts.label for r in judged if _favoured(r, thresholds))
    return _summarise(DimensionResult(
        dimension=groups[0].dimension, columns=groups[0].columns, reference=ref.label,
        reference_rule=reference if reference in (LARGEST, MOST_FAVOURED) else "explicit", groups=results,
        thresholds=thresholds, failing=tuple(r.counts.label for r in results if r.verdict in FAILING),
        favoured_over_reference=favoured,
        favourable=favourable,
        equal_opportunity_failing=tuple(r.counts.label for r in results if r.equal_opportunity == "fails"),
        equalised_odds_failing=tuple(r.counts.label for r in results if r.equalised_odds == "fails"),
        warnings=_warnings(groups[0].dimension, results, ref, thresholds, reference)
        + _disadvantaged_reference(groups[0].dimension, ref, favoured, thresholds, reference, favourable)), judged)


def _disadvantaged_reference(dimension: str, ref: GroupCounts, favoured: Sequence[str], t: Thresholds, rule: str,
                             favourable: bool) -> tuple[AuditWarning, ...]:
    """The largest group, chosen as the reference by default, may itself be the disadvantaged one (it often is).
    Every other group then "passes" against it, which is a false green: a warning, so ``--fail-on warn`` stops.
    An explicit reference was the user's own choice of comparison and is only noted."""
    if rule != LARGEST or not favoured:
        return ()
    got = ("gets the favourable decision significantly less often than" if favourable else
           "gets the adverse decision significantly more often than")
    return (AuditWarning(
        "reference_disadvantaged", dimension, ref.label, ref.n, t.min_group_size,
        f"{dimension}: the reference {ref.label} (the largest group) itself {got} {', '.join(favoured)}: no group "
        f"of {dimension} can fail against it, so its passes prove nothing; judge with --reference most-favoured."),)


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
    # a reference never given the adverse decision has no ratio to report, but any adverse rate above it is
    # infinitely many times higher: judge it so (z still decides whether the gap is real)
    adverse_times = (math.inf if not favourable and adverse_ratio is None and ref.n and g.positives else
                     adverse_ratio)
    verdict, severity = _verdict(g is ref, g.n, ratio, adverse_times, z, t, ref.n < t.min_group_size)
    fpr_gap, fnr_gap = _error_gaps(g, ref, t, favourable, judge=verdict not in ("too_small", "reference_too_small"))
    harmful = fnr_gap if favourable else fpr_gap
    gaps = [x for x in (fpr_gap, fnr_gap) if x is not None]
    error_severities = [x.severity for x in gaps if x.severity is not None]
    return GroupResult(
        counts=g, selection=sel, tpr=tpr, fpr=fpr, fnr=fnr, precision=precision, disparity_ratio=ratio,
        rate_difference=(sel.value or 0.0) - (ref_sel.value or 0.0), z=z,
        tpr_difference=_diff(tpr, ref_tpr), fpr_difference=_diff(fpr, ref_fpr), verdict=verdict, severity=severity,
        adverse_ratio=adverse_ratio, favourable=favourable, fpr_gap=fpr_gap, fnr_gap=fnr_gap,
        equal_opportunity=harmful.verdict if harmful else None, equalised_odds=_both(gaps) if gaps else None,
        error_severity=max(error_severities, key=_RANK.__getitem__) if error_severities else None)


def _verdict(is_ref: bool, n: int, ratio: float | None, adverse_ratio: float | None, z: float,
             t: Thresholds, ref_too_small: bool = False) -> tuple[Verdict, Severity | None]:
    if is_ref:
        return "reference", None
    if n < t.min_group_size:
        return "too_small", None
    if ref_too_small:
        return "reference_too_small", None
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
    # z >= t.z > 0 means this group's favourable rate is above the reference's; a reference with no favourable
    # outcome at all (no ratio) is then infinitely far behind
    inverse_ratio = 0.0 if r.disparity_ratio is None else 1 / r.disparity_ratio if r.disparity_ratio > 0 else math.inf
    inverse_adverse = (None if r.adverse_ratio is None else
                       math.inf if r.adverse_ratio == 0 else 1 / r.adverse_ratio)
    return inverse_ratio < t.ratio or (inverse_adverse is not None and inverse_adverse > t.adverse_ratio)


_RANK = {Severity.info: 0, Severity.warn: 1, Severity.critical: 2}


def _error_gaps(g: GroupCounts, ref: GroupCounts, t: Thresholds, favourable: bool,
                judge: bool) -> tuple[ErrorGap | None, ErrorGap | None]:
    """FPR among actual negatives and FNR among actual positives, each against the reference's, each judged."""
    if not g.has_outcome or not ref.has_outcome:
        return None, None
    gtp, gfp, gfn, gtn = g.tp or 0, g.fp or 0, g.fn or 0, g.tn or 0
    rtp, rfp, rfn, rtn = ref.tp or 0, ref.fp or 0, ref.fn or 0, ref.tn or 0
    fpr = _gap("fpr", gfp, gfp + gtn, rfp, rfp + rtn, "higher" if not favourable else "lower", g is ref, judge, t)
    fnr = _gap("fnr", gfn, gfn + gtp, rfn, rfn + rtp, "higher" if favourable else "lower", g is ref, judge, t)
    return fpr, fnr


def _gap(rate: Literal["fpr", "fnr"], x: int, n: int, rx: int, rn: int, harm: Literal["higher", "lower"],
         is_ref: bool, judge: bool, t: Thresholds) -> ErrorGap:
    value, ref_value = (x / n if n else None), (rx / rn if rn else None)
    ratio = value / ref_value if value is not None and ref_value else None
    difference = value - ref_value if value is not None and ref_value is not None else None
    z = 0.0 if is_ref else pooled_z(x, n, rx, rn)
    if is_ref:
        return ErrorGap(rate, ratio, difference, z, harm, "reference")
    if not judge or n < t.error_min_denominator or rn < t.error_min_denominator or difference is None:
        return ErrorGap(rate, ratio, difference, z, harm, "too_small")
    # Read the gap the way that harms: for "lower", the reference's rate over the group's.
    sign = 1 if harm == "higher" else -1
    worse, better = (value, ref_value) if harm == "higher" else (ref_value, value)
    times = math.inf if better == 0 else worse / better  # worse > 0 whenever the gap passes the difference test
    if sign * difference >= t.error_difference and sign * z >= t.error_z and times > t.error_ratio:
        critical = t.critical_error_ratio is not None and times > t.critical_error_ratio
        return ErrorGap(rate, ratio, difference, z, harm, "fails", Severity.critical if critical else Severity.warn)
    return ErrorGap(rate, ratio, difference, z, harm, "passes")


def _both(gaps: Sequence[ErrorGap]) -> ParityVerdict:
    verdicts = {x.verdict for x in gaps}
    for v in ("reference", "fails", "too_small"):
        if v in verdicts:
            return v  # type: ignore[return-value]
    return "passes"


def _warnings(dimension: str, results: Sequence[GroupResult], ref: GroupCounts, t: Thresholds,
              rule: str) -> tuple[AuditWarning, ...]:
    """Every group the audit did not judge, named: the reference first, then groups, then error rates."""
    out = []
    if ref.n < t.min_group_size:
        out.append(AuditWarning(
            "reference_too_small", dimension, ref.label, ref.n, t.min_group_size,
            f"{dimension}: the reference group {ref.label} ({_rule_name(rule)}) has n = {ref.n}, below the "
            f"{t.min_group_size} needed to judge against it: no group of {dimension} was judged; choose a bigger "
            f"reference (--reference largest) or lower --min-group-size knowingly."))
    for r in results:
        if r.verdict == "too_small":
            out.append(AuditWarning(
                "group_too_small", dimension, r.counts.label, r.counts.n, t.min_group_size,
                f"{dimension}={r.counts.label}: n = {r.counts.n} is below {t.min_group_size}: not judged, "
                f"not passed."))
    if ref.n < t.min_group_size or not ref.has_outcome:
        return tuple(out)
    for rate in ("fpr", "fnr"):
        base = "actual negatives" if rate == "fpr" else "actual positives"
        ref_den = _denominator(ref, rate)
        if ref_den < t.error_min_denominator:
            out.append(AuditWarning(
                "error_rates_too_small", dimension, ref.label, ref_den, t.error_min_denominator,
                f"{dimension}: the reference group {ref.label} has {ref_den} {base}, below the "
                f"{t.error_min_denominator} needed: no {rate.upper()} of {dimension} was judged."))
            continue
        for r in results:
            den = _denominator(r.counts, rate)
            if r.verdict not in ("reference", "too_small") and den < t.error_min_denominator:
                out.append(AuditWarning(
                    "error_rates_too_small", dimension, r.counts.label, den, t.error_min_denominator,
                    f"{dimension}={r.counts.label}: {den} {base}, below {t.error_min_denominator}: its "
                    f"{rate.upper()} is not judged."))
    return tuple(out)


def _denominator(c: GroupCounts, rate: str) -> int:
    return (c.fp or 0) + (c.tn or 0) if rate == "fpr" else (c.fn or 0) + (c.tp or 0)


def _rule_name(rule: str) -> str:
    return rule if rule in (LARGEST, MOST_FAVOURED) else "explicit"


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
    tpr, fpr, fnr = ([getattr(r, name).value for r in judged if getattr(r, name) is not None]
                     for name in ("tpr", "fpr", "fnr"))
    odds_ratios = [_min_over_max(tpr), _min_over_max(fpr)]
    known_ratios = [o for o in odds_ratios if o is not None]
    return replace(result, demographic_parity_difference=top - min(rates),
                   demographic_parity_ratio=(min(rates) / top) if top else None,
                   equalized_odds_difference=max(known_odds) if known_odds else None,
                   equalized_odds_ratio=min(known_ratios) if known_ratios else None,
                   equal_opportunity_difference=_spread(tpr), equal_opportunity_ratio=_min_over_max(tpr),
                   false_positive_rate_difference=_spread(fpr), false_positive_rate_ratio=_min_over_max(fpr),
                   false_negative_rate_difference=_spread(fnr), false_negative_rate_ratio=_min_over_max(fnr))


def _min_over_max(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return min(known) / max(known) if known and max(known) > 0 else None


def to_findings(result: DimensionResult, run_id: str, policy: PolicyLike, subject_prefix: str) -> list[Finding]:
    """Failing groups as Findings of the mart checks' ids, so alerts, routing and deduplication treat them alike.

    A four-fifths failure is ``bias.selection_rate_disparity`` (metric ``disparity_ratio``, favourable rates); an
    adverse decision whose favourable ratio passes but whose adverse rate is too many times the reference's is
    ``bias.adverse_rate_disparity`` (metric ``adverse_ratio``). A failing harmful error rate is
    ``bias.equal_opportunity``; a failing other error rate (equalised odds only) is ``bias.equalised_odds``."""
    out = [_finding(result, g, run_id, policy, subject_prefix) for g in result.groups if g.verdict in FAILING]
    for g in result.groups:
        harmful = g.fnr_gap if result.favourable else g.fpr_gap
        other = g.fpr_gap if result.favourable else g.fnr_gap
        for gap, kind in ((harmful, "equal_opportunity"), (other, "equalised_odds")):
            if gap is not None and gap.verdict == "fails":
                out.append(_error_finding(result, g, gap, ERROR_CHECK_IDS[kind], run_id, policy, subject_prefix))
    return out


def _error_finding(result: DimensionResult, g: GroupResult, gap: ErrorGap, check_id: str, run_id: str,
                   policy: PolicyLike, subject_prefix: str) -> Finding:
    t, ref = result.thresholds, result.reference_group
    severity = gap.severity or Severity.warn
    mine, theirs = (g.fpr, ref.fpr) if gap.rate == "fpr" else (g.fnr, ref.fnr)
    threshold = (t.critical_error_ratio if severity is Severity.critical and t.critical_error_ratio is not None
                 else t.error_ratio)
    what = {("fpr", True): "unqualified people it selects by mistake",
            ("fpr", False): "people it wrongly gives the adverse decision",
            ("fnr", True): "qualified people it wrongly denies",
            ("fnr", False): "people due the adverse decision it lets pass"}[(gap.rate, result.favourable)]
    # For a "lower" harm the group misses out on lucky mistakes: the ratio that harms is reference / group.
    observed = gap.ratio if gap.harm == "higher" else (None if not gap.ratio else 1 / gap.ratio)
    times = "unbounded" if observed is None else f"{observed:.2f}"
    gap_words = (f"{times} times the reference's" if gap.harm == "higher"
                 else f"the reference's is {times} times this group's")
    rule = policy.checks.get(CHECK_ID)
    return Finding(
        run_id=run_id, check_id=check_id, family="bias", severity=severity, subject_type="segment",
        subject=f"{subject_prefix}: {result.dimension}={g.counts.label}", metric=f"{gap.rate}_ratio",
        observed=observed, threshold=threshold,
        evidence={"n": g.counts.n, "rate": gap.rate, "num": mine.num if mine else None,
                  "den": mine.den if mine else None, "value": mine.value if mine else None,
                  "ci_low": mine.low if mine else None, "ci_high": mine.high if mine else None,
                  "reference_group": result.reference, "reference_value": theirs.value if theirs else None,
                  "difference": gap.difference, "z_vs_reference": gap.z, "favourable": result.favourable},
        explanation=(f"{subject_prefix}'s {gap.rate.upper()} ({what}) is {mine.value:.1%} for {result.dimension} "
                     f"{g.counts.label} against {theirs.value:.1%} for the reference group {result.reference}: "
                     f"{gap_words}, beyond the {threshold:.2f} the policy allows."),
        owner=(rule.owner if rule and rule.owner else policy.owner),
        action=rule.action_for(severity) if rule else "alert")


def _finding(result: DimensionResult, g: GroupResult, run_id: str, policy: PolicyLike, subject_prefix: str) -> Finding:
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
