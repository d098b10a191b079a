"""Per-group counts for the bias audit, computed by DuckDB over any table or file a team points at.

Every row-level pass is SQL, and there are at most two (``tally_audit``). The counting pass groups the rows by the
group columns' own values and three flags (decided, positive, actual positive), then rolls that small table up with
``GROUPING SETS`` into n, selections and the confusion matrix of each group column and their intersection: no text
cast per row, labels made after aggregation. With proxies, a first small pass counts the distinct values of the
categorical inputs (more than 50: an identifier, skipped) and takes the numeric inputs' means; the counting pass then
also groups by the categorical inputs (the contingency tables are more grouping sets) and takes each cell's moments
of the numeric inputs (per group they combine exactly). Python receives only aggregates, so a file of any size costs
the same here.

User-supplied names reach SQL only as double-quoted identifiers that were first checked against the source's real
columns; user-supplied values (cut-off, positive labels) only as bound parameters.

Missing values, decided once here (docs/bias-audit.md, "Missing values"):

- a missing **group** value is a group of its own, labelled ``(missing)`` (``MISSING``); a literal ``unknown`` stays
  the group ``unknown``. Who has no recorded age band may be treated differently, so they are judged, not dropped.
- a missing **score or decision** leaves the row out of every count: counting it as "not selected" would lower
  its group's rate for a reason that is not the decision. ``RowAccount.missing_decision`` says how many.
- a missing **outcome** keeps the row in n and the selection rate, out of TPR/FPR/FNR/precision
  (``RowAccount.missing_outcome``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ...contracts.fairness import GroupCounts
from ...contracts.proxies import Contingency, GroupMoments, Moment
from ...contracts.errors import ConfigError, SourceError
from .audit_source import VIEW, Source, quote_ident

__all__ = ["ColumnMap", "count_groups", "tally_groups", "tally_audit", "RowAccount", "Missing", "MISSING", "Band",
           "DIRECTIONS", "proxy_aggregates", "ProxyAggregates", "TRUTHY"]

TRUTHY = ("true", "t", "1", "1.0", "yes", "y")  # outcome values that mean "happened" when none are given
DIRECTIONS = ("above", "below")  # --direction: positive when score >= cutoff, or score <= cutoff


class Missing(str):
    """A group value that is null in the source: a string for labels and sorting, ``(missing)``, but told apart
    from a literal value by its type, so the JSON document can print it as null."""


MISSING = Missing("(missing)")


class Band(str):
    """A ``--bin`` label that sorts by its band's position (``<18``, ``18-24``, ..., ``>=65``), not as text, so
    tables list bands in order. Against any other string it compares as text."""

    rank: int

    def __new__(cls, label: str, rank: int) -> "Band":
        band = super().__new__(cls, label)
        band.rank = rank
        return band

    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Band) else str.__lt__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Band) else str.__gt__(self, other)  # type: ignore[operator]

    __hash__ = str.__hash__


@dataclass(frozen=True)
class ColumnMap:
    """Which columns mean what. Positive = ``score >= cutoff`` (``direction="below"``: ``score <= cutoff``), or
    ``decision`` in ``positive``."""

    groups: tuple[str, ...]
    score: str | None = None
    cutoff: float | None = None
    decision: str | None = None
    positive: tuple[str, ...] = ()
    outcome: str | None = None
    outcome_positive: tuple[str, ...] = ()
    intersect: bool = False
    direction: str = "above"

    def __post_init__(self) -> None:
        if not self.groups:
            raise ConfigError("name at least one group column (--group)")
        if (self.score is None) == (self.decision is None):
            raise ConfigError("give either a score and a cut-off (--score, --cutoff) or a decision and its "
                              "positive values (--decision, --positive), not both or neither")
        if self.score is not None and self.cutoff is None:
            raise ConfigError(f"score column '{self.score}' needs a cut-off (--cutoff)")
        if self.decision is not None and not self.positive:
            raise ConfigError(f"decision column '{self.decision}' needs the values that count as positive (--positive)")
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"--direction must be above or below, not '{self.direction}'")
        if self.decision is not None and self.direction != "above":
            raise ConfigError("--direction applies to --score/--cutoff, not to --decision")

    @property
    def mapped(self) -> tuple[str, ...]:
        return tuple(c for c in (*self.groups, self.score, self.decision, self.outcome) if c)

    def dimensions(self) -> list[tuple[str, ...]]:
        """Each group column alone, then their intersection when asked (and when there are two or more)."""
        dims = [(g,) for g in dict.fromkeys(self.groups)]
        if self.intersect and len(dims) > 1:
            dims.append(tuple(dict.fromkeys(self.groups)))
        return dims


def _label(col: str) -> str:
    """A group column as text for the proxy queries, a null as the ``(missing)`` level."""
    return f"coalesce(cast({quote_ident(col)} as varchar), '{MISSING}')"


def _predicates(src: Source, m: ColumnMap) -> tuple[str, str, list]:
    """SQL for 'predicted positive' (null when the score or decision is missing) and 'actually positive' (null when
    the outcome is), with parameters."""
    params: list = []
    if m.score is not None:
        if not src.is_numeric(m.score):
            raise SourceError(f"{src.name}: score column '{m.score}' is {src.columns[m.score]}, not a number; "
                              f"use --decision/--positive for categories")
        predicted = f"{quote_ident(m.score)} {'>=' if m.direction == 'above' else '<='} ?"
        params.append(float(m.cutoff))  # type: ignore[arg-type]
    else:
        predicted = f"cast({quote_ident(m.decision)} as varchar) in ({_marks(m.positive)})"
        params += list(m.positive)
    if m.outcome is None:
        return predicted, "cast(null as boolean)", params
    values = m.outcome_positive or TRUTHY
    if not m.outcome_positive and src.columns[m.outcome].upper() == "BOOLEAN":
        return predicted, quote_ident(m.outcome), params  # what lower(cast(b as varchar)) in TRUTHY reads, uncast
    cell = f"cast({quote_ident(m.outcome)} as varchar)" if m.outcome_positive else \
        f"lower(cast({quote_ident(m.outcome)} as varchar))"
    actual = f"case when {quote_ident(m.outcome)} is null then null else {cell} in ({_marks(values)}) end"
    return predicted, actual, params + list(values)


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


@dataclass(frozen=True)
class RowAccount:
    """Where the rows went: what the audit read and what it left out of which count, and why."""

    rows: int  # rows after --where (the source's rows without a filter)
    audited: int  # rows with a score or decision: every dimension's n adds up to this
    missing_decision: int  # no score / no decision: out of every count
    missing_outcome: int | None  # audited, no outcome: in n and selection rate, out of error rates (None: no outcome)
    missing_group: dict[str, int]  # per group column: audited rows in its '(missing)' group
    rows_read: int | None = None  # rows before --where (None without a filter)

    def to_dict(self) -> dict[str, object]:
        return {"rows_read": self.rows_read, "rows": self.rows, "audited": self.audited,
                "missing_decision": self.missing_decision, "missing_outcome": self.missing_outcome,
                "missing_group": dict(self.missing_group)}


def count_groups(src: Source, m: ColumnMap) -> list[GroupCounts]:
    """Every group of every dimension in ONE query: n, predicted positives and, with an outcome, tp/fp/fn/tn."""
    return tally_groups(src, m)[0]


def tally_groups(src: Source, m: ColumnMap) -> tuple[list[GroupCounts], RowAccount]:
    """``count_groups`` plus the ``RowAccount``, from the same single query (its empty grouping set counts the
    rows each missing value leaves out)."""
    counts, account, _ = tally_audit(src, m, proxies=False)
    return counts, account


def tally_audit(src: Source, m: ColumnMap, inputs: Sequence[str] | None = None, *, proxies: bool = True,
                max_levels: int = 50) -> tuple[list[GroupCounts], RowAccount, "ProxyAggregates | None"]:
    """The group counts, the ``RowAccount`` and (``proxies`` or ``inputs``) the proxy aggregates, in at most two
    passes over the source: without proxies one; with them one small pass for distinct counts and the numeric
    inputs' means, then the counting pass, which also yields the contingency tables and the per-group moments."""
    src.require(*m.mapped)
    plan = _proxy_plan(src, m, inputs, max_levels) if proxies or inputs else None
    counts, account, proxy = _counting_pass(src, m, plan)
    return counts, account, proxy


