"""Proxies: model inputs that stand in for a protected attribute.

Dropping ``gender`` from a model does not make it gender-blind when ``job_title`` or ``first_name`` tells gender
nine times out of ten. For each candidate input and each protected attribute this measures how strongly the two
go together, on aggregates the warehouse computed:

- categorical input: **Cramér's V** from the contingency table, ``sqrt(chi2 / (N * (min(r, c) - 1)))``;
- numeric input: the **correlation ratio eta**, ``sqrt(SS_between / SS_total)`` from per-group n, mean and
  population variance.

Both run from 0 (no association) to 1 (the input determines the group, or the group determines the input's
value). An input at or above ``threshold`` is flagged ``proxy``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

__all__ = ["Contingency", "GroupMoments", "Moment", "ProxyResult", "cramers_v", "correlation_ratio",
           "judge_proxies", "PROXY_THRESHOLD"]

PROXY_THRESHOLD = 0.5


@dataclass(frozen=True)
class Contingency:
    """Counts of (input value, protected value) pairs for one categorical input."""

    input: str
    protected: str
    cells: Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class Moment:
    group: str
    n: int
    mean: float | None
    var_pop: float | None


@dataclass(frozen=True)
class GroupMoments:
    """A numeric input's count, mean and population variance within each protected group (nulls left out)."""

    input: str
    protected: str
    groups: tuple[Moment, ...]


@dataclass(frozen=True)
class ProxyResult:
    input: str
    protected: str
    measure: Literal["cramers_v", "eta", "none"]
    value: float | None
    n: int
    verdict: Literal["proxy", "ok", "skipped"]
    reason: str = ""


def cramers_v(cells: Mapping[tuple[str, str], int]) -> float | None:
    """Cramér's V of a contingency table given as {(row, col): count}; None when a margin has one level."""
    rows: dict[str, int] = {}
    cols: dict[str, int] = {}
    for (r, c), k in cells.items():
        rows[r] = rows.get(r, 0) + k
        cols[c] = cols.get(c, 0) + k
    rows = {r: k for r, k in rows.items() if k > 0}
    cols = {c: k for c, k in cols.items() if k > 0}
    total = sum(rows.values())
    if total == 0 or min(len(rows), len(cols)) < 2:
        return None
    chi2 = 0.0
    for r, rk in rows.items():
        for c, ck in cols.items():
            expected = rk * ck / total
            chi2 += (cells.get((r, c), 0) - expected) ** 2 / expected
    return min(1.0, math.sqrt(chi2 / (total * (min(len(rows), len(cols)) - 1))))


def correlation_ratio(groups: Sequence[Moment]) -> float | None:
    """Eta: the share of the input's spread explained by group membership, square-rooted; None if constant."""
    known = [g for g in groups if g.n > 0 and g.mean is not None]
    total = sum(g.n for g in known)
    if total == 0 or len(known) < 2:
        return None
    grand = sum(g.n * (g.mean or 0.0) for g in known) / total
    between = sum(g.n * ((g.mean or 0.0) - grand) ** 2 for g in known)
    within = sum(g.n * (g.var_pop or 0.0) for g in known)
    if between + within <= 0:
        return None
    return min(1.0, math.sqrt(between / (between + within)))


def judge_proxies(contingencies: Sequence[Contingency], moments: Sequence[GroupMoments],
                  skipped: Mapping[str, str], protected: Sequence[str],
                  threshold: float = PROXY_THRESHOLD) -> list[ProxyResult]:
    """One result per (input, protected attribute), strongest first; skipped inputs say why."""
    out = [_result(c.input, c.protected, "cramers_v", cramers_v(c.cells), sum(c.cells.values()), threshold)
           for c in contingencies]
    out += [_result(m.input, m.protected, "eta", correlation_ratio(m.groups), sum(g.n for g in m.groups), threshold)
            for m in moments]
    out += [ProxyResult(col, ", ".join(protected), "none", None, 0, "skipped", reason)
            for col, reason in skipped.items()]
    return sorted(out, key=lambda r: (r.verdict == "skipped", -(r.value or 0.0), r.input, r.protected))


def _result(col: str, protected: str, measure: Literal["cramers_v", "eta"], value: float | None, n: int,
            threshold: float) -> ProxyResult:
    if value is None:
        return ProxyResult(col, protected, measure, None, n, "ok", "no variation to measure")
    return ProxyResult(col, protected, measure, value, n, "proxy" if value >= threshold else "ok")
