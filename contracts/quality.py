"""Judgement of ``steward audit quality``: which column measures are findings, and how severe, under the policy.

The warehouse side (integrations/warehouse/column_profile.py) hands over aggregates only: per column its rows,
nulls, counts of each placeholder and sentinel value, distinct count, min/max (numbers and dates only), rows out of
a range, and median / MAD / outlier counts. Everything that decides something lives here and reads no file:

- which sentinel numbers are suspicious: only those outside the range of the column's other values (999 among
  ages up to 90, -1 among counts from 0; a 999 among amounts up to 50,000 is a real value);
- the robust outlier rule: modified z = 0.6745 * |x - median| / MAD above ``outlier_z`` (Iglewicz and Hoaglin).
  When more than half the values are equal, MAD is 0 and the rule is undefined; the mean absolute deviation from
  the median, scaled by 1.253314 (so it estimates the same spread for normal data), stands in for MAD / 0.6745.
  When that is 0 too, every value equals the median and nothing is an outlier;
- each measure's severity: the highest policy level (``info`` / ``warn`` / ``critical``) the value is ABOVE.

Shares are of the table's rows, so the shares of one column add up (nulls + placeholders + values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .errors import ConfigError
from .finding import Finding, Severity
from .policy import QualityAuditRules, QualityLevels

__all__ = ["ValueRange", "parse_range", "policy_ranges", "column_kind", "RobustStats", "ColumnStats", "KeyStats",
           "TableProfile", "Measure", "ColumnVerdict", "QualityJudgement", "judge_profile", "outlier_half_width",
           "suspicious_sentinels", "level_of", "is_floating", "MODIFIED_Z", "MEAN_AD_SCALE", "MEASURES"]

MODIFIED_Z = 0.6745  # the normal distribution's MAD in standard deviations: 0.6745 * (x - median) / MAD ~ z
MEAN_AD_SCALE = 1.253314  # sqrt(pi / 2): the mean absolute deviation of a normal distribution is sigma / 1.253314
MEASURES = ("null_share", "placeholder_share", "out_of_range_share", "outlier_share")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL", "NUMERIC", "INT", "INT4", "INT8", "FLOAT8")
_FLOATING = ("FLOAT", "DOUBLE", "REAL", "FLOAT8")


def column_kind(sql_type: str) -> str:
    """``numeric`` | ``temporal`` (dates and timestamps) | ``text`` | ``boolean`` | ``other`` (lists, structs...)."""
    base = sql_type.split("(")[0].strip().upper()
    if base in _NUMERIC:
        return "numeric"
    if base.startswith(("DATE", "TIMESTAMP")):
        return "temporal"
    if base in ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR"):
        return "text"
    return "boolean" if base in ("BOOLEAN", "BOOL") else "other"


def is_floating(sql_type: str) -> bool:
    """Columns that can hold NaN and infinities (counted as placeholders, left out of the robust statistics)."""
    return sql_type.split("(")[0].strip().upper() in _FLOATING


# --- ranges ----------------------------------------------------------------------------------------------------


Bound = float | date | datetime | None


@dataclass(frozen=True)
class ValueRange:
    """Values a column may hold, inclusive; either bound may be open. ``origin`` says who set it."""

    column: str
    low: Bound
    high: Bound
    origin: str = "--range"

    @property
    def temporal(self) -> bool:
        return isinstance(self.low, date) or isinstance(self.high, date)

    def __str__(self) -> str:
        return f"{_bound(self.low)}..{_bound(self.high)}"


def _bound(value: Bound) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else f"{value:g}"


def parse_range(spec: str) -> ValueRange:
    """``COL=MIN..MAX`` (either bound may be empty: ``age=0..``); bounds are numbers or ISO dates / timestamps."""
    column, sep, bounds = spec.rpartition("=")
    low_text, dots, high_text = bounds.partition("..")
    if not sep or not column.strip() or not dots:
        raise ConfigError(f"--range '{spec}': write COLUMN=MIN..MAX (either bound may be left empty: age=0..120, "
                          f"amount=0.., signup_date=2020-01-01..2026-12-31)")
    low, high = _parse_bound(spec, low_text), _parse_bound(spec, high_text)
    if low is None and high is None:
        raise ConfigError(f"--range '{spec}': give a minimum, a maximum or both")
    if low is not None and high is not None:
        if isinstance(low, date) != isinstance(high, date):
            raise ConfigError(f"--range '{spec}': both bounds must be numbers or both dates")
        if _comparable(low) > _comparable(high):  # type: ignore[operator]
            raise ConfigError(f"--range '{spec}': the minimum is above the maximum")
    return ValueRange(column.strip(), low, high)


def _parse_bound(spec: str, text: str) -> Bound:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"--range '{spec}': '{text}' is neither a number nor an ISO date") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"--range '{spec}': '{text}' is not a finite number")
    return value


def _comparable(value: Bound) -> Any:
    """Dates and timestamps compare as timestamps (a date bound is its midnight)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def policy_ranges(rules: QualityAuditRules, columns: dict[str, str], given: list[ValueRange],
                  source: str) -> list[ValueRange]:
    """The ranges to count: ``--range`` ones, then the policy's for columns this source has and ``--range`` did not
    name. Each is checked against its column's type; a mismatch is one line naming the source and the column."""
    named = {r.column for r in given}
    twice = [c for c in named if sum(r.column == c for r in given) > 1]
    if twice:
        raise ConfigError(f"{source}: --range names column '{sorted(twice)[0]}' twice; give one range per column")
    chosen = list(given) + [ValueRange(col, r.min, r.max, "policy") for col, r in rules.ranges.items()
                            if col in columns and col not in named]
    for r in chosen:
        kind = column_kind(columns[r.column]) if r.column in columns else None
        if kind is None:
            continue  # the caller's require() names the missing column with the source's columns
        if kind not in ("numeric", "temporal") or (kind == "temporal") != r.temporal:
            need = "dates (YYYY-MM-DD)" if kind == "temporal" else "numbers"
            if kind not in ("numeric", "temporal"):
                raise ConfigError(f"{source}: column '{r.column}' is {columns[r.column]}; a range ({r.origin}) "
                                  f"applies only to number and date columns")
            raise ConfigError(f"{source}: column '{r.column}' is {columns[r.column]}; its range ({r.origin} {r}) "
                              f"needs {need}")
    return chosen


