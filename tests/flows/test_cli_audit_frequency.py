"""`steward audit frequency` on real files: figures worked out by hand, every format, groups, exit codes, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from steward.flows.cli.audit import audit_app

runner = CliRunner()

# One row per touch. Calendar weeks start on Monday: 2026-01-05 and 2026-01-12 are Mondays.
#   p1  Mon 05, Tue 06, Fri 09 (week 05: 3)  + Mon 12 (week 12: 1)          region north, north, north, then SOUTH
#   p2  Mon 05, Sun 11 (week 05: 2)                                           region north
#   p3  Sun 11 (week 05: 1) + Mon 12 twice (week 12: 2)  -- 3 in two days, but never 3 in one calendar week
#   p4  Tue 13 three times, Thu 15 (week 12: 4)                              region south
#   p5  Mon 05 (week 05: 1)                                                   region missing
#   + one row without a person, one row of p5 without a time: 16 rows, 14 touches counted
# Weekly, cap 2: busiest weeks p1 3, p2 2, p3 2, p4 4, p5 1 -> over: p1, p4 = 2 of 5 people = 40 % (critical)
#   person-weeks: p1 2, p2 1, p3 2, p4 1, p5 1 = 7, over the cap: p1/05, p4/12 = 2
#   distribution: 1 touch: 1 (p5, 20 %), 2: 2 (p2, p3, 40 %), > 2: 2 (40 %); p50 = 2, p90 = p99 = 4 (the max)
#   windows: week 05: p1 p2 p3 p5 = 4 people, 1 over (p1), 3+2+1+1 = 7 touches; week 12: p1 p3 p4, 1 over, 1+2+4 = 7
# Daily, cap 2: busiest days p1 1, p2 1, p3 2 (Mon 12), p4 3 (Tue 13), p5 1 -> over: p4 alone = 20 %
TOUCHES = """person,sent_at,region
p1,2026-01-05 09:00:00,north
p1,2026-01-06 09:00:00,north
p1,2026-01-09 09:00:00,north
p1,2026-01-12 09:00:00,south
p2,2026-01-05 10:00:00,north
p2,2026-01-11 23:00:00,north
p3,2026-01-11 08:00:00,south
p3,2026-01-12 08:00:00,south
p3,2026-01-12 18:00:00,south
p4,2026-01-13 08:00:00,south
p4,2026-01-13 12:00:00,south
p4,2026-01-13 16:00:00,south
p4,2026-01-15 08:00:00,south
p5,2026-01-05 11:00:00,
,2026-01-05 11:00:00,north
p5,,
"""


def audit(*args: object):
    return runner.invoke(audit_app, ["frequency", *map(str, args)])


@pytest.fixture
def touches(tmp_path) -> Path:
    path = tmp_path / "touches.csv"
    path.write_text(TOUCHES, encoding="utf-8")
    return path


def _as(fmt: str, csv: Path) -> Path:
    """The same rows as Parquet, NDJSON, or a table of a DuckDB file, written by DuckDB itself."""
    con = duckdb.connect()
    con.execute("create table t as select * from read_csv(?)", [str(csv)])
    if fmt == "duckdb":
        out = csv.with_suffix(".duckdb")
        con.execute(f"attach '{out}' as f")
        con.execute("create schema f.crm; create table f.crm.touches as select * from t")
    else:
        out = csv.with_suffix("." + fmt)
        con.execute(f"copy t to '{out}' (format {'json' if fmt == 'ndjson' else 'parquet'})")
    con.close()
    return out


def test_weekly_cap_figures_worked_by_hand(touches):
    res = audit(touches, "--person", "person", "--at", "sent_at", "--cap", "2", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert (doc["rows"], doc["excluded_rows"]) == (16, {"missing person": 1, "missing time": 1})
    assert (doc["people"], doc["people_over_cap"], doc["share_over_cap"]) == (5, 2, 0.4)
    assert (doc["touches"], doc["max_touches_in_a_window"]) == (14, 4)
    assert (doc["person_windows"], doc["person_windows_over_cap"]) == (7, 2)
    assert [(b["touches"], b["people"], b["share"]) for b in doc["distribution"]] == \
        [("1", 1, 0.2), ("2", 2, 0.4), ("> 2", 2, 0.4)]
    assert doc["percentiles"] == {"p50": 2, "p90": 4, "p99": 4}
    assert doc["top_windows"] == [{"start": "2026-01-05", "people": 4, "over_cap": 1, "touches": 7},
                                  {"start": "2026-01-12", "people": 3, "over_cap": 1, "touches": 7}]
    assert doc["severity"] == "critical" and doc["cap"] == 2 and doc["window"] == "week"
    assert "p1" not in res.stdout and "p4" not in res.stdout  # counts only, never a person id


def test_daily_window_and_text_table(touches):
    res = audit(touches, "--person", "person", "--at", "sent_at", "--window", "day", "--cap", "2")
    assert res.exit_code == 1, res.output
    out = res.stdout
    assert "cap 2 touches per day" in out
    assert "1 of 5 people over the cap (20.0%): critical" in out
    assert "person-days over the cap" in out and "most touches in one day" in out
    assert "2026-01-13" in out  # the one day with someone over the cap
    assert "p4" not in out


def test_default_caps_come_from_the_policy_and_nothing_over_is_exit_0(touches):
    """Week: scope.contact_cap_per_week = 5 (busiest week 4); month: audits.frequency.cap_per_month = 20."""
    for window, cap in (("week", 5), ("month", 20)):
        res = audit(touches, "--person", "person", "--at", "sent_at", "--window", window, "--json")
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert (doc["cap"], doc["people_over_cap"], doc["severity"]) == (cap, 0, None)
    day = json.loads(audit(touches, "--person", "person", "--at", "sent_at", "--window", "day", "--json").stdout)
    assert day["cap"] == 2 and day["people_over_cap"] == 1  # cap_per_day 2: p4's three on Tue 13


def test_fail_on_decides_the_exit_code(touches):
    """40 % over the cap is critical: exit 1 up to --fail-on critical, 0 with never."""
    base = (touches, "--person", "person", "--at", "sent_at", "--cap", "2", "--json")
    assert audit(*base, "--fail-on", "critical").exit_code == 1
    assert audit(*base, "--fail-on", "never").exit_code == 0


def test_info_when_a_few_are_over(tmp_path):
    """1 person of 40 over the cap (2.5 %) is below share_warn 5 %: info, so exit 0 under warn, 1 under info."""
    rows = ["person,n"] + [f"q{i},{9 if i == 0 else 1}" for i in range(40)]
    path = tmp_path / "counts.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = audit(path, "--person", "person", "--count", "n", "--cap", "5", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["people_over_cap"], doc["share_over_cap"], doc["severity"]) == (1, 0.025, "info")
    assert audit(path, "--person", "person", "--count", "n", "--cap", "5", "--fail-on", "info").exit_code == 1


@pytest.mark.parametrize("fmt", ["parquet", "ndjson", "duckdb"])
def test_every_format_gives_the_same_figures(touches, fmt):
    src = _as(fmt, touches)
    table = ["--table", "crm.touches"] if fmt == "duckdb" else []
    res = audit(src, *table, "--person", "person", "--at", "sent_at", "--cap", "2", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert (doc["rows"], doc["people"], doc["people_over_cap"], doc["person_windows_over_cap"]) == (16, 5, 2, 2)
    assert doc["excluded_rows"] == {"missing person": 1, "missing time": 1}


def test_a_glob_of_files_is_one_source(tmp_path, touches):
    lines, folder = TOUCHES.splitlines(), tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_text("\n".join(lines[:8]) + "\n", encoding="utf-8")
    (folder / "b.csv").write_text("\n".join([lines[0], *lines[8:]]) + "\n", encoding="utf-8")
    res = audit(folder / "*.csv", "--person", "person", "--at", "sent_at", "--cap", "2", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert (doc["rows"], doc["people"], doc["people_over_cap"]) == (16, 5, 2)


def test_count_per_person_with_groups_judges_over_contact_as_adverse(tmp_path):
    """Count mode, cap 5: A 200 people, 20 over (10 %); B 100 people, 30 over (30 %); 'unknown' 10 and missing 10,
    nobody over. Reference = A (largest). Favourable rates 0.9 and 0.7: four-fifths ratio 0.7 / 0.9 = 0.778 < 0.8;
    adverse ratio 0.3 / 0.1 = 3.0 > 2.0 (critical). Pooled favourable rate (180 + 70) / 300 = 0.8333,
    se = sqrt(0.8333 * 0.1667 * (1/100 + 1/200)) = 0.04564, z = (0.7 - 0.9) / 0.04564 = -4.38 <= -2.58: B fails.
    Overall 50 of 320 over = 15.6 %: critical. 'unknown' and the missing group stay apart (10 each, too small)."""
    rows = ["person,touches,segment"]
    rows += [f"a{i},{6 if i < 20 else 3},A" for i in range(200)]
    rows += [f"b{i},{6 if i < 30 else 3},B" for i in range(100)]
    rows += [f"u{i},2,unknown" for i in range(10)] + [f"n{i},2," for i in range(10)]
    path = tmp_path / "per_person.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = audit(path, "--person", "person", "--count", "touches", "--cap", "5", "--group", "segment", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert (doc["people"], doc["people_over_cap"], doc["share_over_cap"], doc["severity"]) == \
        (320, 50, 50 / 320, "critical")
    assert doc["top_windows"] == []  # no --at: no calendar windows to rank
    (dim,) = doc["groups"]
    groups = {g["group"]: g for g in dim["groups"]}
    assert set(groups) == {"A", "B", "unknown", "(missing)"}
    assert dim["reference_group"] == "A" and dim["failing"] == ["B"]
    b = groups["B"]
    assert (b["people"], b["over_cap"], b["over_cap_rate"]["value"]) == (100, 30, 0.3)
    assert b["vs_reference"]["disparity_ratio"] == pytest.approx(0.7 / 0.9)
    assert b["vs_reference"]["adverse_ratio"] == pytest.approx(3.0)
    assert b["vs_reference"]["z"] == pytest.approx(-4.3818, abs=1e-4)
    assert (b["verdict"], b["severity"]) == ("fails_four_fifths", "critical")
    assert groups["unknown"]["people"] == groups["(missing)"]["people"] == 10
    assert groups["(missing)"]["verdict"] == "too_small"
    text = audit(path, "--person", "person", "--count", "touches", "--cap", "5", "--group", "segment").stdout
    assert "over-contacted (critical)" in text and "1 over-contacted group(s)" in text


def test_a_persons_group_is_the_value_on_their_latest_row(touches):
    """p1's last row (Mon 12) says south: south = p1 p3 p4 (over: p1, p4), north = p2, missing = p5."""
    res = audit(touches, "--person", "person", "--at", "sent_at", "--cap", "2", "--group", "region",
                "--min-group-size", "1", "--json")
    (dim,) = json.loads(res.stdout)["groups"]
    got = {g["group"]: (g["people"], g["over_cap"]) for g in dim["groups"]}
    assert got == {"south": (3, 2), "north": (1, 0), "(missing)": (1, 0)}


