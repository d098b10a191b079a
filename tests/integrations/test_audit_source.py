"""What a team shapes before an audit counts (#15 item 3): --bin bands, a confined --where, and sources with no
rows, each on small files whose answer is worked out by hand."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.contracts.errors import SourceError
from steward.integrations.warehouse.audit_source import VIEW, Bin, open_source, parse_bins
from steward.integrations.warehouse.group_counts import ColumnMap, tally_groups
from steward.integrations.warehouse.row_filter import confine_where

# 9 people. Ages by hand against edges 18, 25, 65 (half-open bands [18, 25), [25, 65)):
#   <18: 17            -> 1        18-24: 18, 24 -> 2        25-64: 25, 64 -> 2
#   >=65: 65, 90       -> 2        missing: row 8 -> 1 (a missing age stays missing, it is not banded)
PEOPLE = pd.DataFrame({
    "age": pd.array([17, 18, 24, 25, 64, 65, 90, 30, None], dtype="Int64"),
    "region": ["EU", "EU", "US", "EU", "US", "EU", "US", "EU", "EU"],
    "score": [10.0, 80.0, 55.0, 70.0, 20.0, 90.0, 40.0, 65.0, 50.0],
})


def write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif path.suffix == ".ndjson":
        df.to_json(path, orient="records", lines=True)
    else:
        with duckdb.connect(str(path)) as con:
            con.register("frame", df)
            con.execute("create table people as select * from frame")
    return path


def by_label(path: Path, mapping: ColumnMap, **kw):
    with open_source(path, kw.pop("table", None), **kw) as src:
        found, account = tally_groups(src, mapping)
    return {(c.dimension, c.label): (c.n, c.positives) for c in found}, account


@pytest.mark.parametrize("name", ["p.csv", "p.parquet", "p.ndjson"])
def test_bin_bands_a_numeric_column_into_labelled_groups(tmp_path, name):
    got, _ = by_label(write(PEOPLE.iloc[:7].assign(age=PEOPLE["age"].iloc[:7].astype("int64")), tmp_path / name),
                      ColumnMap(groups=("age",), score="score", cutoff=50), bins=["age=18,25,65"])
    # selected (score >= 50): 18 (80), 24 (55), 25 (70), 65 (90)
    assert got == {("age", "<18"): (1, 0), ("age", "18-24"): (2, 2), ("age", "25-64"): (2, 1),
                   ("age", ">=65"): (2, 1)}


def test_bin_keeps_missing_values_missing_and_where_sees_raw_numbers(tmp_path):
    path = write(PEOPLE, tmp_path / "p.parquet")
    m = ColumnMap(groups=("age", "region"), score="score", cutoff=50, intersect=True)
    got, account = by_label(path, m, bins=["age=18,25,65"], where="age >= 25 or age is null")
    # rows kept: 25 (EU, 70 sel), 64 (US, 20), 65 (EU, 90 sel), 90 (US, 40), 30 (EU, 65 sel), null (EU, 50 sel)
    assert {k: v for k, v in got.items() if k[0] == "age"} == {("age", "25-64"): (3, 2), ("age", ">=65"): (2, 1),
                                                              ("age", "(missing)"): (1, 1)}
    assert got[("region", "EU")] == (4, 4) and got[("region", "US")] == (2, 0)
    assert got[("age x region", "(missing) / EU")] == (1, 1)
    assert (account.rows_read, account.rows, account.audited, account.missing_group) == \
        (9, 6, 6, {"age": 1, "region": 0})


def test_fractional_edges_and_float_column_use_half_open_labels(tmp_path):
    df = pd.DataFrame({"x": [0.5, 1.0, 2.49, 2.5, 7.0], "s": [1.0] * 5})
    got, _ = by_label(write(df, tmp_path / "f.parquet"), ColumnMap(groups=("x",), score="s", cutoff=1),
                      bins=["x=1,2.5"])
    # [1, 2.5): 1.0, 2.49; below 1: 0.5; from 2.5 up: 2.5, 7.0
    assert got == {("x", "<1"): (1, 1), ("x", "[1, 2.5)"): (2, 2), ("x", ">=2.5"): (2, 2)}
    assert Bin("age", (18.0, 25.0)).labels(integral=True) == ["<18", "18-24", ">=25"]


def test_bands_sort_in_order_not_as_text(tmp_path):
    """Judged tables list groups sorted by value: bands come lowest first, a missing value before them."""
    path = write(PEOPLE, tmp_path / "p.parquet")
    with open_source(path, bins=["age=18,25,65"]) as src:
        found, _ = tally_groups(src, ColumnMap(groups=("age",), score="score", cutoff=50))
    assert [c.label for c in sorted(found, key=lambda c: c.values)] == ["(missing)", "<18", "18-24", "25-64", ">=65"]


@pytest.mark.parametrize("spec,message", [
    ("age", "--bin 'age': write COLUMN=EDGES"),
    ("age=", "--bin 'age=': write COLUMN=EDGES"),
    ("age=18,x,30", "--bin 'age=18,x,30': edges must be numbers separated by commas"),
    ("age=25,18", "--bin 'age=25,18': edges must be strictly increasing"),
    ("age=18,18,30", "--bin 'age=18,18,30': edges must be strictly increasing"),
    ("age=18,nan", "--bin 'age=18,nan': edges must be finite numbers"),
    ("age=18,inf", "--bin 'age=18,inf': edges must be finite numbers"),
])
def test_bad_edges_are_one_line(spec, message):
    with pytest.raises(SourceError) as exc:
        parse_bins([spec])
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_bin_column_must_exist_and_be_numeric(tmp_path):
    path = write(PEOPLE, tmp_path / "p.parquet")
    with pytest.raises(SourceError, match=r"p.parquet: --bin column 'region' is VARCHAR, not a number"):
        with open_source(path, bins=["region=1,2"]):
            pass
    with pytest.raises(SourceError, match=r"p.parquet: no column 'agee' \(columns: age, region, score\)"):
        with open_source(path, bins=["agee=1,2"]):
            pass
    with pytest.raises(SourceError, match="column 'age' is already banded"):
        parse_bins(["age=1,2", "age=3,4"])


def test_where_keeps_matching_rows_in_every_query(tmp_path):
    path = write(PEOPLE, tmp_path / "p.csv")
    # EU with score >= 50 or a name-insensitive column: rows 1 (80), 3 (70), 5 (90), 7 (65), 8 (50) -> 5 rows
    with open_source(path, where="Region = 'EU' AND SCORE >= 50") as src:
        assert src.where == '"region" = \'EU\' AND "score" >= 50'
        assert src.run(f"select count(*) from {VIEW}") == [(5,)]
        assert src.rows_read() == 9


@pytest.mark.parametrize("where,rule", [
    ("region in (select region from people)", "it has a subquery"),
    ("exists (select 1)", "it has a subquery"),
    ("read_text('/etc/passwd') = ''", "it calls function read_text, which is not on the allowed list"),
    ("getenv('HOME') = ''", "it calls function getenv, which is not on the allowed list"),
    ("current_setting('threads') = '1'", "it calls function current_setting"),
    ("score = ?", "it has a parameter placeholder"),
    ("score = $1", "it has a parameter placeholder"),
    ("score > 1; drop table people", "it must be one expression, found 2 statements"),
    ("select 1", "it must be a condition on columns"),
    ("p.score > 1", "column p.score is qualified"),
    ("salary > 1", "no column 'salary' (columns: age, region, score)"),
    ("count(*) > 1", "it calls count: aggregates and windows cannot filter rows"),
    ("row_number() over () = 1", "it has a window (over ...)"),
    ("region = 'x' collate nocase", "it calls function collate, which is not on the allowed list"),
    ("[1, 2] = [1, 2]", "it calls function array, which is not on the allowed list"),
    ("region = 'a' escape '!'", "it is not a valid SQL expression"),
    ("score >", "it is not a valid SQL expression"),
    ("   ", "it is empty"),
])
def test_where_outside_the_confinement_names_the_rule(tmp_path, where, rule):
    path = write(PEOPLE, tmp_path / "p.parquet")
    with pytest.raises(SourceError) as exc:
        with open_source(path, where=where):
            pass
    assert str(exc.value).startswith(f"{path}: --where is refused: {rule}"), str(exc.value)
    assert "\n" not in str(exc.value)


def test_duckdb_reads_the_rendering_again():
    """The second parser: whatever sqlglot let through, DuckDB's own tree must hold only whitelisted parts."""
    from steward.integrations.warehouse import row_filter

    for rendered, rule in (("read_text('x') = ''", "it calls function read_text"),
                           ('"a" in (select 1)', "DuckDB reads a subquery in it"),
                           ('"a" = 1) or (1 = 1', "DuckDB does not read it as one expression")):
        with pytest.raises(row_filter._Refused, match=re.escape(rule)):
            row_filter._confirm_with_duckdb(rendered)
    row_filter._confirm_with_duckdb('lower("a") LIKE \'x%\' AND "b" BETWEEN 1 AND 2')


