"""Campaigns by one id form: ``platform:id``, the platform's own campaign id behind the platform's name.

A finding names the campaign it judged and a pause names the campaign it stopped; both are written with
``campaign_key`` so a person (and the report, Slack, ``steward campaigns list``) can relate them, and both carry the
campaign's name from the campaign directory (``int_campaigns__directory``, read by
``integrations.warehouse.reads.campaign_refs``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .finding import Finding

__all__ = ["CampaignRef", "campaign_key", "parse_campaign_key", "finding_campaigns", "name_findings", "ref_of"]


def campaign_key(platform: str, campaign_id: str) -> str:
    """The one id form of a campaign, e.g. ``salesforce:701000000000000003``: the platform, then its own id."""
    return f"{platform}:{campaign_id}"


def parse_campaign_key(key: str) -> tuple[str, str]:
    """(platform, campaign_id) of a ``campaign_key``; the id may itself hold colons, the platform never does."""
    platform, sep, campaign_id = key.partition(":")
    if not sep or not platform or not campaign_id:
        raise ValueError(f"'{key}' is not a campaign key (platform:campaign_id)")
    return platform, campaign_id


@dataclass(frozen=True)
class CampaignRef:
    """A campaign as people and Steward both name it."""

    platform: str
    campaign_id: str
    name: str | None = None

    @property
    def key(self) -> str:
        """The one id form (``platform:id``), the same in findings, pauses, the audit log and Slack."""
        return campaign_key(self.platform, self.campaign_id)

    @property
    def label(self) -> str:
        """``Spring sale (salesforce 701000000000000003)``, or the key when no name is known."""
        if not self.name:
            return self.key
        return f"{self.name} ({self.platform} {self.campaign_id})"

    @property
    def mention(self) -> str:
        """``'Spring sale' (salesforce:701000000000000003)``: the name and the key, for sentences and logs that a
        person reads and a search for the key finds; the key alone when no name is known."""
        return f"'{self.name}' ({self.key})" if self.name else self.key


def finding_campaigns(evidence: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(the judged campaign's key, the key of the campaign an action would pause) a finding's evidence names."""
    return evidence.get("campaign"), evidence.get("pause_campaign")


def name_findings(findings: Iterable[Finding], refs: Mapping[str, CampaignRef]) -> list[Finding]:
    """The findings with their campaigns' names from the directory (``campaign_name``, ``pause_campaign_name``),
    so the report, Slack and the pause line can say which campaign in words. A key the directory does not know
    keeps the name the mart gave (or none)."""
    named = []
    for f in findings:
        subject, pause = finding_campaigns(f.evidence)
        extra: dict[str, Any] = {}
        if subject and subject in refs and refs[subject].name:
            extra["campaign_name"] = refs[subject].name
        if pause and pause in refs and refs[pause].name:
            extra["pause_campaign_name"] = refs[pause].name
        named.append(f.model_copy(update={"evidence": {**f.evidence, **extra}}) if extra else f)
    return named


def ref_of(key: str | None, name: str | None = None,
           refs: Mapping[str, CampaignRef] | None = None) -> CampaignRef | None:
    """The CampaignRef of a key, named from ``refs`` when it knows the campaign, else with ``name``."""
    if not isinstance(key, str) or not key:
        return None
    if refs and key in refs:
        return refs[key]
    try:
        platform, campaign_id = parse_campaign_key(key)
    except ValueError:  # evidence written by hand or by an older Steward: show nothing rather than fail
        return None
    return CampaignRef(platform, campaign_id, name if isinstance(name, str) and name.strip() else None)