@dataclass
class _ProxyPlan:
    """What the counting pass adds for the proxies: categorical inputs grouped with the group columns (``folded``),
    the ones too many to fold (one more query), numeric inputs with the shift (their mean) their moments are taken
    around, and the inputs skipped with why."""

    protected: list[str]
    folded: list[str]
    apart: list[str]
    numeric: dict[str, float]
    skipped: dict[str, str]
    max_levels: int = 50


_FINE_CELLS = 200_000  # most (group x input) value combinations the counting pass groups by before a separate query


def _proxy_plan(src: Source, m: ColumnMap, inputs: Sequence[str] | None, max_levels: int) -> _ProxyPlan:
    """One pass: approximate distinct counts (HyperLogLog: an exact ``count(distinct)`` beside other aggregates costs
    DuckDB twice the pass) of the group columns and categorical inputs, and the numeric inputs' means. An input with
    over twice ``max_levels`` is an identifier, skipped here; the others are counted exactly by the counting pass's
    contingency tables, which skip those over ``max_levels``."""
    candidates = list(dict.fromkeys(inputs)) if inputs else [c for c in src.columns if c not in m.mapped]
    src.require(*candidates)
    candidates = [c for c in candidates if c not in m.groups]
    skipped = {c: f"type {src.columns[c]} is neither numeric nor categorical" for c in candidates
               if not (src.is_numeric(c) or src.is_categorical(c))}
    protected = list(dict.fromkeys(m.groups))
    categorical = [c for c in candidates if src.is_categorical(c)]
    numeric = [c for c in candidates if src.is_numeric(c)]
    if not categorical and not numeric:
        return _ProxyPlan(protected, [], [], {}, skipped, max_levels)
    distinct = [f"approx_count_distinct({quote_ident(c)})" for c in (*protected, *categorical)]
    means = [f"avg(cast({quote_ident(c)} as double))" for c in numeric]
    row = src.run("select " + ", ".join(distinct + means) + f" from {VIEW}")[0]
    levels = dict(zip((*protected, *categorical), (int(k) for k in row)))
    for col in categorical:
        if levels[col] > 2 * max_levels:
            skipped[col] = (f"about {levels[col]:,} distinct values (more than {max_levels}: an identifier, "
                            "not a category)")
    kept = [c for c in categorical if c not in skipped]
    folded, cells = [], 12  # the three flags of the counting pass (decided, positive, actual): at most 2 x 3 x 2
    for col in (*protected, *kept):
        cells *= levels[col] + 1  # + 1: null
        if col in kept and cells <= _FINE_CELLS:
            folded.append(col)
    return _ProxyPlan(protected, folded, [c for c in kept if c not in folded],
                      {c: float(mean) if mean is not None else 0.0 for c, mean in zip(numeric, row[len(levels):])},
                      skipped, max_levels)