# --- what the warehouse measured -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RobustStats:
    """Median, MAD and mean absolute deviation from the median of a numeric column's finite values."""

    median: float
    mad: float
    mean_ad: float
    exact: bool  # False: approximate quantiles (more rows than exact_max_rows)


def outlier_half_width(stats: RobustStats, z: float) -> float | None:
    """How far from the median a value may lie before its modified z passes ``z``; None when nothing can be an
    outlier (every value equals the median). See the module docstring for MAD = 0."""
    if stats.mad > 0:
        return z * stats.mad / MODIFIED_Z
    if stats.mean_ad > 0:
        return z * MEAN_AD_SCALE * stats.mean_ad
    return None


@dataclass
class ColumnStats:
    """One column's aggregates. ``minimum``/``maximum`` only for numbers and dates, and None when ``masked`` names
    the kind of personal data the column's name announces (a phone number stored as an integer)."""

    name: str
    type: str
    rows: int
    nulls: int
    distinct: int
    distinct_exact: bool
    minimum: Any = None
    maximum: Any = None
    min_length: int | None = None  # text: shortest and longest value, in characters
    max_length: int | None = None
    placeholders: dict[str, int] = field(default_factory=dict)  # policy placeholder (or 'nan'/'inf', a date) -> rows
    sentinels: dict[float, int] = field(default_factory=dict)  # sentinel number -> rows, judged by rest_min/max
    rest_min: float | None = None  # numbers: min and max of the values that are not sentinels
    rest_max: float | None = None
    range: ValueRange | None = None
    out_of_range: int | None = None
    robust: RobustStats | None = None
    outliers: int | None = None
    masked: str | None = None

    @property
    def kind(self) -> str:
        return column_kind(self.type)


@dataclass(frozen=True)
class KeyStats:
    """``--key``: how often key values repeat. Rows with a null in any key column are counted apart."""

    columns: tuple[str, ...]
    distinct_keys: int
    duplicated_keys: int  # key values held by more than one row
    extra_rows: int  # rows beyond the first of each duplicated key
    null_key_rows: int
    max_rows_per_key: int


@dataclass
class TableProfile:
    source: str
    rows: int
    columns: list[ColumnStats]
    key: KeyStats | None = None
    exact: bool = True  # False when distinct counts and medians are approximate


# --- judgement -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One judged measure: rows it counts, their share of the table's rows, and the severity the policy gives it."""

    name: str
    count: int
    share: float
    severity: Severity | None
    threshold: float | None  # the level that fired


@dataclass
class ColumnVerdict:
    stats: ColumnStats
    placeholder_values: dict[str, int]  # what counted as a placeholder, suspicious sentinels included
    measures: dict[str, Measure]
    outlier_bounds: tuple[float, float] | None

    @property
    def severity(self) -> Severity | None:
        return _worst(m.severity for m in self.measures.values())


@dataclass
class QualityJudgement:
    columns: list[ColumnVerdict]
    key: dict[str, Measure]
    findings: list[Finding]

    @property
    def severity(self) -> Severity | None:
        return _worst(f.severity for f in self.findings)


def suspicious_sentinels(col: ColumnStats) -> dict[str, int]:
    """Sentinel numbers present that lie outside the range of the column's other values (all of them when the
    column holds nothing else)."""
    def outside(s: float) -> bool:
        return col.rest_min is None or s < col.rest_min or s > col.rest_max  # type: ignore[operator]
    return {f"{s:g}": n for s, n in sorted(col.sentinels.items()) if n and outside(s)}


def level_of(levels: QualityLevels, value: float) -> tuple[Severity | None, float | None]:
    """The highest level ``value`` is above, and that level's threshold."""
    for name in ("critical", "warn", "info"):
        limit = getattr(levels, name)
        if limit is not None and value > limit:
            return Severity(name), limit
    return None, None


