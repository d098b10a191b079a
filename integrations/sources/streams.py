"""The export streams each platform offers, as data.

Paths are relative to an integration's export folder; the demo generator writes exactly these files, and a team
pointing Steward at its own exports lays them out the same way (or overrides ``entities`` in the config).
"""

from __future__ import annotations

from ._protocol import Stream

__all__ = ["EXPORT_STREAMS", "PLATFORMS", "streams_for"]

EXPORT_STREAMS: list[Stream] = [
    Stream("salesforce", "accounts", "accounts.csv", "csv", "Id", "SystemModstamp"),
    Stream("salesforce", "contacts", "contacts.csv", "csv", "Id", "SystemModstamp"),
    Stream("salesforce", "leads", "leads.csv", "csv", "Id", "SystemModstamp"),
    Stream("salesforce", "opportunities", "opportunities.csv", "csv", "Id", "SystemModstamp"),
    Stream("salesforce", "campaigns", "campaigns.csv", "csv", "Id", "SystemModstamp"),
    Stream("salesforce", "campaign_members", "campaign_members.csv", "csv", "Id", "SystemModstamp"),
    Stream("hubspot", "contacts", "contacts.jsonl", "json", "id", "updatedAt", flatten="properties"),
    Stream("hubspot", "marketing_emails", "marketing_emails.jsonl", "json", "id", "updatedAt"),
    Stream("hubspot", "email_events", "email_events.jsonl", "json", "id", "created"),
    Stream("hubspot", "subscriptions", "subscriptions.jsonl", "json", "recipient,subscriptionId", "timestamp"),
    Stream("google_ads", "campaign_stats", "campaign_stats.csv", "csv", "campaign.id,segments.date", "segments.date"),
    Stream("cdp", "profiles", "profiles.parquet", "parquet", "profile_id", "updated_at"),
    Stream("decisions", "ai_decisions", "ai_decisions.parquet", "parquet", "decision_id", "decided_at"),
]

PLATFORMS: frozenset[str] = frozenset(s.platform for s in EXPORT_STREAMS)


def streams_for(platform: str) -> list[Stream]:
    return [s for s in EXPORT_STREAMS if s.platform == platform]