def _counting_pass(src: Source, m: ColumnMap, plan: _ProxyPlan | None
                   ) -> tuple[list[GroupCounts], RowAccount, "ProxyAggregates | None"]:
    """ONE pass in two stages: the rows grouped by the group columns' own values (no cast per row), the three
    flags and the folded inputs, then that small table rolled up into every dimension, the totals, and each
    (group column, input) pair: by Python when it has at most ``_FINE_ROWS`` rows, else by ``GROUPING SETS``.
    Labels are made after aggregation."""
    predicted, actual, params = _predicates(src, m)
    decided = quote_ident(m.score if m.score is not None else m.decision)  # type: ignore[arg-type]
    cols = list(dict.fromkeys(m.groups))
    inputs = plan.folded if plan else []
    numeric = list(plan.numeric) if plan else []
    keys = cols + inputs
    alias = {c: f"g{i}" for i, c in enumerate(keys)}
    dims = m.dimensions()
    sets = list(dict.fromkeys([*dims, *((c,) for c in cols), *((c, x) for c in cols for x in inputs), ()]))
    grouping_sets = ", ".join("(" + ", ".join(alias[c] for c in s) + ")" for s in sets)
    every = ", ".join(alias.values())
    shifted = [f"cast({quote_ident(x)} as double) - ? as x{i}" for i, x in enumerate(numeric)]
    moments = "".join(f", count(x{i}) as n{i}, avg(x{i}) as m{i}, var_pop(x{i}) as v{i}" for i in range(len(numeric)))
    rolled = "".join(f", sum(n{i}), sum(n{i} * m{i}), sum(n{i} * v{i}), sum(n{i} * m{i} * m{i})"
                     for i in range(len(numeric)))
    missing = "".join(f", coalesce(sum(k) filter (where is_decided and {alias[c]} is null), 0)" for c in cols)
    fine = f"""
        with fine as (
            select {every}, is_decided, is_positive, is_actual, count(*) as k{moments}
            from (select {', '.join(f'{quote_ident(c)} as {alias[c]}' for c in keys)},
                         {decided} is not null as is_decided, {predicted} as is_positive, {actual} as is_actual
                         {''.join(', ' + s for s in shifted)}
                  from {VIEW})
            group by all
        )"""
    params = params + [plan.numeric[x] for x in numeric] if plan else params
    labels = ", ".join(f"cast({a} as varchar)" for a in alias.values())
    small = src.run_at_most(f"{fine} select {labels}, is_decided, is_positive, is_actual, "
                            f"k{_fine_cols(len(numeric))} from fine", params, _FINE_ROWS)
    if small is not None:
        rows = _rollup(small, keys, sets, cols, len(numeric))
    else:  # a fine table too big to hand Python: DuckDB rolls it up
        rows = src.run(f"""{fine}
        select grouping({every}) as gid, {labels},
               coalesce(sum(k) filter (where is_decided), 0) as n,
               coalesce(sum(k) filter (where is_positive), 0) as positives,
               coalesce(sum(k) filter (where is_positive and is_actual), 0) as tp,
               coalesce(sum(k) filter (where is_positive and not is_actual), 0) as fp,
               coalesce(sum(k) filter (where not is_positive and is_actual), 0) as fn,
               coalesce(sum(k) filter (where not is_positive and not is_actual), 0) as tn,
               sum(k) as rows, coalesce(sum(k) filter (where is_decided and is_actual is null), 0) as no_outcome
               {missing}{rolled}
        from fine
        group by grouping sets ({grouping_sets})""", params)
    width = len(keys)
    total = _gid(keys, ())
    overall = next((r for r in rows if r[0] == total), None)
    n_rows = int(overall[width + 7]) if overall else 0
    if n_rows == 0:
        raise SourceError(f"{src.name}: no rows to audit")
    n_audited, no_outcome = int(overall[width + 1]), int(overall[width + 8])
    if n_audited == 0:
        raise SourceError(f"{src.name}: no row has a value in '{m.score or m.decision}' "
                          f"(all {n_rows:,} rows are missing it)")
    gids = {_gid(keys, d): d for d in dims}
    out = []
    for gid, *rest in rows:
        dim, values, (n, pos, tp, fp, fn, tn) = gids.get(gid), rest[:width], rest[width:width + 6]
        if dim is None or n == 0:  # the totals row, a proxy set, or a group whose every row lacks a score / decision
            continue
        outcome = (int(tp), int(fp), int(fn), int(tn)) if m.outcome else (None,) * 4
        labels = tuple(_value(src, c, values[keys.index(c)]) for c in dim)
        out.append(GroupCounts(dim, labels, int(n), int(pos), *outcome))
    _check_missing_label(src, out)
    _check_positives(src, m, out)
    missing_group = dict(zip(cols, (int(k) for k in overall[width + 9:width + 9 + len(cols)])))
    account = RowAccount(n_rows, n_audited, n_rows - n_audited, no_outcome if m.outcome else None, missing_group,
                         src.rows_read() if src.where is not None else None)
    proxy = None if plan is None else ProxyAggregates(
        _within_levels(_folded_contingencies(rows, keys, plan) + _contingencies(src, plan.protected, plan.apart),
                       plan), _folded_moments(rows, keys, plan, width + 9 + len(cols)), plan.skipped)
    return out, account, proxy


