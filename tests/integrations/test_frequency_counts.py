"""integrations.warehouse.frequency_counts on real DuckDB: a 200k-row file against a query written another way, the
calendar boundaries, count rows with a time, and what stays in DuckDB."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steward.integrations.warehouse.audit_source import open_source
from steward.integrations.warehouse.frequency_counts import FrequencySpec, count_frequency

ROWS, PEOPLE = 200_000, 20_000


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """200k touches of 20k people over 60 days, times and regions from DuckDB's hash (deterministic)."""
    path = tmp_path_factory.mktemp("freq") / "touches.parquet"
    duckdb.execute(f"""copy (select 'c' || (hash(i) % {PEOPLE}) as person,
                               timestamp '2026-01-01' + to_minutes(cast(hash(i * 3) % (60 * 24 * 60) as bigint)) as at,
                               (['north', 'south', 'east', null])[1 + cast(hash(i * 5) % 4 as int)] as region
                        from range({ROWS}) t(i)) to '{path}' (format parquet)""")
    return path


def _oracle(path: Path, window: str, cap: int) -> tuple:
    """The same figures in one pass: a window count per touch, then distinct people (no temporary tables)."""
    return duckdb.execute(f"""
        select count(distinct person), count(distinct person) filter (where k > {cap}), max(k),
               count(distinct (person, w)) filter (where k > {cap}), count(distinct w) filter (where k > {cap})
        from (select person, date_trunc('{window}', "at") as w,
                     count(*) over (partition by person, date_trunc('{window}', "at")) as k
              from read_parquet('{path}'))""").fetchone()


@pytest.mark.parametrize("window, cap", [("day", 1), ("week", 3), ("month", 8)])
def test_200k_rows_agree_with_a_one_pass_query(big, window, cap):
    with open_source(big) as src:
        got = count_frequency(src, FrequencySpec(person="person", at="at", window=window, groups=("region",)), cap)
    people, over, peak, windows_over, windows_with_over = _oracle(big, window, cap)
    assert (got.rows, got.people, got.over_cap, got.max_touches, got.person_windows_over_cap) == \
        (ROWS, people, over, peak, windows_over)
    assert got.touches == ROWS and sum(got.peaks.values()) == people
    assert sum(v for k, v in got.peaks.items() if k > cap) == over
    assert 0 < over < people  # the cap splits the population, so the comparison means something
    assert sum(g.n for g in got.groups) == people and sum(g.positives for g in got.groups) == over
    assert {g.label for g in got.groups} == {"north", "south", "east", "(missing)"}
    assert sum(w.over_cap for w in got.top_windows) <= windows_over
    assert len(got.top_windows) == min(5, windows_with_over)


def test_count_rows_with_a_time_add_up_per_window(tmp_path):
    """Rows that carry a count and a date: x has 2 + 2 on Mon 5 and Wed 7 January (week 05: 4) and 1 on Mon 12;
    y has 3 on Sun 11 and 3 on Mon 12 (never more than 3 in one week). Cap 3: x alone is over, peak 4."""
    path = tmp_path / "daily.csv"
    path.write_text("person,day,n\nx,2026-01-05,2\nx,2026-01-07,2\nx,2026-01-12,1\ny,2026-01-11,3\ny,2026-01-12,3\n",
                    encoding="utf-8")
    with open_source(path) as src:
        got = count_frequency(src, FrequencySpec(person="person", at="day", count="n"), 3)
    assert (got.people, got.over_cap, got.max_touches, got.touches, got.person_windows) == (2, 1, 4, 11, 4)
    assert [(w.start, w.people, w.over_cap, w.touches) for w in got.top_windows] == [("2026-01-05", 2, 1, 7)]


def test_zoned_timestamps_fall_in_their_utc_window(tmp_path):
    """23:30 on Sunday 11 January at -02:00 is 01:30 UTC on Monday 12: a new ISO week, so nobody has 2 in one."""
    path = tmp_path / "zoned.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select 'z' as person, cast(s as timestamptz) as at from (values "
                    "('2026-01-11 23:30:00-02:00'), ('2026-01-05 12:00:00+00:00')) v(s)")
    with open_source(path, "main.t") as src:
        got = count_frequency(src, FrequencySpec(person="person", at="at"), 1)
    assert (got.people, got.over_cap, got.person_windows) == (1, 0, 2)


def test_text_times_that_all_parse_are_accepted(tmp_path):
    path = tmp_path / "t.ndjson"
    path.write_text('{"p": "a", "at": "2026-01-05T10:00:00"}\n{"p": "a", "at": "2026-01-06"}\n'
                    '{"p": "a", "at": null}\n', encoding="utf-8")
    with open_source(path) as src:
        got = count_frequency(src, FrequencySpec(person="p", at="at"), 1)
    assert (got.rows, got.excluded, got.over_cap, got.max_touches) == (3, {"missing person": 0, "missing time": 1},
                                                                       1, 2)


_TOUCH = st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 59), st.sampled_from(["x", "y", ""]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(touches=st.lists(_TOUCH, min_size=1, max_size=40), window=st.sampled_from(["day", "week", "month"]),
       cap=st.integers(1, 4))
def test_figures_match_python_on_random_touches(tmp_path, touches, window, cap):
    """Random touches (person, day 0-59 from Thursday 1 January 2026, group or missing) against the same figures
    counted in plain Python with the calendar's own idea of a day, an ISO week and a month."""
    start = date(2026, 1, 1)
    path = tmp_path / f"t{abs(hash((tuple(touches), window, cap)))}.csv"
    path.write_text("person,at,grp\n" + "".join(f"{p},{start + timedelta(days=d)} 12:00:00,{g}\n"
                                                for p, d, g in touches), encoding="utf-8")
    key = {"day": lambda d: d, "week": lambda d: d - timedelta(days=d.weekday()), "month": lambda d: d.replace(day=1)}
    per = Counter((p, key[window](start + timedelta(days=d))) for p, d, _ in touches)
    peak = {p: max(k for (q, _), k in per.items() if q == p) for p, _, _ in touches}
    last = {p: max(((d, g or "\uffff") for q, d, g in touches if q == p))[1] for p in peak}
    with open_source(path) as src:
        got = count_frequency(src, FrequencySpec(person="person", at="at", window=window, groups=("grp",)), cap)
    assert (got.people, got.over_cap, got.max_touches, got.touches) == \
        (len(peak), sum(v > cap for v in peak.values()), max(peak.values()), len(touches))
    assert (got.person_windows, got.person_windows_over_cap) == (len(per), sum(k > cap for k in per.values()))
    assert got.peaks == dict(Counter(min(v, cap + 1) for v in peak.values()))
    expected_groups = Counter("(missing)" if last[p] == "\uffff" else last[p] for p in peak)
    assert {g.label: g.n for g in got.groups} == dict(expected_groups)
