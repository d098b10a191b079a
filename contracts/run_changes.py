"""What changed between two runs' findings: new, worse and resolved, the three things a returning reader asks.

Findings carry a fingerprint that is stable across runs for one check on one subject (``finding.fingerprint_of``),
so two runs compare by fingerprint, never by position or text. Only findings that need a person count (warn and
critical): a finding that drops to info is resolved for the reader; one that rises from info to warn is worse.

"Worse" means a higher severity, or the same severity with the observed value further past its threshold than last
time (further above an upper limit, further below a lower one) by more than ``WORSE_MARGIN`` of the distance it was
past before: a stale source's hours since its last sync grow by minutes between two runs, and a reader needs the
finding that got materially worse, not every one that drifted. Moves smaller than that count as still open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .finding import Severity

__all__ = ["FindingState", "RunChanges", "compare_runs", "WORSE_MARGIN", "TOLERANCE"]

WORSE_MARGIN = 0.05  # further past the threshold by more than 5 % of the earlier distance: worse
TOLERANCE = 1e-6  # relative to max(|threshold|, 1): below this, two observed values are the same value


@dataclass(frozen=True)
class FindingState:
    """One finding as far as a comparison needs it: which check on which subject, how bad, how far past its line."""

    fingerprint: str
    severity: str
    observed: float | None = None
    threshold: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)  # whatever the caller wants carried along (labels, ids)

    @property
    def needs_person(self) -> bool:
        return Severity(self.severity).at_least("warn")

    @property
    def rank(self) -> int:
        return Severity(self.severity).rank


@dataclass(frozen=True)
class RunChanges:
    """This run against the previous one. Each list holds (now, before) pairs; ``before`` is None for a new finding,
    ``now`` is None for a finding that is gone altogether."""

    previous_run_id: str | None
    new: list[tuple[FindingState, None]]
    worse: list[tuple[FindingState, FindingState]]
    resolved: list[tuple[FindingState | None, FindingState]]
    still_open: int  # needs a person now and did before, no worse

    @property
    def any(self) -> bool:
        return bool(self.new or self.worse or self.resolved)


def compare_runs(now: Iterable[FindingState], before: Iterable[FindingState] | None,
                 previous_run_id: str | None = None) -> RunChanges:
    """Compare this run's findings with the previous run's (``before`` None: there is no previous run, so nothing is
    reported as new: a first run has no "since")."""
    current = {f.fingerprint: f for f in now}
    if before is None:
        return RunChanges(None, [], [], [], sum(f.needs_person for f in current.values()))
    earlier = {f.fingerprint: f for f in before}
    new, worse, resolved, still = [], [], [], 0
    for key, f in current.items():
        if not f.needs_person:
            continue
        old = earlier.get(key)
        if old is None:
            new.append((f, None))
        elif _worse(f, old):
            worse.append((f, old))
        else:
            still += 1
    for key, old in earlier.items():
        f = current.get(key)
        if old.needs_person and (f is None or not f.needs_person):
            resolved.append((f, old))
    order = lambda pair: (-pair[0].rank, pair[0].fingerprint)  # noqa: E731
    return RunChanges(previous_run_id, sorted(new, key=order), sorted(worse, key=order),
                      sorted(resolved, key=lambda pair: (-pair[1].rank, pair[1].fingerprint)), still)


def _worse(now: FindingState, before: FindingState) -> bool:
    if now.rank != before.rank:
        return now.rank > before.rank
    before_past = _past(before)
    return _past(now) > before_past * (1 + WORSE_MARGIN) + TOLERANCE * max(abs(now.threshold or 0.0), 1.0)


def _past(f: FindingState) -> float:
    """How far the observed value is from its threshold (0 when either is unknown). A finding sits on one side of
    its line, the side that made it a finding, so the distance is how far past the line it is."""
    if f.observed is None or f.threshold is None:
        return 0.0
    return abs(f.observed - f.threshold)
