"""The column profile of ``steward audit quality``, counted by DuckDB over any table or file a team points at.

A fixed number of queries, whatever the number of columns: one ``count(*)``; ONE aggregate query for every column's
nulls, distinct count, placeholders, sentinels, min/max and out-of-range rows; when text columns hold placeholders, one
grouped query that says which (over the matching rows only); for numeric columns one query for median / MAD (a CTE for
the median, then the deviations) and one that counts the values past the outlier bounds the contracts computed; with
``--key`` one grouped query for duplicates. Python receives aggregates only, so a file of any size costs the same here.
Above ``exact_distinct_max_rows`` rows distinct counts are approximate (HyperLogLog), and medians (t-digest) once rows x
numeric columns pass ``exact_median_max_values`` (an exact median holds every value), so time and memory stay bounded;
the profile says which.

Text placeholders are counted by one RE2 pattern in the aggregate query, then broken down by value in one grouped query
over the matching rows of the columns that hold any; sentinel numbers and dates are counted one policy value at a time.
What comes back names policy values only, never a value of the data. Min/max are read for number and date columns only,
and not even there when the column's name says it holds personal data (a phone number stored as an integer). Names reach
SQL as quoted identifiers of columns the source has; every value (placeholders, sentinels, bounds, medians) is a bound
parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from ...contracts.errors import SourceError
from ...contracts.policy import QualityAuditRules
from ...contracts.quality import (ColumnStats, KeyStats, RobustStats, TableProfile, ValueRange, column_kind,
                                  is_floating, outlier_half_width, suspicious_sentinels)
from .audit_source import VIEW, Source, quote_ident
from .pii_scan import name_kind

__all__ = ["profile_columns", "placeholder_pattern", "WHITESPACE"]

WHITESPACE = " \t\n\r\x0b\x0c"  # trimmed before a text value is compared with the placeholders


def placeholder_pattern(placeholders: Sequence[str]) -> str:
    """An RE2 pattern that matches a text value equal to a placeholder once trimmed and lower-cased (``''`` in the
    list matches empty and whitespace-only values). Testing the pattern first and normalising only the rows that
    match keeps a column of a million distinct emails as cheap as a column of four countries. ASCII punctuation is
    escaped, so a placeholder is always a literal."""
    literal = ["".join("\\" + ch if ch.isascii() and not ch.isalnum() and ch != " " else ch for ch in value)
               for value in placeholders]
    space = "[\\t\\n\\v\\f\\r ]*"
    return f"(?i){space}({'|'.join(literal)}){space}"


class _Params:
    """Bound parameters by position (``$1``, ``$2``...): one value bound once, referenced by every column."""

    def __init__(self, shared: dict[str, Any] | None = None) -> None:
        self.values: list[Any] = []
        self._shared = shared or {}
        self._marks: dict[str, str] = {}

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def shared(self, name: str) -> str:
        """The mark of a value every column may use, bound on first use (DuckDB refuses unused parameters)."""
        if name not in self._marks:
            self._marks[name] = self(self._shared[name])
        return self._marks[name]


def profile_columns(src: Source, rules: QualityAuditRules, ranges: Sequence[ValueRange] = (),
                    key: Sequence[str] = ()) -> TableProfile:
    """Every column's aggregates and, with ``key``, its duplicates. An empty source is one line, not a profile."""
    src.require(*key, *(r.column for r in ranges))
    rows = int(src.run(f"select count(*) from {VIEW}")[0][0])
    if rows == 0:
        raise SourceError(f"{src.name}: no rows to profile (columns: {', '.join(src.columns) or 'none'})")
    distinct_exact = rows <= rules.exact_distinct_max_rows
    columns = _aggregates(src, rules, {r.column: r for r in ranges}, rows, distinct_exact)
    numeric = [c for c in columns if c.kind == "numeric"]
    median_exact = rows * len(numeric) <= rules.exact_median_max_values
    if numeric:
        _robust(src, numeric, rules, median_exact)
    keys = _keys(src, tuple(dict.fromkeys(key))) if key else None
    return TableProfile(src.name, rows, columns, keys, distinct_exact and median_exact)


