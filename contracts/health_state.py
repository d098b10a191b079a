"""The health state machine: verdicts in, state out, with hysteresis so a flapping API does not spam anyone.

Pure functions over a small ``Track`` that each history row carries forward (the state, the rule that moved it
there, and how many verdicts in a row pointed which way)::

    unknown ──first healthy probe──▶ healthy ──degraded_after bad──▶ degraded ──down_after down──▶ down
                                        ▲                                 │ ▲                        │
                                        └──────── recover_after good ─────┘ └── recover_after degraded┘
    (any state ──down_after down verdicts──▶ down; recover_after good verdicts from degraded or down ──▶ healthy;
     degraded_after verdicts that cannot be measured ──▶ unknown)

``announce`` decides what marketing ops hears: a message whenever the state differs from the last state they were
told about, except inside a maintenance window (the state is still recorded; the difference, if it lasts, is
announced when the window ends). The first healthy probe of a new integration is not news.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .health_rules import Verdict
from .policy import HealthRules

__all__ = ["Track", "advance", "announce", "needs_confirmation"]


@dataclass(frozen=True)
class Track:
    state: str = "unknown"
    rule: str = "not probed yet"
    reason: str = ""
    down_streak: int = 0
    bad_streak: int = 0  # verdicts of degraded or down in a row
    degraded_streak: int = 0  # verdicts of exactly degraded in a row
    good_streak: int = 0
    unknown_streak: int = 0
    announced: str | None = None  # the state last announced (None: nothing announced yet)
    episode_alert_id: str | None = None  # the post that opened the current trouble, for threading replies


def advance(track: Track, v: Verdict, rules: HealthRules) -> Track:
    """The track after one more verdict; ``state`` changes only when a streak crosses its threshold."""
    streaks = dict(
        down_streak=track.down_streak + 1 if v.state == "down" else 0,
        bad_streak=track.bad_streak + 1 if v.state in ("down", "degraded") else 0,
        degraded_streak=track.degraded_streak + 1 if v.state == "degraded" else 0,
        good_streak=track.good_streak + 1 if v.state == "healthy" else 0,
        unknown_streak=track.unknown_streak + 1 if v.state == "unknown" else 0)
    new = _next_state(track.state, v.state, streaks, rules)
    if new == track.state:
        return replace(track, **streaks)
    return replace(track, state=new, rule=v.rule, reason=v.reason, **streaks)


def _next_state(state: str, verdict: str, s: dict[str, int], rules: HealthRules) -> str:
    if verdict == "down" and state != "down" and s["down_streak"] >= rules.down_after:
        return "down"
    if verdict in ("down", "degraded") and state in ("healthy", "unknown") and s["bad_streak"] >= rules.degraded_after:
        return "degraded"
    if verdict == "degraded" and state == "down" and s["degraded_streak"] >= rules.recover_after:
        return "degraded"
    if verdict == "healthy" and (state == "unknown" or s["good_streak"] >= rules.recover_after):
        return "healthy"
    if verdict == "unknown" and state != "unknown" and s["unknown_streak"] >= rules.degraded_after:
        return "unknown"
    return state


def announce(track: Track, silenced: bool) -> str | None:
    """What to tell people now: ``down``, ``degraded``, ``unknown``, ``recovered`` or nothing."""
    if silenced or track.state == track.announced:
        return None
    if track.state == "healthy":
        return None if track.announced in (None, "unknown") else "recovered"
    if track.state == "unknown" and track.announced is None:
        return None
    return track.state


def needs_confirmation(track: Track, v: Verdict, rules: HealthRules) -> bool:
    """True when this bad verdict has not moved the state yet but enough more in a row would: worth re-probing
    soon instead of waiting a whole interval."""
    if v.state == "down" and track.state != "down":
        return track.down_streak < rules.down_after
    if v.state == "degraded" and track.state in ("healthy", "unknown"):
        return track.bad_streak < rules.degraded_after
    if v.state == "unknown" and track.state != "unknown":
        return track.unknown_streak < rules.degraded_after
    return False
