"""Touches per person and calendar window, counted by DuckDB over any table or file a team points at.

Three passes, all SQL: one aggregate checks the columns' values (timestamps that do not parse, negative or
fractional counts) and counts the rows left out; one groups the rows into a temporary person x window table that
never leaves DuckDB; small aggregates over it give the figures. Python receives only counts, so a file of any size
costs the same here, and no person id is ever fetched.

Two shapes of input: one row per touch (``person``, ``at``: touches = rows), or rows that carry a count
(``person``, ``count``, optionally ``at``: touches = the sum of the counts; without ``at`` each person's rows add
up to one window). A person's group is the value on their latest row (ties broken by the value, so reruns agree);
without ``at``, the greatest value. User names reach SQL only as quoted identifiers checked against the source's
columns; the window and the cap only as bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from ...contracts.errors import ConfigError, SourceError
from ...contracts.frequency import WINDOWS, FrequencyCounts, WindowCount, group_counts
from .audit_source import VIEW, Source, quote_ident

__all__ = ["FrequencySpec", "count_frequency", "TOP_WINDOWS"]

TOP_WINDOWS = 5
_PW, _PEOPLE = "steward_frequency_person_windows", "steward_frequency_people"
_TIMESTAMPS = ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATETIME")
_TIMESTAMPS_TZ = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
             "UHUGEINT")
_DECIMALS = ("FLOAT", "DOUBLE", "DECIMAL", "REAL")


@dataclass(frozen=True)
class FrequencySpec:
    """Which columns mean what: ``person`` and either ``at`` (one row per touch) or ``count`` (or both)."""

    person: str
    at: str | None = None
    count: str | None = None
    window: str = "week"
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.at is None and self.count is None:
            raise ConfigError("give the time of each touch (--at) or a count of touches per person (--count)")
        if self.window not in WINDOWS:
            raise ConfigError(f"--window must be one of {', '.join(WINDOWS)}, not '{self.window}'")
        if self.person in self.groups:
            raise ConfigError(f"--group {self.person} is the --person column: its groups would be people, and their "
                              f"ids would be printed; group by an attribute of the person instead")


def count_frequency(src: Source, spec: FrequencySpec, cap: int, top: int = TOP_WINDOWS) -> FrequencyCounts:
    """Every figure the frequency audit judges, for one source and one cap."""
    _require(src, spec)
    at_sql = _at_expression(src, spec.at) if spec.at else None
    count_sql = _count_expression(src, spec.count) if spec.count else None
    rows, excluded = _check_values(src, spec, at_sql, count_sql)
    if rows == 0:
        raise SourceError(f"{src.name}: no rows to audit")
    _person_windows(src, spec, at_sql, count_sql)
    people, over, peak, touches, pcts = src.run(
        f"select count(*), count(*) filter (where peak > ?), coalesce(max(peak), 0), coalesce(sum(touches), 0), "
        f"quantile_disc(peak, [0.5, 0.9, 0.99]) from {_PEOPLE}", [cap])[0]
    if people == 0:
        left_out = ", ".join(f"{n:,} {why}" for why, n in excluded.items() if n)
        raise SourceError(f"{src.name}: no row has a person and a touch ({left_out})")
    windows, windows_over = src.run(f"select count(*), count(*) filter (where k > ?) from {_PW}", [cap])[0]
    peaks = dict(src.run(f"select least(peak, ?) as b, count(*) from {_PEOPLE} group by b", [cap + 1]))
    return FrequencyCounts(
        rows=rows, excluded=excluded, people=people, over_cap=over, max_touches=int(peak), touches=int(touches),
        person_windows=windows, person_windows_over_cap=windows_over, peaks={int(k): int(v) for k, v in peaks.items()},
        p50=int(pcts[0]), p90=int(pcts[1]), p99=int(pcts[2]),
        top_windows=_top_windows(src, cap, top) if spec.at else (),
        groups=tuple(g for i, col in enumerate(spec.groups) for g in _groups(src, i, col, cap)))


def _require(src: Source, spec: FrequencySpec) -> None:
    """Every named column exists; on an empty file (DuckDB then sees one column, ``column0``) say so instead."""
    try:
        src.require(*(c for c in (spec.person, spec.at, spec.count, *spec.groups) if c))
    except SourceError as exc:
        _refuse(src, str(exc), "the file is empty (no rows, no columns to audit)")


def _refuse(src: Source, message: str, empty: str = "no rows to audit") -> NoReturn:
    """Refuse with ``message``, unless the source has no rows: then that is the one thing to say (a file with only
    a header has text columns, and would otherwise be refused for its types)."""
    if not src.run(f"select count(*) from {VIEW}")[0][0]:
        raise SourceError(f"{src.name}: {empty}")
    raise SourceError(message)


def _base(src: Source, col: str) -> str:
    return src.columns[col].split("(")[0].upper()


def _at_expression(src: Source, col: str) -> str:
    """The touch time as a TIMESTAMP (UTC for zoned ones); text is accepted when every value parses."""
    kind, ident = _base(src, col), quote_ident(col)
    if kind in _TIMESTAMPS:
        return f"cast({ident} as timestamp)"
    if src.columns[col].upper() in _TIMESTAMPS_TZ:
        return f"timezone('UTC', {ident})"
    if kind == "VARCHAR":
        return f"try_cast({ident} as timestamp)"
    _refuse(src, f"{src.name}: column '{col}' is {src.columns[col]}, not a date or timestamp (--at)")


def _count_expression(src: Source, col: str) -> str:
    kind = _base(src, col)
    if kind not in _INTEGERS + _DECIMALS:
        _refuse(src, f"{src.name}: column '{col}' is {src.columns[col]}, not a whole number of touches (--count)")
    return quote_ident(col)


def _check_values(src: Source, spec: FrequencySpec, at_sql: str | None,
                  count_sql: str | None) -> tuple[int, dict[str, int]]:
    """Rows, rows left out per reason, and a refusal for values that are not what the option says."""
    person = quote_ident(spec.person)
    at_raw = quote_ident(spec.at) if spec.at else "1"
    at_ok = f"{at_sql} is not null" if at_sql else "true"
    count = count_sql or "1"
    rows, no_person, no_at, bad_at, no_count, negative, fractional = src.run(
        f"select count(*), count(*) filter (where {person} is null), "
        f"count(*) filter (where {person} is not null and {at_raw} is null), "
        f"count(*) filter (where {at_raw} is not null and not ({at_ok})), "
        f"count(*) filter (where {person} is not null and {at_raw} is not null and {count} is null), "
        f"count(*) filter (where {count} < 0), count(*) filter (where {count} <> floor({count})) "
        f"from {VIEW}")[0]
    if bad_at:
        raise SourceError(f"{src.name}: column '{spec.at}' has {bad_at:,} value(s) that are not a date or timestamp "
                          f"(--at)")
    if negative or fractional:
        raise SourceError(f"{src.name}: column '{spec.count}' has {negative + fractional:,} value(s) that are not a "
                          f"whole number >= 0 (--count)")
    excluded = {"missing person": no_person}
    if spec.at:
        excluded["missing time"] = no_at
    if spec.count:
        excluded["missing count"] = no_count
    return rows, excluded


def _person_windows(src: Source, spec: FrequencySpec, at_sql: str | None, count_sql: str | None) -> None:
    """The person x window table (k = touches) and the per-person one (busiest window, latest group values)."""
    person = quote_ident(spec.person)
    # A struct compares field by field: its max is the latest row's values, ties broken by the values themselves.
    # Only built with --group (it is most of the pass's cost on a large file).
    fields = [f"'g{i}': cast({quote_ident(c)} as varchar)" for i, c in enumerate(spec.groups)]
    last = (", max({" + ", ".join([f"'t': {at_sql or 'null'}", *fields]) + "}) as last") if fields else ""
    window = f"date_trunc(?, {at_sql})" if at_sql else "cast(null as timestamp)"
    k = f"sum({count_sql})" if count_sql else "count(*)"
    filters = " and ".join([f"{person} is not null", *(f"{e} is not null" for e in (at_sql, count_sql) if e)])
    params = [spec.window] if at_sql else []
    src.run(f"create or replace temp table {_PW} as select {person} as p, {window} as w, {k} as k{last} "
            f"from {VIEW} where {filters} group by p, w", params)
    src.run(f"create or replace temp table {_PEOPLE} as select max(k) as peak, sum(k) as touches"
            f"{', max(last) as last' if fields else ''} from {_PW} group by p")


def _top_windows(src: Source, cap: int, top: int) -> tuple[WindowCount, ...]:
    rows = src.run(f"select strftime(w, '%Y-%m-%d'), count(*), count(*) filter (where k > ?) as over, sum(k) "
                   f"from {_PW} group by w having over > 0 order by over desc, w limit ?", [cap, top])
    return tuple(WindowCount(str(w), int(n), int(o), int(t)) for w, n, o, t in rows)


def _groups(src: Source, i: int, col: str, cap: int) -> list:
    rows = src.run(f"select last.g{i} as v, count(*), count(*) filter (where peak > ?) from {_PEOPLE} "
                   f"group by v order by v nulls last", [cap])
    return group_counts(col, rows)