def _aggregates(src: Source, rules: QualityAuditRules, ranges: dict[str, ValueRange], rows: int,
                exact: bool) -> list[ColumnStats]:
    """ONE query over every column; each column contributes a fixed list of expressions, read back by name."""
    placeholders, numbers, dates = rules.placeholders, [float(s) for s in rules.sentinel_numbers], rules.sentinel_dates
    p = _Params({"pattern": placeholder_pattern(placeholders), "sentinels": numbers,
                 **{f"n{j}": v for j, v in enumerate(numbers)}, **{f"d{j}": v for j, v in enumerate(dates)}})
    exprs: list[str] = []
    shapes: list[tuple[str, list[str]]] = []
    for name, sql_type in src.columns.items():
        c, kind = quote_ident(name), column_kind(sql_type)
        x = f"cast({c} as double)"
        distinct = f"cast({c} as varchar)" if kind == "other" else c
        parts = {"values": f"count({c})",
                 "distinct": f"count(distinct {distinct})" if exact else f"approx_count_distinct({distinct})"}
        if kind == "text":
            parts |= {"min_length": f"min(length({c}))", "max_length": f"max(length({c}))"}
            if placeholders:  # which placeholder: _placeholder_values, for the columns that hold any
                parts["placeholder_rows"] = f"count(*) filter (where regexp_full_match({c}, {p.shared('pattern')}))"
        elif kind == "numeric":
            sentinels = p.shared("sentinels")
            finite, plain = f"isfinite({x})", f"not list_contains({sentinels}, {x})"
            parts |= {"minimum": f"min({c}) filter (where {finite})", "maximum": f"max({c}) filter (where {finite})",
                      **{f"sentinel:{s!r}": f"count(*) filter (where {x} = {p.shared(f'n{j}')})"
                         for j, s in enumerate(numbers)},
                      "rest_min": f"min({x}) filter (where {finite} and {plain})",
                      "rest_max": f"max({x}) filter (where {finite} and {plain})"}
            if is_floating(sql_type):
                parts["not_finite"] = f"count(*) filter (where not {finite})"
        elif kind == "temporal":
            day = f"cast({c} as date)"
            parts |= {"minimum": f"min({c})", "maximum": f"max({c})",
                      **{f"placeholder:{d.isoformat()}": f"count(*) filter (where {day} = {p.shared(f'd{j}')})"
                         for j, d in enumerate(dates)}}
        if name in ranges:
            parts["out_of_range"] = _outside(ranges[name], x if kind == "numeric" else c, p)
        shapes.append((name, list(parts)))
        exprs += parts.values()
    row = src.run(f"select {', '.join(exprs)} from {VIEW}", p.values)[0]
    out, held, at = [], [], 0
    for name, names in shapes:
        got = dict(zip(names, row[at:at + len(names)]))
        at += len(names)
        out.append(_stats(src, name, got, ranges.get(name), rows, exact))
        if got.get("placeholder_rows"):
            held.append(out[-1])
    if held:
        _placeholder_values(src, held, rules)
    return out


def _placeholder_values(src: Source, columns: list[ColumnStats], rules: QualityAuditRules) -> None:
    """Which placeholder each text column holds, how often: one grouped query over the rows the pattern matches
    only (a handful of groups), for the columns whose count was not 0. The groups are policy values, normalised."""
    p = _Params({"pattern": placeholder_pattern(rules.placeholders), "space": WHITESPACE})
    selects = [f"select {i} as col, lower(trim({quote_ident(c.name)}, {p.shared('space')})) as value, count(*) as n "
               f"from {VIEW} where regexp_full_match({quote_ident(c.name)}, {p.shared('pattern')}) group by all"
               for i, c in enumerate(columns)]
    for i, value, n in src.run(" union all ".join(selects), p.values):
        columns[i].placeholders[value] = int(n)


def _outside(r: ValueRange, value: str, p: _Params) -> str:
    """Rows outside the range. Bounds given as dates compare a timestamp by its day, so ``..2024-12-31`` keeps the
    whole last day."""
    if r.temporal and not any(isinstance(b, datetime) for b in (r.low, r.high)):
        value = f"cast({value} as date)"
    tests = ([f"{value} < {p(r.low)}"] if r.low is not None else []) + \
            ([f"{value} > {p(r.high)}"] if r.high is not None else [])
    return f"count(*) filter (where {' or '.join(tests)})"