_FINE_ROWS = 50_000  # the most rows of the grouped table Python rolls up itself (DuckDB's GROUPING SETS above)


def _fine_cols(numeric: int) -> str:
    """The grouped table's moment columns, per numeric input: n, mean and population variance of its cell."""
    return "".join(f", n{i}, m{i}, v{i}" for i in range(numeric))


def _rollup(fine: list[tuple], keys: list[str], sets: list[tuple[str, ...]], cols: list[str],
            numeric: int) -> list[tuple]:
    """What the ``GROUPING SETS`` query returns, computed from the grouped table's few rows: a DuckDB rollup of a
    few hundred rows costs more than the grouping itself. Same columns: gid, labels, n, positives, tp, fp, fn, tn,
    rows, no_outcome, per group column the decided rows missing it, per numeric input n, sum(n m), sum(n v),
    sum(n m m)."""
    width = len(keys)
    index = {c: i for i, c in enumerate(keys)}
    acc: dict[tuple, list] = {}
    for row in fine:
        values, (decided, positive, actual, k), cells = row[:width], row[width:width + 4], row[width + 4:]
        for s in sets:
            key = (_gid(keys, s), *(values[index[c]] if c in s else None for c in keys))
            a = acc.get(key)
            if a is None:
                a = acc[key] = [0] * (8 + len(cols)) + [0.0] * (4 * numeric)
            if decided:
                a[0] += k
                if actual is None:
                    a[7] += k
                for j, c in enumerate(cols):
                    if values[index[c]] is None:
                        a[8 + j] += k
            if positive is not None and actual is not None:  # tp, fp, fn, tn
                a[(2 if positive else 4) + (0 if actual else 1)] += k
            if positive:
                a[1] += k
            a[6] += k
            for i in range(numeric):
                n, mean, var = cells[3 * i: 3 * i + 3]
                if n:
                    at = 8 + len(cols) + 4 * i
                    a[at] += n
                    a[at + 1] += n * mean
                    a[at + 2] += n * var
                    a[at + 3] += n * mean * mean
    return [(*key, *a) for key, a in acc.items()]