def judge_profile(profile: TableProfile, rules: QualityAuditRules, subject: str,
                  run_id: str = "quality-audit") -> QualityJudgement:
    """Every column's measures judged under the policy's levels, and one Finding per measure that reached one."""
    verdicts, findings = [], []
    for col in profile.columns:
        verdict = _judge_column(col, profile.rows, rules)
        verdicts.append(verdict)
        findings += [_column_finding(verdict, m, rules, subject, run_id) for m in verdict.measures.values()
                     if m.severity is not None]
    key: dict[str, Measure] = {}
    if profile.key is not None:
        k, t = profile.key, rules.thresholds
        for name, count in (("duplicate_key_rows", k.extra_rows), ("null_key_rows", k.null_key_rows)):
            severity, limit = level_of(getattr(t, name), count)
            key[name] = Measure(name, count, count / profile.rows if profile.rows else 0.0, severity, limit)
        findings += [_key_finding(k, m, profile.rows, rules, subject, run_id) for m in key.values()
                     if m.severity is not None]
    return QualityJudgement(verdicts, key, findings)


def _judge_column(col: ColumnStats, rows: int, rules: QualityAuditRules) -> ColumnVerdict:
    placeholders = {**{k: v for k, v in col.placeholders.items() if v}, **suspicious_sentinels(col)}
    counts = {"null_share": col.nulls, "placeholder_share": sum(placeholders.values()),
              "out_of_range_share": col.out_of_range, "outlier_share": col.outliers}
    measures = {}
    for name, count in counts.items():
        if count is None:
            continue
        share = count / rows if rows else 0.0
        severity, limit = level_of(getattr(rules.thresholds, name), share)
        measures[name] = Measure(name, count, share, severity, limit)
    bounds = None
    if col.robust is not None:
        width = outlier_half_width(col.robust, rules.outlier_z)
        bounds = None if width is None else (col.robust.median - width, col.robust.median + width)
    return ColumnVerdict(col, placeholders, measures, bounds)


def _column_finding(v: ColumnVerdict, m: Measure, rules: QualityAuditRules, subject: str, run_id: str) -> Finding:
    col, what = v.stats, f"{m.count:,} of {v.stats.rows:,} rows ({m.share:.1%})"
    evidence: dict[str, Any] = {"column": col.name, "rows": col.rows, "count": m.count}
    if m.name == "null_share":
        text = f"{what} of column '{col.name}' are null."
    elif m.name == "placeholder_share":
        values = ", ".join(f"'{k}' {n:,}" for k, n in v.placeholder_values.items())
        text = f"{what} of column '{col.name}' hold a placeholder instead of a value ({values})."
        evidence["values"] = dict(v.placeholder_values)
    elif m.name == "out_of_range_share":
        r = col.range
        text = f"{what} of column '{col.name}' lie outside {r} (set by {r.origin if r else '?'})."
        evidence["range"] = str(col.range)
    else:
        text = f"{what} of column '{col.name}' are robust outliers (modified z above {rules.outlier_z:g})"
        if v.outlier_bounds and col.robust and not col.masked:
            low, high = v.outlier_bounds
            text += f": outside [{low:,.4g}, {high:,.4g}] around the median {col.robust.median:,.4g}"
            evidence.update(outlier_low=low, outlier_high=high)
        text += "."
    return Finding(run_id=run_id, check_id=f"quality.{m.name}", family="data_quality", severity=m.severity,
                   subject_type="column", subject=f"{subject}: {col.name}", metric=m.name, observed=m.share,
                   threshold=m.threshold, evidence=evidence, explanation=text, owner=rules.owner,
                   action=_action(m.severity))


def _key_finding(k: KeyStats, m: Measure, rows: int, rules: QualityAuditRules, subject: str,
                 run_id: str) -> Finding:
    key = ", ".join(k.columns)
    if m.name == "duplicate_key_rows":
        text = (f"{k.duplicated_keys:,} value(s) of the key ({key}) appear more than once: {m.count:,} row(s) beyond "
                f"the first of each, at most {k.max_rows_per_key:,} rows with one key.")
    else:
        text = (f"{m.count:,} of {rows:,} rows have a null in the key ({key}); they are left out of the duplicate "
                f"count.")
    evidence = {"key": list(k.columns), "rows": rows, "distinct_keys": k.distinct_keys,
                "duplicated_keys": k.duplicated_keys, "extra_rows": k.extra_rows, "null_key_rows": k.null_key_rows}
    return Finding(run_id=run_id, check_id=f"quality.{m.name}", family="data_quality", severity=m.severity,
                   subject_type="key", subject=f"{subject}: ({key})", metric=m.name, observed=float(m.count),
                   threshold=m.threshold, evidence=evidence, explanation=text, owner=rules.owner,
                   action=_action(m.severity))


def _action(severity: Severity | None) -> str:
    return "alert" if severity is not None and severity.at_least(Severity.warn) else "none"


def _worst(severities: Any) -> Severity | None:
    found = [s for s in severities if s is not None]
    return max(found, key=lambda s: s.rank) if found else None
