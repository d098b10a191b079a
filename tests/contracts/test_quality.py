"""The quality audit's judgement, without a database: ranges, suspicious sentinels, the robust outlier rule (MAD = 0
included), the policy's levels, and the findings they make."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from steward.contracts.errors import ConfigError
from steward.contracts.finding import Severity
from steward.contracts.policy import QualityAuditRules, QualityLevels, load_policy
from steward.contracts.quality import (ColumnStats, KeyStats, RobustStats, TableProfile, ValueRange, column_kind,
                                       judge_profile, level_of, outlier_half_width, parse_range, policy_ranges,
                                       suspicious_sentinels)


def test_packaged_policy_spells_out_the_defaults():
    """policy.yaml lists every default so a team sees what it may change; the model keeps the same values."""
    assert load_policy().audits.quality == QualityAuditRules()


@pytest.mark.parametrize("spec,low,high", [
    ("age=0..120", 0.0, 120.0), ("amount=0..", 0.0, None), ("delta=-5.5..-1", -5.5, -1.0),
    ("signup=2020-01-01..2026-12-31", date(2020, 1, 1), date(2026, 12, 31)), ("a=b=..10", None, 10.0)])
def test_parse_range(spec, low, high):
    r = parse_range(spec)
    assert (r.low, r.high) == (low, high)
    assert r.column == spec.rpartition("=")[0]


@pytest.mark.parametrize("spec,says", [
    ("age", "write COLUMN=MIN..MAX"), ("age=0-120", "write COLUMN=MIN..MAX"), ("=0..1", "write COLUMN=MIN..MAX"),
    ("age=..", "give a minimum, a maximum or both"), ("age=120..0", "the minimum is above the maximum"),
    ("age=zero..5", "'zero' is neither a number nor an ISO date"), ("age=0..nan", "not a finite number"),
    ("d=2020-01-01..5", "both bounds must be numbers or both dates")])
def test_bad_range_is_one_line_naming_the_spec(spec, says):
    with pytest.raises(ConfigError) as exc:
        parse_range(spec)
    assert str(exc.value).startswith(f"--range '{spec}': ") and says in str(exc.value)
    assert "\n" not in str(exc.value)


def test_policy_ranges_apply_where_the_column_exists_and_the_cli_wins():
    rules = QualityAuditRules.model_validate({"ranges": {"age": {"min": 0, "max": 120}, "score": {"max": 1},
                                                         "absent": {"min": 0}}})
    cols = {"age": "BIGINT", "score": "DOUBLE", "name": "VARCHAR", "signup": "DATE"}
    got = policy_ranges(rules, cols, [parse_range("score=0..100")], "f.csv")
    assert [(r.column, str(r), r.origin) for r in got] == [("score", "0..100", "--range"), ("age", "0..120", "policy")]
    with pytest.raises(ConfigError, match=r"^f.csv: column 'name' is VARCHAR; a range \(--range\) applies only"):
        policy_ranges(rules, cols, [parse_range("name=0..1")], "f.csv")
    with pytest.raises(ConfigError, match=r"^f.csv: column 'signup' is DATE; its range \(--range 0..1\) needs dates"):
        policy_ranges(rules, cols, [parse_range("signup=0..1")], "f.csv")
    with pytest.raises(ConfigError, match=r"^f.csv: column 'age' is BIGINT; its range .* needs numbers"):
        policy_ranges(rules, cols, [parse_range("age=2020-01-01..")], "f.csv")
    with pytest.raises(ConfigError, match=r"^f.csv: --range names column 'age' twice"):
        policy_ranges(rules, cols, [parse_range("age=0..1"), parse_range("age=2..3")], "f.csv")


@pytest.mark.parametrize("sql_type,kind", [("BIGINT", "numeric"), ("DECIMAL(18,3)", "numeric"), ("DOUBLE", "numeric"),
                                           ("DATE", "temporal"), ("TIMESTAMP WITH TIME ZONE", "temporal"),
                                           ("VARCHAR", "text"), ("BOOLEAN", "boolean"), ("VARCHAR[]", "other"),
                                           ("STRUCT(a INTEGER)", "other")])
def test_column_kind(sql_type, kind):
    assert column_kind(sql_type) == kind


def _num(name: str = "x", **kw) -> ColumnStats:
    return ColumnStats(name=name, type="BIGINT", rows=kw.pop("rows", 10), nulls=kw.pop("nulls", 0),
                       distinct=5, distinct_exact=True, **kw)


def test_a_sentinel_counts_only_outside_the_columns_other_values():
    # ages 29..61 with one 999 and one -1: both lie outside -> placeholders
    assert suspicious_sentinels(_num(sentinels={999.0: 1, -1.0: 1, 9999.0: 0}, rest_min=29, rest_max=61)) == \
        {"-1": 1, "999": 1}
    # amounts 0..50,000: a 999 and a 9999 among them are real amounts
    assert suspicious_sentinels(_num(sentinels={999.0: 3, 9999.0: 2}, rest_min=0, rest_max=50_000)) == {}
    # counts from 0 up: -1 is below every real count
    assert suspicious_sentinels(_num(sentinels={-1.0: 4}, rest_min=0, rest_max=12)) == {"-1": 4}
    # nothing but 999: the column carries no value at all
    assert suspicious_sentinels(_num(sentinels={999.0: 10}, rest_min=None, rest_max=None)) == {"999": 10}


def test_outlier_half_width_with_mad_then_mean_ad_then_constant():
    # MAD 7, z 3.5: 3.5 * 7 / 0.6745 = 36.3232...
    assert outlier_half_width(RobustStats(41, 7, 6.43, True), 3.5) == pytest.approx(36.32320, abs=1e-4)
    # MAD 0 (more than half the values equal), mean absolute deviation 3.6: 3.5 * 1.253314 * 3.6 = 15.79176
    assert outlier_half_width(RobustStats(5, 0, 3.6, True), 3.5) == pytest.approx(15.79176, abs=1e-4)
    # every value equal: nothing can be an outlier
    assert outlier_half_width(RobustStats(5, 0, 0, True), 3.5) is None


def test_levels_fire_above_the_threshold_highest_first():
    levels = QualityLevels(info=0, warn=0.05, critical=0.5)
    assert level_of(levels, 0) == (None, None)
    assert level_of(levels, 0.01) == (Severity.info, 0)
    assert level_of(levels, 0.05) == (Severity.info, 0)  # at the level is not above it
    assert level_of(levels, 0.0501) == (Severity.warn, 0.05)
    assert level_of(levels, 1.0) == (Severity.critical, 0.5)
    with pytest.raises(ValidationError, match="warn 0.5 is above critical 0.1"):
        QualityLevels(warn=0.5, critical=0.1)
    with pytest.raises(ValidationError):
        QualityLevels(warn=-1)


def test_judge_profile_by_hand():
    """10 rows. age: 1 null (10% > 5%: warn), 999 and -1 outside 29..61 (2 placeholders, 20%: warn, not above
    the 20% critical), 2 rows outside 0..120 (20% > 1%: critical), 0 outliers. key: 1 duplicate row (critical),
    0 null keys. name: nothing wrong."""
    age = _num("age", nulls=1, sentinels={999.0: 1, -1.0: 1}, rest_min=29, rest_max=61,
               range=ValueRange("age", 0.0, 120.0), out_of_range=2, robust=RobustStats(41, 7, 8.14, True),
               outliers=0)
    name = ColumnStats(name="name", type="VARCHAR", rows=10, nulls=0, distinct=10, distinct_exact=True)
    key = KeyStats(("id",), distinct_keys=9, duplicated_keys=1, extra_rows=1, null_key_rows=0, max_rows_per_key=2)
    j = judge_profile(TableProfile("t.csv", 10, [age, name], key), QualityAuditRules(), "t")
    a, n = j.columns
    assert {k: (m.count, m.share, m.severity) for k, m in a.measures.items()} == {
        "null_share": (1, 0.1, Severity.warn), "placeholder_share": (2, 0.2, Severity.warn),
        "out_of_range_share": (2, 0.2, Severity.critical), "outlier_share": (0, 0.0, None)}
    assert a.placeholder_values == {"-1": 1, "999": 1}
    assert a.outlier_bounds == pytest.approx((41 - 36.32320, 41 + 36.32320), abs=1e-4)
    assert n.severity is None and a.severity is Severity.critical
    assert {(f.check_id, f.subject, f.severity.value) for f in j.findings} == {
        ("quality.null_share", "t: age", "warn"), ("quality.placeholder_share", "t: age", "warn"),
        ("quality.out_of_range_share", "t: age", "critical"), ("quality.duplicate_key_rows", "t: (id)", "critical")}
    dup = next(f for f in j.findings if f.check_id == "quality.duplicate_key_rows")
    assert dup.explanation.startswith("1 value(s) of the key (id) appear more than once: 1 row(s) beyond the first")
    assert dup.family == "data_quality" and dup.owner == "data-platform" and dup.action == "alert"
    placeholder = next(f for f in j.findings if f.check_id == "quality.placeholder_share")
    assert "('-1' 1, '999' 1)" in placeholder.explanation and placeholder.evidence["values"] == {"-1": 1, "999": 1}
    assert j.severity is Severity.critical


def test_a_masked_column_keeps_its_numbers_out_of_the_finding():
    """A column named like personal data (a phone stored as a number) gets no median or bounds in words."""
    phone = _num("phone", robust=RobustStats(5551234, 10, 10, True), outliers=3, masked="phone")
    (f,) = judge_profile(TableProfile("t.csv", 10, [phone]), QualityAuditRules(), "t").findings
    assert f.check_id == "quality.outlier_share" and "5551234" not in f.explanation and "5,551" not in f.explanation
    assert "outlier_low" not in f.evidence