def test_where_runs_sqlglots_rendering_so_quotes_stay_values(tmp_path):
    """A quote trick stays inside its literal: sqlglot renders it escaped, and no row has that region."""
    rendered = confine_where("region = 'EU'' or 1=1 --'", ["region"], "p")
    assert rendered == "\"region\" = 'EU'' or 1=1 --'"
    # comments are dropped from the rendering: a line comment holding "*/" cannot reopen the expression after it
    assert confine_where("region = 'EU' -- */ or read_text('/etc/passwd') = '' /*", ["region"], "p") == \
        "\"region\" = 'EU'"
    path = write(PEOPLE, tmp_path / "p.parquet")
    with pytest.raises(SourceError) as exc:
        with open_source(path, where="region = 'EU'' or 1=1 --'"):
            pass
    assert str(exc.value) == f"{path}: no rows match --where \"region = 'EU'' or 1=1 --'\" (of 9 rows read)"


def test_allowed_functions_and_operators_run(tmp_path):
    path = write(PEOPLE, tmp_path / "p.parquet")
    where = ("lower(region) like 'e%' and coalesce(age, 0) between 18 and 70 and abs(score - 60) <= 30 "
             "and cast(age as varchar) not in ('64') and length(trim(region)) = 2 and age % 2 = 0")
    # EU rows with age 18..70, |score - 60| <= 30, even age: 18 (80), 30 (65); 64 is US; 24 is US
    with open_source(path, where=where) as src:
        assert sorted(src.run(f"select age from {VIEW}")) == [(18,), (30,)]


