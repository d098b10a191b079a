"""Which Slack channel hears about a finding, and who is mentioned: pure policy, no Slack here.

Privacy findings belong in front of the privacy office and model findings in front of ML governance, not in one
busy channel everybody mutes. ``policy.alerts.routes`` is read top to bottom and the first route whose every given
field matches wins, so a specific route placed above a general one overrides it; a finding no route matches goes to
``policy.alerts.channel``. An owner's mention is added only to critical findings, so that a ping keeps meaning
"look now".

Example:
    >>> route(finding, policy)  # doctest: +SKIP
    Route(channel='#privacy-office', mention=None)
"""

from __future__ import annotations

from typing import NamedTuple

from .finding import Finding, Severity
from .policy import Policy
from .policy import Route as RouteRule

__all__ = ["Route", "route", "matches"]


class Route(NamedTuple):
    """Where one finding's alert goes: a channel, and a mention for critical findings whose owner has one."""

    channel: str
    mention: str | None = None


def route(finding: Finding, policy: Policy) -> Route:
    """The first matching ``alerts.routes`` entry's channel, else ``alerts.channel``; mention only when critical."""
    rule = next((r for r in policy.alerts.routes if matches(r, finding)), None)
    channel = rule.channel if rule is not None else policy.alerts.channel
    mention = policy.alerts.mentions.get(finding.owner) if finding.severity is Severity.critical else None
    return Route(channel, mention)


def matches(rule: RouteRule, finding: Finding) -> bool:
    """True when every field the rule names fits the finding (a rule naming nothing matches everything)."""
    if rule.family is not None and rule.family != finding.family:
        return False
    if rule.min_severity is not None and not finding.severity.at_least(rule.min_severity):
        return False
    if rule.owner is not None and rule.owner != finding.owner:
        return False
    return rule.check_id is None or _check_matches(rule.check_id, finding.check_id)


def _check_matches(pattern: str, check_id: str) -> bool:
    """An exact id, or a prefix ending in "." that stands for a whole domain (``consent.``)."""
    return check_id.startswith(pattern) if pattern.endswith(".") else check_id == pattern