def _stats(src: Source, name: str, got: dict[str, Any], r: ValueRange | None, rows: int,
           exact: bool) -> ColumnStats:
    """One column's aggregates as the contracts read them (histogram maps become plain dicts)."""
    masked = name_kind(name)
    placeholders = {k.split(":", 1)[1]: int(n) for k, n in got.items() if k.startswith("placeholder:") and n}
    if got.get("not_finite"):
        placeholders["nan/inf"] = int(got["not_finite"])
    return ColumnStats(
        name=name, type=src.columns[name], rows=rows, nulls=rows - int(got["values"]),
        distinct=int(got["distinct"] or 0), distinct_exact=exact,
        minimum=None if masked else got.get("minimum"), maximum=None if masked else got.get("maximum"),
        min_length=got.get("min_length"), max_length=got.get("max_length"), placeholders=placeholders,
        sentinels={float(k.split(":", 1)[1]): int(n) for k, n in got.items() if k.startswith("sentinel:") and n},
        rest_min=got.get("rest_min"), rest_max=got.get("rest_max"), range=r,
        out_of_range=int(got["out_of_range"]) if "out_of_range" in got else None, masked=masked)


def _robust(src: Source, columns: list[ColumnStats], rules: QualityAuditRules, exact: bool) -> None:
    """Median, MAD and mean absolute deviation of each numeric column (one query: a CTE holds the medians), then
    one query counting the values past the bounds the contracts drew. Non-finite values and the sentinels judged
    placeholders are left out: they are reported as placeholders, not again as outliers."""
    p = _Params()
    xs = [_value(c, p) for c in columns]
    median = "median({})" if exact else "approx_quantile({}, 0.5)"
    meds = ", ".join(f"{median.format(x)} as m{i}" for i, x in enumerate(xs))
    devs = ", ".join(f"any_value(m{i}), {median.format(f'abs({x} - m{i})')}, avg(abs({x} - m{i}))"
                     for i, x in enumerate(xs))
    row = src.run(f"with med as (select {meds} from {VIEW}) select {devs} from {VIEW}, med", p.values)[0]
    judged = []
    for i, col in enumerate(columns):
        med, mad, mean_ad = row[3 * i:3 * i + 3]
        if med is None:
            continue  # no finite value that is not a placeholder
        col.robust = RobustStats(float(med), float(mad or 0), float(mean_ad or 0), exact)
        width = outlier_half_width(col.robust, rules.outlier_z)
        col.outliers = 0
        if width is not None:
            judged.append((col, col.robust.median, width))
    if not judged:
        return
    q = _Params()
    counts = ", ".join(f"count(*) filter (where abs({_value(col, q)} - {q(median)}) > {q(width)})"
                       for col, median, width in judged)
    for (col, _, _), n in zip(judged, src.run(f"select {counts} from {VIEW}", q.values)[0]):
        col.outliers = int(n)


def _value(col: ColumnStats, p: _Params) -> str:
    """A numeric column as a double, null when not finite or a sentinel judged a placeholder."""
    x = f"cast({quote_ident(col.name)} as double)"
    odd = [float(s) for s in suspicious_sentinels(col)]
    keep = f"isfinite({x})" + (f" and not list_contains({p(odd)}, {x})" if odd else "")
    return f"case when {keep} then {x} end"


def _keys(src: Source, key: tuple[str, ...]) -> KeyStats:
    """Duplicated key values and the rows beyond the first of each, in one grouped query; rows with a null in any
    key column are counted apart (a null is not a key)."""
    cols = ", ".join(quote_ident(k) for k in key)
    present = " and ".join(f"{quote_ident(k)} is not null" for k in key)
    sql = f"""
        with k as (select count(*) as n from {VIEW} where {present} group by {cols})
        select count(*), count(*) filter (where n > 1), coalesce(sum(n - 1) filter (where n > 1), 0),
               coalesce(max(n), 0), (select count(*) from {VIEW} where not ({present}))
        from k"""
    distinct, duplicated, extra, most, nulls = src.run(sql)[0]
    return KeyStats(key, int(distinct), int(duplicated), int(extra), int(nulls), int(most))
