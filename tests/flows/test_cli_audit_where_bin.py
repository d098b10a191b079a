"""`--where` and `--bin` on `steward audit frequency` and `steward audit quality` (issue #15): the same confined
filter and the same bands as `steward audit bias`, figures worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steward.flows.cli import app

runner = CliRunner()

# One row per touch in one ISO week (Mon 2026-01-05 .. Sun 01-11), cap 2 per week.
#   p1 age 22 north x3 -> 3 (over)     p2 age 41 north x1      p3 age 67 south x3 -> 3 (over)
#   p4 age 35 south x2                 p5 age null north x1
# --where "region = 'north'": 5 of 10 rows; people p1 p2 p5; over: p1 = 1 of 3.
# --bin age=30,50 --group age: <30 = p1 (over), 30-49 = p2 p4, >=50 = p3 (over), (missing) = p5.
TOUCHES = """person,sent_at,region,age
p1,2026-01-05 09:00:00,north,22
p1,2026-01-06 09:00:00,north,22
p1,2026-01-07 09:00:00,north,22
p2,2026-01-05 10:00:00,north,41
p3,2026-01-05 08:00:00,south,67
p3,2026-01-06 08:00:00,south,67
p3,2026-01-08 08:00:00,south,67
p4,2026-01-09 08:00:00,south,35
p4,2026-01-10 08:00:00,south,35
p5,2026-01-05 11:00:00,north,
"""


@pytest.fixture
def touches(tmp_path) -> Path:
    path = tmp_path / "touches.csv"
    path.write_text(TOUCHES, encoding="utf-8")
    return path


def frequency(*args: object):
    return runner.invoke(app, ["audit", "frequency", *map(str, args), "--person", "person", "--at", "sent_at",
                               "--window", "week", "--cap", "2", "--json", "--fail-on", "never"])


def test_frequency_where_counts_only_the_matching_rows_and_says_how_many_were_read(touches):
    res = frequency(touches, "--where", "region = 'north'")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["rows_read"], doc["rows"], doc["people"], doc["people_over_cap"]) == (10, 5, 3, 1)
    assert doc["where"] == '"region" = \'north\''
    text = runner.invoke(app, ["audit", "frequency", str(touches), "--person", "person", "--at", "sent_at",
                               "--cap", "2", "--where", "region = 'north'", "--fail-on", "never"])
    assert "10 (5 filtered out by --where)" in text.stdout


def test_frequency_groups_by_a_banded_column(touches):
    res = frequency(touches, "--bin", "age=30,50", "--group", "age", "--min-group-size", "1")
    assert res.exit_code == 0, res.output
    (dim,) = json.loads(res.stdout)["groups"]
    got = {g["group"]: (g["people"], g["over_cap"]) for g in dim["groups"]}
    assert got == {"<30": (1, 1), "30-49": (2, 0), ">=50": (1, 1), "(missing)": (1, 0)}
    assert json.loads(res.stdout)["rows_read"] is None  # no filter, no second count


@pytest.mark.parametrize("args, line", [
    (["--where", "region in (select region from touches)"], "--where is refused: it has a subquery"),
    (["--where", "region = 'east'"], "no rows match --where \"region = 'east'\" (of 10 rows read)"),
    (["--bin", "region=1,2"], "--bin column 'region' is VARCHAR, not a number"),
])
def test_frequency_bad_filter_or_bin_is_one_line_exit_2(touches, args, line):
    res = frequency(touches, *args)
    assert res.exit_code == 2
    assert line in res.stderr and len(res.stderr.strip().splitlines()) == 1


# People, worked by hand: 6 rows; country UK for rows 1-4. Over UK rows: email null once (1 of 4 = 25 %),
# age 17 30 45 null -> 1 null. --bin age=18,65: bands <18 (1), 18-64 (2), (null) 1 over the UK rows.
PEOPLE = """id,email,country,age
1,a@x.io,UK,17
2,,UK,30
3,c@x.io,UK,45
4,d@x.io,UK,
5,,FR,50
6,,FR,70
"""


def test_quality_where_profiles_only_the_matching_rows(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    res = runner.invoke(app, ["audit", "quality", str(path), "--where", "country = 'UK'", "--json",
                              "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["rows_read"], doc["rows"]) == (6, 4)
    cols = {c["name"]: c for c in doc["columns"]}
    assert cols["email"]["nulls"]["count"] == 1 and cols["email"]["nulls"]["share"] == pytest.approx(0.25)
    assert (cols["age"]["min"], cols["age"]["max"], cols["age"]["nulls"]["count"]) == (17, 45, 1)
    text = runner.invoke(app, ["audit", "quality", str(path), "--where", "country = 'UK'", "--fail-on", "never"])
    assert "4 rows (of 6 read; --where" in text.stdout


def test_quality_bin_profiles_a_numeric_column_as_its_bands(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    res = runner.invoke(app, ["audit", "quality", str(path), "--bin", "age=18,65", "--json", "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    age = {c["name"]: c for c in json.loads(res.stdout)["columns"]}["age"]
    assert age["kind"] == "text" and age["distinct"]["count"] == 3  # <18, 18-64, >=65; the null stays null
    assert age["nulls"]["count"] == 1


def test_quality_refused_where_is_one_line_exit_2(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    res = runner.invoke(app, ["audit", "quality", str(path), "--where", "read_csv('/etc/passwd') is not null"])
    assert res.exit_code == 2
    assert "--where is refused" in res.stderr and len(res.stderr.strip().splitlines()) == 1