@pytest.mark.parametrize("args, line", [
    (["--person", "who", "--at", "sent_at"], "touches.csv: no column 'who' (columns: person, sent_at, region)"),
    (["--person", "person", "--at", "region"], "touches.csv: column 'region' has 14 value(s) that are not a date or "
                                               "timestamp (--at)"),
    (["--person", "person", "--count", "sent_at"], "touches.csv: column 'sent_at' is TIMESTAMP, not a whole number "
                                                   "of touches (--count)"),
    (["--person", "person"], "give the time of each touch (--at) or a count of touches per person (--count)"),
    (["--person", "person", "--at", "sent_at", "--window", "year"], "--window must be one of day, week, month, "
                                                                    "not 'year'"),
    (["--person", "person", "--at", "sent_at", "--cap", "0"], "--cap must be 1 or more, not 0"),
    (["--person", "person", "--at", "sent_at", "--group", "person"], "--group person is the --person column: its "
     "groups would be people, and their ids would be printed; group by an attribute of the person instead"),
])
def test_bad_options_and_columns_are_one_line_and_exit_2(touches, args, line):
    res = audit(touches, *args)
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [f"error: {line}" if line.startswith("--") or line.startswith("give")
                                       else f"error: {touches.parent}/{line}"]


@pytest.mark.parametrize("body, line", [
    ("person,n\na,3\nb,-1\n", "column 'n' has 1 value(s) that are not a whole number >= 0 (--count)"),
    ("person,n\na,3\nb,1.5\nc,2.5\n", "column 'n' has 2 value(s) that are not a whole number >= 0 (--count)"),
    ("person,n\na,3\nb,many\n", "column 'n' is VARCHAR, not a whole number of touches (--count)"),
    ("person,n\n,3\n,4\n", "no row has a person and a touch (2 missing person)"),
])
def test_bad_counts_are_one_line_naming_file_and_column(tmp_path, body, line):
    path = tmp_path / "counts.csv"
    path.write_text(body, encoding="utf-8")
    res = audit(path, "--person", "person", "--count", "n")
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [f"error: {path}: {line}"]


