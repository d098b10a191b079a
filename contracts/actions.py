"""What policy decides to do about each finding, before anything touches a platform.

Deciding is separate from doing so that a dry run, the kill switch and the audit log all see the same decision:
the flow executes ``PlannedAction``s through the adapters and records each one with the reason given here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .campaigns import finding_campaigns, ref_of
from .finding import Finding
from .policy import Policy

__all__ = ["PlannedAction", "plan_actions", "alertable"]


@dataclass(frozen=True)
class PlannedAction:
    finding: Finding
    action: str  # alert | pause | request_approval
    platform: str | None
    campaign_id: str | None
    reason: str
    execute: bool  # False when policy holds it back (dry run, kill switch, nothing to pause)

    @property
    def target(self) -> str | None:
        return f"{self.platform}:{self.campaign_id}" if self.platform and self.campaign_id else None


def plan_actions(findings: list[Finding], policy: Policy) -> list[PlannedAction]:
    """Pauses (and approval requests) for findings whose rule asks for one; alerting is planned by the notifier."""
    planned = []
    for f in findings:
        if f.action not in ("pause", "request_approval"):
            continue
        platform = (f.target or {}).get("platform")
        campaign = (f.target or {}).get("campaign_id")
        why = f"{f.check_id} is {f.severity.value} on {_subject(f)} (observed {f.observed:.4g} " \
              f"vs threshold {f.threshold}); policy action for {f.severity.value}: {f.action}{_pausing(f)}"
        if not platform or not campaign:
            planned.append(PlannedAction(f, f.action, None, None, why + "; no pausable target", False))
        elif policy.actions.kill_switch:
            planned.append(PlannedAction(f, f.action, platform, campaign, why + "; held by the kill switch", False))
        elif policy.actions.dry_run:
            planned.append(PlannedAction(f, f.action, platform, campaign, why + "; dry run", False))
        else:
            planned.append(PlannedAction(f, f.action, platform, campaign, why, True))
    return planned


def _subject(f: Finding) -> str:
    """The subject in words; a campaign by name and its one id form (``'Spring sale' (salesforce:701...)``)."""
    ref = ref_of(f.evidence.get("campaign"), f.evidence.get("campaign_name"))
    return f"campaign {ref.mention}" if ref else f"{f.subject_type} {f.subject}"


def _pausing(f: Finding) -> str:
    """What the action would pause, when that is another campaign than the subject (an email of a CRM campaign)."""
    subject, pause = finding_campaigns(f.evidence)
    ref = ref_of(pause, f.evidence.get("pause_campaign_name"))
    return f" of {ref.mention}" if ref and pause != subject else ""


def alertable(findings: list[Finding], policy: Policy) -> list[Finding]:
    """Findings at or above the policy's alert severity, worst first."""
    keep = [f for f in findings if f.severity.at_least(policy.alerts.min_severity) and f.action != "none"]
    return sorted(keep, key=lambda f: (-f.severity.rank, f.family, f.subject))




