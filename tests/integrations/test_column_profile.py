"""The column profile counted by DuckDB on CSV, Parquet, NDJSON, a glob and a DuckDB table, every figure worked out
by hand; plus a 200,000-row file generated with DuckDB's range() for the exact and the approximate paths."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from steward.contracts.errors import SourceError
from steward.contracts.policy import QualityAuditRules
from steward.contracts.quality import ValueRange, judge_profile
from steward.integrations.warehouse.audit_source import open_source
from steward.integrations.warehouse.column_profile import profile_columns

# Ten contacts. id 9 twice; email null once; age: a null, a 999 and a -1 among 29..61; country: placeholders
# 'unknown', 'N/A', '  ' (blank), '-', '?'; signup: a null and 1900-01-01; score: 100 far from 10..13; flat: 5 eight
# times, then 6 and 40 (MAD 0); const: always 7.
CONTACTS = """
select * from (values
 (1, 'a@x.io', 34,   'DE',      date '2024-01-05', 10, 5, 7),
 (2, 'b@x.io', 41,   'FR',      date '2024-02-11', 11, 5, 7),
 (3, null,     29,   'unknown', date '2024-03-01', 12, 5, 7),
 (4, 'd@x.io', 999,  'N/A',     date '1900-01-01', 13, 5, 7),
 (5, 'e@x.io', null, '  ',      date '2024-03-20', 12, 5, 7),
 (6, 'f@x.io', 52,   'DE',      date '2024-04-02', 11, 5, 7),
 (7, 'g@x.io', 38,   '-',       null,              10, 5, 7),
 (8, 'h@x.io', 45,   'de',      date '2024-05-30', 12, 5, 7),
 (9, 'i@x.io', -1,   'FR',      date '2024-06-01', 11, 6, 7),
 (9, 'j@x.io', 61,   '?',       date '2024-06-15', 100, 40, 7)
) t(id, email, age, country, signup, score, flat, const)"""


def write(tmp_path: Path, name: str, sql: str = CONTACTS) -> Path:
    path = tmp_path / name
    with duckdb.connect() as con:
        if path.suffix == ".duckdb":
            with duckdb.connect(str(path)) as out:
                out.execute("create schema crm")
                out.execute(f"create table crm.contacts as {sql}")
        else:
            fmt = {".csv": "(header, format csv)", ".parquet": "(format parquet)",
                   ".ndjson": "(format json)"}[path.suffix]
            con.execute(f"copy ({sql}) to '{path}' {fmt}")
    return path


def profile(path: Path | str, table: str | None = None, rules: QualityAuditRules | None = None, **kw):
    with open_source(path, table) as src:
        return profile_columns(src, rules or QualityAuditRules(), **kw)


@pytest.mark.parametrize("name,table", [("c.csv", None), ("c.parquet", None), ("c.ndjson", None),
                                        ("w.duckdb", "crm.contacts")])
def test_hand_worked_profile_on_every_format(tmp_path, name, table):
    p = profile(write(tmp_path, name), table, key=["id"],
                ranges=[ValueRange("age", 0.0, 120.0), ValueRange("signup", date(2020, 1, 1), None)])
    cols = {c.name: c for c in p.columns}
    assert p.rows == 10 and p.exact
    # key: id 9 on two rows -> 9 distinct keys, 1 duplicated, 1 row beyond the first, at most 2 rows per key
    k = p.key
    assert (k.distinct_keys, k.duplicated_keys, k.extra_rows, k.null_key_rows, k.max_rows_per_key) == (9, 1, 1, 0, 2)
    email = cols["email"]
    assert (email.nulls, email.distinct, email.masked, email.minimum, email.maximum) == (1, 9, "email", None, None)
    assert (email.min_length, email.max_length) == (6, 6)
    age = cols["age"]
    # age: 999 and -1 are sentinels; the other values 34 41 29 52 38 45 61 run from 29 to 61
    assert (age.nulls, age.sentinels, age.rest_min, age.rest_max) == (1, {999.0: 1, -1.0: 1}, 29, 61)
    assert (age.minimum, age.maximum, age.out_of_range) == (-1, 999, 2)
    # robust stats leave 999 and -1 out: 29 34 38 41 45 52 61 -> median 41; |x-41| = 12 7 3 0 4 11 20 -> MAD 7
    assert (age.robust.median, age.robust.mad, age.outliers) == (41, 7, 0)
    # country: 'unknown', 'N/A' -> 'n/a', '  ' -> '' (blank), '-', '?'; distinct counts raw values:
    # DE FR unknown N/A '  ' - de ? = 8
    country = cols["country"]
    assert country.placeholders == {"unknown": 1, "n/a": 1, "": 1, "-": 1, "?": 1}
    assert (country.nulls, country.distinct, country.minimum) == (0, 8, None)
    signup = cols["signup"]
    assert (signup.nulls, signup.placeholders, signup.out_of_range) == (1, {"1900-01-01": 1}, 1)
    assert (signup.minimum, signup.maximum) == (date(1900, 1, 1), date(2024, 6, 15))
    # score: 10 10 11 11 11 12 12 12 13 100 -> median 11.5; deviations 0.5 x6, 1.5 x3, 88.5 -> MAD 0.5;
    # bounds 11.5 +- 3.5 * 0.5 / 0.6745 = 11.5 +- 2.5945: only 100 is outside
    score = cols["score"]
    assert (score.robust.median, score.robust.mad, score.outliers, score.distinct) == (11.5, 0.5, 1, 5)
    # flat: 5 x8, 6, 40 -> median 5, deviations 0 x8, 1, 35 -> MAD 0; mean deviation 3.6, bounds
    # 5 +- 3.5 * 1.253314 * 3.6 = 5 +- 15.79: 40 is the one outlier
    flat = cols["flat"]
    assert (flat.robust.median, flat.robust.mad, flat.robust.mean_ad, flat.outliers) == (5, 0, pytest.approx(3.6), 1)
    # const: every value 7, nothing can be an outlier
    assert (cols["const"].robust.mad, cols["const"].robust.mean_ad, cols["const"].outliers) == (0, 0, 0)


def test_the_judged_hand_profile(tmp_path):
    """The same ten rows judged: email 10% null (warn); age 20% placeholders (warn: not above 20%) and 20% out of
    0..120 (critical); country 50% placeholders (critical); score and flat 10% outliers (warn); duplicates critical."""
    p = profile(write(tmp_path, "c.parquet"), key=["id"], ranges=[ValueRange("age", 0.0, 120.0)])
    j = judge_profile(p, QualityAuditRules(), "c")
    got = {(f.subject, f.check_id): (f.severity.value, round(f.observed, 4)) for f in j.findings}
    assert got == {
        ("c: email", "quality.null_share"): ("warn", 0.1), ("c: age", "quality.null_share"): ("warn", 0.1),
        ("c: age", "quality.placeholder_share"): ("warn", 0.2),
        ("c: age", "quality.out_of_range_share"): ("critical", 0.2),
        ("c: country", "quality.placeholder_share"): ("critical", 0.5),
        ("c: signup", "quality.null_share"): ("warn", 0.1), ("c: signup", "quality.placeholder_share"): ("warn", 0.1),
        ("c: score", "quality.outlier_share"): ("warn", 0.1), ("c: flat", "quality.outlier_share"): ("warn", 0.1),
        ("c: (id)", "quality.duplicate_key_rows"): ("critical", 1.0)}


def test_a_glob_of_files_is_one_source(tmp_path):
    (tmp_path / "part").mkdir()
    write(tmp_path, "part/a.parquet", CONTACTS + " where id <= 5")
    write(tmp_path, "part/b.parquet", CONTACTS + " where id > 5")
    p = profile(str(tmp_path / "part" / "*.parquet"), key=["id"])
    assert p.rows == 10 and (p.key.duplicated_keys, p.key.extra_rows) == (1, 1)


def test_null_keys_are_counted_apart(tmp_path):
    sql = "select * from (values (1, 'a'), (1, 'a'), (1, 'a'), (2, null), (null, 'b'), (3, 'c')) t(k1, k2)"
    p = profile(write(tmp_path, "k.parquet", sql), key=["k1", "k2"])
    # (1, a) three times: 1 duplicated key, 2 extra rows; rows 4 and 5 have a null -> apart; keys (1,a), (3,c)
    assert (p.key.distinct_keys, p.key.duplicated_keys, p.key.extra_rows, p.key.null_key_rows,
            p.key.max_rows_per_key) == (2, 1, 2, 2, 3)


def test_nan_and_infinity_are_placeholders_not_outliers(tmp_path):
    sql = "select * from (values (1.0), (2.0), (3.0), ('nan'::double), ('inf'::double), (null)) t(x)"
    (x,) = profile(write(tmp_path, "n.parquet", sql)).columns
    # finite values 1 2 3: median 2, MAD 1; min/max among finite values
    assert (x.placeholders, x.nulls, x.minimum, x.maximum, x.robust.median, x.outliers) == (
        {"nan/inf": 2}, 1, 1.0, 3.0, 2.0, 0)


def test_empty_source_and_missing_columns_are_one_line(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("id,email\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"^.*empty.csv: the file has no rows \(columns: id, email\)$"):
        profile(empty)
    path = write(tmp_path, "c.parquet")
    with pytest.raises(SourceError, match=r"c.parquet: no column 'nope' \(columns: id, email"):
        profile(path, key=["nope"])


def test_200k_rows_exact_and_approximate(tmp_path):
    """200,000 rows from range(). id repeats 10 times (i >= 199,990 -> i - 10); n is null when i % 5 = 0 (40,000);
    s is 'unknown' when i % 4 = 0 (50,000); v = i % 100 except 1e6 when i % 10,000 = 0 (20 rows, taken from the
    0s). v sorted: 0 x1,980, then 1..49 x2,000 each (to position 99,980), 50 at 99,981..101,980 -> median 50;
    |v - 50|: 0 x2,000, then 1..24 x4,000 each (to 98,000), 25 at 98,001..102,000 -> MAD 25; bounds
    50 +- 3.5 * 25 / 0.6745 = 50 +- 129.7: the 20 rows of 1e6 are the outliers."""
    sql = ("select case when i >= 199990 then i - 10 else i end as id, case when i % 5 = 0 then null else i end as n,"
           " case when i % 4 = 0 then 'unknown' else 'x' || (i % 7) end as s,"
           " case when i % 10000 = 0 then 1e6 else i % 100 end::double as v from range(200000) r(i)")
    path = write(tmp_path, "big.parquet", sql)
    p = profile(path, rules=QualityAuditRules(exact_distinct_max_rows=200_000), key=["id"])
    cols = {c.name: c for c in p.columns}
    assert p.rows == 200_000 and p.exact
    assert (p.key.distinct_keys, p.key.duplicated_keys, p.key.extra_rows) == (199_990, 10, 10)
    assert (cols["n"].nulls, cols["s"].placeholders, cols["s"].distinct) == (40_000, {"unknown": 50_000}, 8)
    v = cols["v"]
    assert (v.robust.median, v.robust.mad, v.outliers, v.distinct) == (50, 25, 20, 101)
    approx = profile(path, rules=QualityAuditRules(exact_distinct_max_rows=1000, exact_median_max_values=1000),
                     key=["id"])
    a = {c.name: c for c in approx.columns}
    assert not approx.exact and not a["v"].distinct_exact and not a["v"].robust.exact
    assert a["v"].distinct == pytest.approx(101, rel=0.1) and a["n"].distinct == pytest.approx(160_000, rel=0.1)
    assert a["v"].robust.median == pytest.approx(50, abs=2) and a["v"].outliers == 20
    assert approx.key.extra_rows == 10  # duplicates are always exact


def test_a_constant_column_with_sentinels_beside_an_outlier_column(tmp_path):
    """c is 5 everywhere but one -1 (a sentinel below every other value: a placeholder, and the rest is constant, so
    nothing can be an outlier); y is 1 2 3 4 5 6 and 1000: median 4, MAD 2, bounds 4 +- 10.38 -> 1000 is one outlier."""
    sql = ("select * from (values (5, 1), (5, 2), (5, 3), (-1, 4), (5, 5), (5, 6), (5, 1000)) t(c, y)")
    c, y = profile(write(tmp_path, "s.parquet", sql)).columns
    assert (c.sentinels, c.robust.mad, c.robust.mean_ad, c.outliers) == ({-1.0: 1}, 0, 0, 0)
    assert (y.robust.median, y.robust.mad, y.outliers) == (4, 2, 1)


def test_placeholders_match_as_literals_after_trim_and_lower_case(tmp_path):
    """' N/A\\t' and 'TBD' and '' are placeholders; 'nxa' is not 'n/a', 'n.a' is not 'na', 'unknown soldier' is a
    value: the pattern's punctuation is literal and it must match the whole trimmed value."""
    sql = ("select * from (values (' N/A' || chr(9)), ('TBD'), (''), ('nxa'), ('n.a'), ('unknown soldier'), "
           "('?'), (null)) t(v)")
    (v,) = profile(write(tmp_path, "p.parquet", sql)).columns
    assert v.placeholders == {"n/a": 1, "tbd": 1, "": 1, "?": 1} and v.nulls == 1
    (v,) = profile(write(tmp_path, "p.parquet", sql), rules=QualityAuditRules(placeholders=[])).columns
    assert v.placeholders == {}