@pytest.mark.parametrize("body, says", [("", "empty"), ("person,n\n", "no rows")])
def test_an_empty_or_header_only_file_is_one_line_saying_so(tmp_path, body, says):
    """Never 'no column ... (columns: column0)' nor a type complaint about a column that has no values. (The words
    are the source's: open_source may refuse first, as h-inputs makes it do; the audit's own check is the fallback.)"""
    path = tmp_path / "counts.csv"
    path.write_text(body, encoding="utf-8")
    res = audit(path, "--person", "person", "--count", "n")
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.splitlines()
    assert line.startswith(f"error: {path}: ") and says in line and "column0" not in line and "VARCHAR" not in line


def test_numeric_at_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("person,day\na,3\n", encoding="utf-8")
    res = audit(path, "--person", "person", "--at", "day")
    assert (res.exit_code, res.stderr.strip()) == (2, f"error: {path}: column 'day' is BIGINT, not a date or "
                                                      f"timestamp (--at)")


def test_help_imports_no_heavy_library():
    """Start-up: DuckDB, pandas and the policy load when the audit runs, not when the command is built."""
    code = ("import sys\nfrom steward.flows.cli import app\ntry:\n    app(['audit', 'frequency', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "print('loaded:', sorted({m.split('.')[0] for m in sys.modules} & {'duckdb', 'pandas', 'numpy', "
            "'prefect', 'dbt', 'jinja2', 'sqlglot', 'pandera'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "--person" in proc.stdout and "--cap" in proc.stdout and "--fail-on" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "loaded: []"


def test_html_page_holds_the_printed_tables_the_charts_and_no_person(tmp_path, touches):
    """One section per printed table (summary, distribution, windows, region), a chart in all but the summary, the
    verdict banner at the worst severity, group values escaped, never a person id; stdout's JSON is unchanged."""
    hostile = tmp_path / "hostile.csv"
    hostile.write_text(TOUCHES.replace(",north\n", ",<script>alert(1)</script>\n"), encoding="utf-8")
    page = tmp_path / "out" / "frequency.html"
    args = (hostile, "--person", "person", "--at", "sent_at", "--cap", "2", "--group", "region", "--min-group-size",
            "1", "--json")
    res = audit(*args, "--html", page)
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout) == json.loads(audit(*args).stdout)
    html = page.read_text(encoding="utf-8")
    assert [s for s in ("Summary", "Distribution", "Windows", "region") if f"<h2>{s}</h2>" in html] == \
        ["Summary", "Distribution", "Windows", "region"]
    assert html.count("<svg") == 3 and "<script" not in html and "&lt;script&gt;" in html
    assert "2 of 5 people over the cap (40.0%): critical" in html and "critical" in html
    assert not any(f">{p}<" in html or f" {p} " in html for p in ("p1", "p2", "p3", "p4", "p5"))


def test_html_to_a_folder_is_one_line_and_exit_2(tmp_path, touches):
    res = audit(touches, "--person", "person", "--at", "sent_at", "--html", tmp_path)
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1 and "--html" in res.stderr


def test_a_bad_policy_or_fail_on_is_one_line_and_exit_2(tmp_path, touches):
    policy = tmp_path / "policy.yaml"
    policy.write_text("checks: {}\naudits:\n  frequency:\n    cap_per_day: 0\n", encoding="utf-8")
    res = audit(touches, "--person", "person", "--at", "sent_at", "--policy", policy)
    assert res.exit_code == 2 and res.stderr.splitlines() == [
        f"error: {policy}: audits.frequency.cap_per_day: Input should be greater than or equal to 1"]
    res = audit(touches, "--person", "person", "--at", "sent_at", "--fail-on", "sometimes")
    assert res.exit_code == 2 and "--fail-on must be one of info, warn, critical, never" in res.output
    assert "people over the cap" not in res.stdout  # refused before the audit ran


def test_a_group_too_small_to_judge_is_a_warning_not_a_pass(tmp_path):
    """No false green: A 200 people, 2 over the cap (1 %: info); B 10 people, none over. B is below the bias check's
    n >= 50, so it is not judged and says so: a warning, exit 1 under --fail-on warn (0 without --group, where the
    1 % is only info). With --reference B, the reference itself is too small: a warning too."""
    rows = ["person,n,segment"] + [f"a{i},{9 if i < 2 else 1},A" for i in range(200)]
    rows += [f"b{i},1,B" for i in range(10)]
    path = tmp_path / "small.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    base = (path, "--person", "person", "--count", "n", "--cap", "5")
    assert audit(*base).exit_code == 0
    res = audit(*base, "--group", "segment", "--json")
    assert res.exit_code == 1, res.output
    (dim,) = json.loads(res.stdout)["groups"]
    assert json.loads(res.stdout)["severity"] == "info" and dim["failing"] == []
    assert [(w["kind"], w["group"], w["n"], w["minimum"], w["severity"]) for w in dim["warnings"]] == \
        [("group_too_small", "B", 10, 50, "warn")]
    assert audit(*base, "--group", "segment", "--fail-on", "critical").exit_code == 0
    text = audit(*base, "--group", "segment", "--reference", "B")
    assert text.exit_code == 1 and "warning:" in text.stdout and "reference group B" in text.stdout


def test_a_reference_that_is_itself_over_contacted_gets_a_hint(tmp_path):
    """A (largest, 200) has 60 over the cap (30 %), B (100) 10 (10 %): B passes. Seen from B, A's within-cap rate 0.7
    is below 0.8 x B's 0.9, with pooled rate (140 + 90) / 300 = 0.7667 and z = -0.2 / sqrt(0.7667 * 0.2333 *
    (1/200 + 1/100)) = -3.86, so the command points at --reference most-favoured, which makes B the reference and A
    fails."""
    rows = ["person,n,segment"] + [f"a{i},{9 if i < 60 else 1},A" for i in range(200)]
    rows += [f"b{i},{9 if i < 10 else 1},B" for i in range(100)]
    path = tmp_path / "ref.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    base = (path, "--person", "person", "--count", "n", "--cap", "5", "--group", "segment")
    res = audit(*base)
    assert "note: segment: the reference A is itself over the cap significantly more often than B" in res.stdout
    assert res.exit_code == 1  # B's pass against an over-contacted reference proves nothing: a warning, not a green
    (dim,) = json.loads(audit(*base, "--reference", "most-favoured", "--json").stdout)["groups"]
    assert dim["reference_group"] == "B" and dim["failing"] == ["A"]
