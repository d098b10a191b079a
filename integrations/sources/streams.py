"""The export streams each platform offers, as data.

Streams added after teams started exporting (Customer Match uploads, erasure requests) are optional: without the
file the entity stays empty and its checks judge nothing, rather than stopping the run.

Paths are relative to an integration's export folder; the demo generator writes exactly these files, and a team
pointing Steward at its own exports lays them out the same way (or overrides ``entities`` in the config).
"""

from __future__ import annotations

from ...contracts.batch import Stream
from ...contracts.frames.custom import CUSTOM_FRAMES

__all__ = ["EXPORT_STREAMS", "PLATFORMS", "FILES_ONLY", "streams_for"]

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
    Stream("google_ads", "audience_uploads", "audience_uploads.csv", "csv",
           "offline_user_data_job.id,user_identifiers.hashed_email", "upload_time", required=False),
    Stream("cdp", "profiles", "profiles.parquet", "parquet", "profile_id", "updated_at"),
    Stream("cdp", "erasure_requests", "erasure_requests.parquet", "parquet", "request_id", "updated_at",
           required=False),
    Stream("decisions", "ai_decisions", "ai_decisions.parquet", "parquet", "decision_id", "decided_at"),
] + [
    # Steward's canonical entities (contracts/frames/custom.py) for a platform it has no adapter for: a custom system
    # brings the entities it has, so each is optional; the integration's mapping names each entity's file or table
    Stream("custom", entity, f"{entity}.csv", "csv", key, cursor, required=False)
    for entity, (_model, key, cursor, _dates) in CUSTOM_FRAMES.items()
]

# Entities no platform API gives back, read from export files even when the platform is pulled through its API:
# Customer Match identifiers are write-only in the Google Ads API, so what was uploaded comes from the team's own
# upload logs. A config gives them their own integration, ``<platform>-files``.
FILES_ONLY: dict[str, list[str]] = {"google_ads": ["audience_uploads"]}

# Marketo is reached only through its API (it has no export-file layout in the demo workspace).
PLATFORMS: frozenset[str] = frozenset(s.platform for s in EXPORT_STREAMS) | {"marketo"}


def streams_for(platform: str) -> list[Stream]:
    return [s for s in EXPORT_STREAMS if s.platform == platform]