def test_timestamp_ranges_and_sentinel_dates(tmp_path):
    """A timestamp column: 1970-01-01 00:00 is a sentinel date (the epoch a null became), and a range given as
    dates compares days: 2023-12-31 23:00 and 2025-01-01 00:00 are out of 2024-01-01..2024-12-31, 2024-12-31 18:00
    is in; a range given as timestamps compares instants."""
    sql = ("select * from (values (timestamp '2024-03-01 10:00'), (timestamp '2023-12-31 23:00'), "
           "(timestamp '1970-01-01 00:00'), (timestamp '2025-01-01 00:00'), (timestamp '2024-12-31 18:00')) t(seen_at)")
    (at,) = profile(write(tmp_path, "t.parquet", sql),
                    ranges=[ValueRange("seen_at", date(2024, 1, 1), date(2024, 12, 31))]).columns
    assert at.placeholders == {"1970-01-01": 1}
    assert at.out_of_range == 3  # 2023-12-31 23:00, 1970-01-01 and 2025-01-01 lie outside
    (at,) = profile(write(tmp_path, "t.parquet", sql),
                    ranges=[ValueRange("seen_at", datetime(2024, 1, 1), datetime(2024, 12, 31, 12))]).columns
    assert at.out_of_range == 4  # and 2024-12-31 18:00, past noon
