"""`steward audit bias` with --bin, --where, --direction and missing values, through the real command: the JSON
row account, the text line, and bad input as one line on stderr with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steward.flows.cli.audit import audit_app

runner = CliRunner()

# By hand, with --where "region = 'EU'" (drops the US row), --score score --cutoff 40 --direction below
# (positive when score <= 40), --bin age=18,25,65:
#   age  region score won  -> band      selected  cell
#   17   EU     30    1       <18       yes       tp
#   22   EU     45    0       18-24     no        tn
#   23   EU     80    1       18-24     no        fn
#   30   EU     20    1       25-64     yes       tp
#   40   EU     -     1       (no score: out of every count)
#   50   US     10    0       (filtered out by --where)
#   -    EU     35    0       (missing) yes       fp
#   70   EU     60    -       >=65      no        outcome unknown: in n, out of error rates
# rows read 8, after --where 7, audited 6, missing score 1, missing outcome 1, missing age 1.
CSV = """age,region,score,won
17,EU,30,1
22,EU,45,0
23,EU,80,1
30,EU,20,1
40,EU,,1
50,US,10,0
,EU,35,0
70,EU,60,
"""
ARGS = ["--group", "age", "--bin", "age=18,25,65", "--where", "region = 'EU'", "--score", "score", "--cutoff", "40",
        "--direction", "below", "--outcome", "won", "--min-group-size", "1", "--no-proxies"]


@pytest.fixture
def people(tmp_path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    return path


def audit(*args: object):
    return runner.invoke(audit_app, ["bias", *map(str, args)])


def test_json_counts_bands_filter_direction_and_row_account(people):
    res = audit(people, *ARGS, "--json")
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(res.stdout)
    groups = {g["group"]: g for g in doc["dimensions"][0]["groups"]}
    assert {k: (g["n"], g["counts"]["positives"]) for k, g in groups.items()} == {
        "<18": (1, 1), "18-24": (2, 0), "25-64": (1, 1), ">=65": (1, 0), "(missing)": (1, 1)}
    assert groups["18-24"]["counts"] == {"positives": 0, "tp": 0, "fp": 0, "fn": 1, "tn": 1}
    assert groups["(missing)"]["counts"] == {"positives": 1, "tp": 0, "fp": 1, "fn": 0, "tn": 0}
    assert groups["(missing)"]["values"] == {"age": None} and groups["<18"]["values"] == {"age": "<18"}
    assert doc["rows"] == {"rows_read": 8, "rows": 7, "audited": 6, "missing_decision": 1, "missing_outcome": 1,
                           "missing_group": {"age": 1}}
    assert doc["mapping"]["groups"] == ["age"]


def test_text_output_says_where_the_rows_went(people):
    res = audit(people, *ARGS)
    assert res.exit_code in (0, 1), res.output
    text = " ".join(res.stdout.split())
    assert ("Rows: 6 row(s) audited, 1 filtered out by --where (of 8), 1 left out for a missing score, 1 without an "
            "outcome (out of error rates), 1 without age (group '(missing)').") in text


def test_null_and_unknown_are_two_groups_in_json(tmp_path):
    path = tmp_path / "u.ndjson"
    # a: 2 rows (1 selected), unknown: 1 row (selected), null: 2 rows (0 selected)
    rows = [("a", 60), ("a", 10), ("unknown", 90), (None, 10), (None, 20)]
    path.write_text("".join(json.dumps({"seg": s, "score": v}) + "\n" for s, v in rows))
    res = audit(path, "--group", "seg", "--score", "score", "--cutoff", "50", "--min-group-size", "1", "--json",
                "--no-proxies")
    groups = {g["group"]: g for g in json.loads(res.stdout)["dimensions"][0]["groups"]}
    assert {k: (g["n"], g["counts"]["positives"], g["values"]["seg"]) for k, g in groups.items()} == {
        "a": (2, 1, "a"), "unknown": (1, 1, "unknown"), "(missing)": (2, 0, None)}


@pytest.mark.parametrize("extra,message", [
    (["--bin", "age=25,18"], "error: --bin 'age=25,18': edges must be strictly increasing"),
    (["--bin", "age=18,twenty"], "error: --bin 'age=18,twenty': edges must be numbers separated by commas"),
    (["--bin", "region=1,2"], "people.csv: --bin column 'region' is VARCHAR, not a number"),
    (["--where", "read_text('/etc/passwd') = ''"],
     "people.csv: --where is refused: it calls function read_text, which is not on the allowed list"),
    (["--where", "region in (select 1)"], "people.csv: --where is refused: it has a subquery"),
    (["--where", "regoin = 'EU'"], "people.csv: --where is refused: no column 'regoin' (columns: age, region, score"),
    (["--where", "region = 'APAC'"], "people.csv: no rows match --where \"region = 'APAC'\" (of 8 rows read)"),
    (["--direction", "sideways"], "--direction must be above or below, not 'sideways'"),
])
def test_bad_input_is_one_line_and_exit_2(people, extra, message):
    res = audit(people, "--group", "age", "--score", "score", "--cutoff", "40", *extra)
    assert res.exit_code == 2, res.output
    assert res.stdout == "" and message in res.stderr and res.stderr.count("\n") == 1


@pytest.mark.parametrize("name,content,message", [
    ("empty.csv", "", "empty.csv: the file is empty (no header, no rows)"),
    ("empty.ndjson", "", "empty.ndjson: the file is empty (no header, no rows)"),
    ("header.csv", "age,region,score\n", "header.csv: the file has no rows (columns: age, region, score)"),
])
def test_empty_sources_are_one_line_never_no_column(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    res = audit(path, "--group", "age", "--score", "score", "--cutoff", "40")
    assert res.exit_code == 2 and res.stdout == ""
    assert message in res.stderr and "no column" not in res.stderr and res.stderr.count("\n") == 1
