"""Per-group counts for the bias audit, computed by DuckDB over any table or file a team points at.

Every row-level pass is SQL: one ``GROUP BY GROUPING SETS`` query counts n, selections and the confusion matrix for
each group column and their intersection; the proxy audit adds one query for distinct counts, one for the
contingency tables of categorical inputs and one for per-group moments of numeric inputs. Python receives only
aggregates, so a file of any size costs the same here.

User-supplied names reach SQL only as double-quoted identifiers that were first checked against the source's real
columns; user-supplied values (cut-off, positive labels) only as bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ...contracts.fairness import GroupCounts
from ...contracts.proxies import Contingency, GroupMoments, Moment
from ...contracts.errors import ConfigError, SourceError
from .audit_source import VIEW, Source, quote_ident

__all__ = ["ColumnMap", "count_groups", "proxy_aggregates", "ProxyAggregates", "TRUTHY"]

TRUTHY = ("true", "t", "1", "1.0", "yes", "y")  # outcome values that mean "happened" when none are given


@dataclass(frozen=True)
class ColumnMap:
    """Which columns mean what. Positive = ``score >= cutoff``, or ``decision`` in ``positive``."""

    groups: tuple[str, ...]
    score: str | None = None
    cutoff: float | None = None
    decision: str | None = None
    positive: tuple[str, ...] = ()
    outcome: str | None = None
    outcome_positive: tuple[str, ...] = ()
    intersect: bool = False

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
    return f"coalesce(cast({quote_ident(col)} as varchar), 'unknown')"


def _predicates(src: Source, m: ColumnMap) -> tuple[str, str, list]:
    """SQL for 'predicted positive' and 'actually positive' (null when the outcome is unknown), with parameters."""
    params: list = []
    if m.score is not None:
        if not src.is_numeric(m.score):
            raise SourceError(f"{src.name}: score column '{m.score}' is {src.columns[m.score]}, not a number; "
                              f"use --decision/--positive for categories")
        predicted = f"coalesce({quote_ident(m.score)} >= ?, false)"
        params.append(float(m.cutoff))  # type: ignore[arg-type]
    else:
        predicted = f"coalesce(cast({quote_ident(m.decision)} as varchar) in ({_marks(m.positive)}), false)"
        params += list(m.positive)
    if m.outcome is None:
        return predicted, "cast(null as boolean)", params
    values = m.outcome_positive or TRUTHY
    cell = f"cast({quote_ident(m.outcome)} as varchar)" if m.outcome_positive else \
        f"lower(cast({quote_ident(m.outcome)} as varchar))"
    actual = f"case when {quote_ident(m.outcome)} is null then null else {cell} in ({_marks(values)}) end"
    return predicted, actual, params + list(values)


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def count_groups(src: Source, m: ColumnMap) -> list[GroupCounts]:
    """Every group of every dimension in ONE query: n, predicted positives and, with an outcome, tp/fp/fn/tn."""
    src.require(*m.mapped)
    predicted, actual, params = _predicates(src, m)
    cols = list(dict.fromkeys(m.groups))
    alias = {c: f"g{i}" for i, c in enumerate(cols)}
    dims = m.dimensions()
    sets = ", ".join("(" + ", ".join(alias[c] for c in d) + ")" for d in dims)
    every = ", ".join(alias.values())
    sql = f"""
        with base as (
            select {', '.join(f'{_label(c)} as {alias[c]}' for c in cols)},
                   {predicted} as is_positive, {actual} as is_actual
            from {VIEW}
        )
        select grouping({every}) as gid, {every}, count(*) as n,
               count(*) filter (where is_positive) as positives,
               count(*) filter (where is_positive and is_actual) as tp,
               count(*) filter (where is_positive and not is_actual) as fp,
               count(*) filter (where not is_positive and is_actual) as fn,
               count(*) filter (where not is_positive and not is_actual) as tn
        from base
        group by grouping sets ({sets})"""
    rows = src.run(sql, params)
    if not rows:
        raise SourceError(f"{src.name}: no rows to audit")
    gids = {_gid(cols, d): d for d in dims}
    out = []
    for gid, *rest in rows:
        dim, values, (n, pos, tp, fp, fn, tn) = gids[gid], rest[:len(cols)], rest[len(cols):]
        outcome = (tp, fp, fn, tn) if m.outcome else (None,) * 4
        out.append(GroupCounts(dim, tuple(values[cols.index(c)] for c in dim), n, pos, *outcome))
    _check_positives(src, m, out)
    return out


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
    """Aggregates to judge each input as a proxy of each group column: three queries, whatever the inputs."""
    candidates = list(dict.fromkeys(inputs)) if inputs else [c for c in src.columns if c not in m.mapped]
    src.require(*candidates)
    candidates = [c for c in candidates if c not in m.groups]
    skipped = {c: f"type {src.columns[c]} is neither numeric nor categorical" for c in candidates
               if not (src.is_numeric(c) or src.is_categorical(c))}
    categorical = [c for c in candidates if src.is_categorical(c)]
    if categorical:
        distinct = src.run("select " + ", ".join(f"count(distinct {quote_ident(c)})" for c in categorical)
                           + f" from {VIEW}")[0]
        for col, k in zip(categorical, distinct):
            if k > max_levels:
                skipped[col] = f"{k} distinct values (more than {max_levels}: an identifier, not a category)"
        categorical = [c for c in categorical if c not in skipped]
    protected = list(dict.fromkeys(m.groups))
    numeric = [c for c in candidates if src.is_numeric(c)]
    return ProxyAggregates(_contingencies(src, protected, categorical), _moments(src, protected, numeric), skipped)


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


def _moments(src: Source, protected: list[str], inputs: list[str]) -> list[GroupMoments]:
    if not inputs:
        return []
    alias = {p: f"p{i}" for i, p in enumerate(protected)}
    every = ", ".join(alias.values())
    select = ", ".join(f"{_label(p)} as {alias[p]}" for p in protected) + ", " + ", ".join(
        f"cast({quote_ident(x)} as double) as x{i}" for i, x in enumerate(inputs))
    stats = ", ".join(f"count(x{i}), avg(x{i}), var_pop(x{i})" for i in range(len(inputs)))
    rows = src.run(f"with base as (select {select} from {VIEW}) select grouping({every}), {every}, {stats} "
                   f"from base group by grouping sets ({', '.join(alias.values())})")
    found: dict[tuple[str, str], list[Moment]] = {(p, x): [] for p in protected for x in inputs}
    by_gid = {_gid(protected, (p,)): p for p in protected}
    for gid, *rest in rows:
        p, group, tail = by_gid[gid], rest[protected.index(by_gid[gid])], rest[len(protected):]
        for i, x in enumerate(inputs):
            n, mean, var = tail[3 * i: 3 * i + 3]
            found[(p, x)].append(Moment(group, int(n), mean, var))
    return [GroupMoments(x, p, tuple(sorted(ms, key=lambda g: g.group))) for (p, x), ms in found.items()]