def test_date_filters_with_intervals_run(tmp_path):
    df = pd.DataFrame({"at": pd.to_datetime(["2024-03-01", "2024-02-20", "2023-12-31"]), "s": [1.0, 2.0, 3.0]})
    # on or after 2024-02-29 minus 10 days = 2024-02-19: the first two rows; of them, March: the first
    where = "at >= date '2024-02-29' - interval 10 day and (month(at) = 3 or year(at) = 2024)"
    with open_source(write(df, tmp_path / "d.parquet"), where=where) as src:
        assert src.run(f"select s from {VIEW} order by s") == [(1.0,), (2.0,)]


@pytest.mark.parametrize("content,suffix", [("", ".csv"), ("", ".parquet"), ("", ".ndjson")])
def test_empty_file_is_one_line(tmp_path, content, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_text(content)
    with pytest.raises(SourceError) as exc:
        with open_source(path):
            pass
    assert str(exc.value) == f"{path}: the file is empty (no header, no rows)"


def test_header_only_file_and_empty_table_are_one_line(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("age,region,score\n")
    with pytest.raises(SourceError) as exc:
        with open_source(path):
            pass
    assert str(exc.value) == f"{path}: the file has no rows (columns: age, region, score)"
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table people (age integer, region varchar)")
    with pytest.raises(SourceError) as exc:
        with open_source(db, "people"):
            pass
    assert str(exc.value) == f"{db}:people: the table has no rows (columns: age, region)"


def test_no_rows_after_where_names_the_file_and_the_filter(tmp_path):
    path = write(PEOPLE, tmp_path / "p.ndjson")
    with pytest.raises(SourceError) as exc:
        with open_source(path, where="region = 'APAC'"):
            pass
    assert str(exc.value) == f"{path}: no rows match --where \"region = 'APAC'\" (of 9 rows read)"


def test_duckdb_table_with_bin_and_where(tmp_path):
    db = write(PEOPLE, tmp_path / "w.duckdb")
    got, account = by_label(db, ColumnMap(groups=("age",), score="score", cutoff=50), table="people",
                            bins=["age=25"], where="region = 'US'")
    # US: 24 (55 sel), 64 (20), 90 (40) -> <25: 1 of 1; >=25: 0 of 2
    assert got == {("age", "<25"): (1, 1), ("age", ">=25"): (2, 0)}
    assert (account.rows_read, account.rows) == (9, 3)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-5, 105)), min_size=1, max_size=40),
       st.lists(st.integers(0, 100), min_size=1, max_size=5, unique=True), st.integers(-5, 105))
def test_bands_and_filter_agree_with_pandas(ages, edges, floor):
    """Band counts equal pandas.cut(right=False) with open ends; --where 'age >= floor' keeps what pandas keeps."""
    edges = sorted(edges)
    df = pd.DataFrame({"age": pd.array(ages, dtype="Int64"), "s": [1.0] * len(ages)})
    kept = df[df["age"].fillna(floor - 1) >= floor]
    with tempfile.TemporaryDirectory() as tmp:
        path = write(df, Path(tmp) / "a.parquet")
        if kept.empty:
            with pytest.raises(SourceError, match="no rows match --where"):
                with open_source(path, where=f"age >= {floor}"):
                    pass
            return
        with open_source(path, where=f"age >= {floor}", bins=[f"age={','.join(map(str, edges))}"]) as src:
            found, account = tally_groups(src, ColumnMap(groups=("age",), score="s", cutoff=1))
    labels = Bin("age", tuple(float(e) for e in edges)).labels(integral=True)
    bands = pd.cut(kept["age"].astype("float"), [-np.inf, *edges, np.inf], right=False, labels=labels)
    expected = {str(k): int(v) for k, v in bands.value_counts().items() if v}
    if kept["age"].isna().any():
        expected["(missing)"] = int(kept["age"].isna().sum())
    assert {c.label: c.n for c in found} == expected
    assert (account.rows_read, account.rows) == (len(df), len(kept))