def _folded_contingencies(rows: list[tuple], keys: list[str], plan: _ProxyPlan) -> list[Contingency]:
    """The (group column, input) sets of the counting pass as contingency tables, nulls as the ``(missing)`` level."""
    pairs = [(p, x) for p in plan.protected for x in plan.folded]
    by_gid = {_gid(keys, pair): pair for pair in pairs}
    cells: dict[tuple[str, str], dict[tuple[str, str], int]] = {pair: {} for pair in pairs}
    width = len(keys)
    for gid, *rest in rows:
        pair = by_gid.get(gid)
        if pair is None:
            continue
        p, x = pair
        cell = (_level(rest[keys.index(x)]), _level(rest[keys.index(p)]))
        table = cells[pair]
        table[cell] = table.get(cell, 0) + int(rest[width + 6])
    return [Contingency(x, p, cells[(p, x)]) for p, x in pairs]


def _within_levels(tables: list[Contingency], plan: _ProxyPlan) -> list[Contingency]:
    """The tables of inputs with at most ``max_levels`` values (nulls aside); the others join ``plan.skipped`` with
    their exact count, read off their table."""
    out = []
    for table in tables:
        k = len({x for x, _ in table.cells if x != MISSING})
        if k > plan.max_levels:
            plan.skipped[table.input] = (f"{k} distinct values (more than {plan.max_levels}: an identifier, "
                                         "not a category)")
        else:
            out.append(table)
    return out


def _folded_moments(rows: list[tuple], keys: list[str], plan: _ProxyPlan, start: int) -> list[GroupMoments]:
    """Each group's count, mean and population variance of each numeric input, combined from the counting pass's
    cells: within-cell spread plus the spread of the cell means, all taken around the input's mean (the shift keeps
    the subtraction well conditioned whatever the input's magnitude)."""
    if not plan.numeric:
        return []
    found: dict[tuple[str, str], list[Moment]] = {(p, x): [] for p in plan.protected for x in plan.numeric}
    by_gid = {_gid(keys, (p,)): p for p in plan.protected}
    for gid, *rest in rows:
        p = by_gid.get(gid)
        if p is None:
            continue
        group = _level(rest[keys.index(p)])
        for i, (x, shift) in enumerate(plan.numeric.items()):
            n, sum_m, sum_v, sum_m2 = rest[start - 1 + 4 * i: start - 1 + 4 * i + 4]
            n = int(n or 0)
            if n == 0:
                found[(p, x)].append(Moment(group, 0, None, None))
                continue
            mean = float(sum_m) / n
            var = max(0.0, (float(sum_v) + float(sum_m2)) / n - mean * mean)
            found[(p, x)].append(Moment(group, n, shift + mean, var))
    return [GroupMoments(x, p, tuple(sorted(ms, key=lambda g: g.group))) for (p, x), ms in found.items()]


def _level(value: object) -> str:
    """A group or input value as a proxy level: text, a null as ``(missing)``."""
    return str(MISSING) if value is None else str(value)


