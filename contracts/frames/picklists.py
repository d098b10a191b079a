"""Salesforce picklist values the contracts accept, as data: picklists are configured per org, so they live here.

Salesforce ships default values for each standard picklist and every org edits them (this workspace's sales team
uses "Proposal" and "Negotiation" where a new org has "Proposal/Price Quote" and "Negotiation/Review"). Each list
below is the org's values plus Salesforce's defaults, so a sandbox that still has the defaults lands too. A team
with other values edits this file; the contracts, their SQL and ``docs/contracts.md`` follow (bump the contract's
version in ``registry.py``).

Not listed: ``CampaignMember.Status`` (member statuses are defined per campaign, ``CampaignMemberStatus``, so no
org-wide list exists) and ``Campaign.Type``, ``Lead.LeadSource``, ``Account.Industry`` (descriptive picklists orgs
rewrite freely; a value outside a list there says nothing about the data's quality).
"""

from __future__ import annotations

__all__ = ["SALESFORCE_PICKLISTS"]

SALESFORCE_PICKLISTS: dict[str, list[str]] = {
    "Lead.Status": ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"],
    "Opportunity.StageName": [
        # this org
        "Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost",
        # Salesforce's defaults not used above
        "Needs Analysis", "Value Proposition", "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
        "Negotiation/Review"],
    "Campaign.Status": ["Planned", "In Progress", "Completed", "Aborted"],
}