def _value(src: Source, col: str, value: str | None) -> str:
    if value is None:
        return MISSING
    if col in src.bands:
        return Band(value, src.bands[col].index(value))
    return value


def _check_missing_label(src: Source, counts: list[GroupCounts]) -> None:
    """A column holding both nulls and the text ``(missing)`` would show two groups under one label: refuse it."""
    for c in counts:
        if len(c.columns) == 1 and c.values[0] == MISSING and not isinstance(c.values[0], Missing) and any(
                o.columns == c.columns and isinstance(o.values[0], Missing) for o in counts):
            raise SourceError(f"{src.name}: column '{c.columns[0]}' holds both missing values and the text "
                              f"'{MISSING}', which would be two groups with one label; rename that value")


def _gid(cols: list[str], dim: tuple[str, ...]) -> int:
    """SQL GROUPING(): one bit per column, most significant first, set when the column is NOT in the set."""
    return sum(1 << (len(cols) - 1 - i) for i, c in enumerate(cols) if c not in dim)


def _check_positives(src: Source, m: ColumnMap, counts: list[GroupCounts]) -> None:
    """No positive at all nearly always means a mistyped --positive or --outcome-positive; say which values exist.

    A boolean or 0/1 outcome that is never true is real data (nobody converted), so it is not refused."""
    first = [c for c in counts if c.columns == counts[0].columns]
    if m.decision and sum(c.positives for c in first) == 0:
        raise SourceError(f"{src.name}: no row of '{m.decision}' is in --positive {list(m.positive)} "
                          f"(values: {_values(src, m.decision)})")
    typed = m.outcome and not m.outcome_positive and (src.is_numeric(m.outcome) or
                                                     src.columns[m.outcome].upper() == "BOOLEAN")
    if m.outcome and not typed and sum((c.tp or 0) + (c.fn or 0) for c in first) == 0:
        hint = f"--outcome-positive {list(m.outcome_positive)}" if m.outcome_positive else "true/1/yes"
        raise SourceError(f"{src.name}: no row of outcome '{m.outcome}' counts as positive ({hint}; "
                          f"values: {_values(src, m.outcome)}); pass --outcome-positive")


def _values(src: Source, col: str, limit: int = 10) -> str:
    rows = src.run(f"select distinct cast({quote_ident(col)} as varchar) as v from {VIEW} "
                   f"order by v nulls last limit {int(limit) + 1}")
    shown = ", ".join("null" if v is None else str(v) for (v,) in rows[:limit])
    return shown + (", ..." if len(rows) > limit else "")


@dataclass(frozen=True)
class ProxyAggregates:
    contingencies: list[Contingency]
    moments: list[GroupMoments]
    skipped: dict[str, str]


def proxy_aggregates(src: Source, m: ColumnMap, inputs: Sequence[str] | None = None,
                     max_levels: int = 50) -> ProxyAggregates:
    """Aggregates to judge each input as a proxy of each group column (``tally_audit``'s, without the counts)."""
    return tally_audit(src, m, inputs, max_levels=max_levels)[2]  # type: ignore[return-value]


def _contingencies(src: Source, protected: list[str], inputs: list[str]) -> list[Contingency]:
    if not inputs:
        return []
    cols = protected + inputs
    alias = {c: f"c{i}" for i, c in enumerate(cols)}
    pairs = [(p, x) for p in protected for x in inputs]
    select = ", ".join(f"{_label(p)} as {alias[p]}" for p in protected) + ", " + ", ".join(
        f"coalesce(cast({quote_ident(x)} as varchar), '(missing)') as {alias[x]}" for x in inputs)
    every = ", ".join(alias.values())
    sets = ", ".join(f"({alias[p]}, {alias[x]})" for p, x in pairs)
    rows = src.run(f"with base as (select {select} from {VIEW}) select grouping({every}), {every}, count(*) "
                   f"from base group by grouping sets ({sets})")
    cells: dict[tuple[str, str], dict[tuple[str, str], int]] = {pair: {} for pair in pairs}
    by_gid = {_gid(cols, pair): pair for pair in pairs}
    for gid, *rest in rows:
        p, x = by_gid[gid]
        cells[(p, x)][(rest[cols.index(x)], rest[cols.index(p)])] = rest[-1]
    return [Contingency(x, p, cells[(p, x)]) for p, x in pairs]
