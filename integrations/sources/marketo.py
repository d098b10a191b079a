"""Marketo REST: leads, email activities and smart campaigns, pulled incrementally; pause = deactivate a trigger
smart campaign.

Wire protocol (what the emulator enforces too):

- Identity: ``POST /identity/oauth/token`` with ``grant_type=client_credentials``, ``client_id`` and
  ``client_secret`` as a form body (Marketo also accepts them in the query string of a GET, but a query string ends
  up in proxy and httpx logs, and secrets never go to logs). The token lives ``expires_in`` seconds (3599).
- Every REST answer is HTTP 200; the verdict is ``success`` and ``errors[0].code`` in the body (``marketo_classify``).
- Activities are paged by opaque tokens: ``GET /rest/v1/activities/pagingtoken.json?sinceDatetime=`` gives the first,
  each page names the next while ``moreResult`` is true. Pages come in ``activityDate`` order, which is the cursor.
- Leads: Marketo's lead list has no "updated since" filter (only the asynchronous bulk export has one). The
  incremental path chosen here is the one Marketo documents for synchronising leads: the lead-changes activity
  stream (``GET /rest/v1/activities/leadchanges.json``, New Lead and Change Data Value activities) names the leads
  that changed since a paging token, and ``GET /rest/v1/leads.json?filterType=id&filterValues=`` (up to 300 ids a
  call) fetches their current values. A leads batch's watermark is therefore the latest lead-change
  ``activityDate`` it covered, not the greatest ``updatedAt`` of its rows: a lead fetched early may already carry a
  later ``updatedAt``, and using that would skip the leads changed in between if a crash followed. Deleted leads come
  from ``GET /rest/v1/activities/deletedleads.json`` and become tombstones.
- Smart campaigns sit in the asset API (``GET /rest/asset/v1/smartCampaigns.json?offset=&maxReturn=200`` with
  ``earliestUpdatedAt``), which pages by offset in id order and cannot sort by ``updatedAt``: the adapter reads the
  changed campaigns (hundreds, not millions) and sorts them itself before batching. Asset timestamps come as
  ``2026-11-25T06:00:00Z+0000``; they are landed as ``2026-11-25T06:00:00Z``.
- Pause/resume: ``POST /rest/asset/v1/smartCampaign/{id}/deactivate.json`` / ``activate.json`` after reading
  ``GET /rest/asset/v1/smartCampaign/{id}.json``; only trigger campaigns can be switched (709 otherwise).
- Health: ``GET /rest/v1/stats/usage.json`` against the 50,000-calls daily quota (Marketo sends no rate headers).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import httpx

from ..errors import ConfigError, SourceError
from ._protocol import Batch, ControlResult, Health, Stream
from ._records import DEFAULT_BATCH_ROWS, batched, to_batch
from .http import HttpLayer, OAuthToken, RetryPolicy, Verdict, default_classify, resolve_env
from .paginate import OffsetPaginator, PageTokenPaginator

__all__ = ["MarketoAdapter", "MARKETO_STREAMS", "marketo_classify", "EMAIL_ACTIVITY_TYPE_IDS", "LEAD_FIELDS"]

MARKETO_STREAMS = [
    Stream("marketo", "leads", "/rest/v1/leads.json", "json", "id", "updatedAt"),
    Stream("marketo", "activities", "/rest/v1/activities.json", "json", "id", "activityDate"),
    Stream("marketo", "smart_campaigns", "/rest/asset/v1/smartCampaigns.json", "json", "id", "updatedAt"),
]
EMAIL_ACTIVITY_TYPE_IDS = (6, 7, 8, 9, 10, 11)  # Send, Delivered, Bounced, Unsubscribe, Open, Click Email
LEAD_FIELDS = ("email", "firstName", "lastName", "unsubscribed", "emailInvalid", "sfdcContactId", "sfdcLeadId",
               "createdAt", "updatedAt")
COLUMNS = {
    "leads": ("id", *LEAD_FIELDS),
    "activities": ("id", "marketoGUID", "leadId", "activityDate", "activityTypeId", "primaryAttributeValueId",
                   "primaryAttributeValue", "campaignId", "attributes"),
    "smart_campaigns": ("id", "name", "description", "createdAt", "updatedAt", "status", "type", "isSystem",
                        "isActive", "isRequestable", "isCommunicationLimitEnabled", "qualificationRuleType",
                        "workspace", "smartListId", "flowId", "computedUrl"),
}
PAGE_SIZE, IDS_PER_CALL, ASSETS_PER_CALL = 300, 300, 200
DEFAULT_START = "2000-01-01T00:00:00Z"  # a first pull with no watermark starts here (Marketo keeps what it keeps)

AUTH_CODES = {"600", "601", "602"}  # token missing, invalid, expired: fetch a new one once
RETRY_CODES = {"604", "606", "608", "611", "615", "713"}  # timeouts, rate window, unavailable, concurrency, transient
RATE_WINDOW_S = 20.0  # 606: at most 100 calls per 20 s; waiting out the window is Marketo's own advice
ADVICE = {
    "607": "the daily API quota is used up; it resets at midnight US Central time (CST), so pull again after that "
           "or ask Marketo support for a higher quota",
    "709": "only trigger smart campaigns can be activated or deactivated through the API; stop a batch campaign's "
           "schedule in Marketo instead",
    "1006": "a requested lead field does not exist in this Marketo instance; check the field's REST API name",
}


def marketo_classify(response: httpx.Response) -> Verdict:
    """HTTP first (gateway 5xx, malformed bodies, the identity endpoint's 401), then the body's error code."""
    verdict = default_classify(response)
    body = verdict.payload
    if verdict.kind != "ok" or not isinstance(body, dict) or body.get("success", True) is not False:
        return verdict
    error = (body.get("errors") or [{}])[0]
    code, message = str(error.get("code", "?")), error.get("message", "no message")
    reason = f"Marketo error {code} '{message}'"
    if code in AUTH_CODES:
        return Verdict("auth", reason)
    if code in RETRY_CODES:
        return Verdict("retry", reason, RATE_WINDOW_S if code == "606" else None)
    return Verdict("fail", f"{reason}: {ADVICE[code]}" if code in ADVICE else reason)


class MarketoAdapter:
    """One Marketo instance. ``credentials`` names the variables holding ``client_id`` and ``client_secret``."""

    platform = "marketo"
    incremental = True

    def __init__(self, name: str, *, base_url: str | None, credentials: dict[str, str],
                 entities: list[str] | None = None, options: dict[str, Any] | None = None,
                 policy: RetryPolicy = RetryPolicy(), batch_rows: int = DEFAULT_BATCH_ROWS,
                 client: httpx.Client | None = None) -> None:
        if not base_url:
            raise ConfigError(f"integration '{name}': base_url is required (the instance's REST endpoint, "
                              f"e.g. https://123-ABC-456.mktorest.com)")
        missing = {"client_id", "client_secret"} - set(credentials)
        if missing:
            raise ConfigError(f"integration '{name}': credentials must name the environment variables for "
                              f"client_id and client_secret (missing: {', '.join(sorted(missing))})")
        known = {s.entity for s in MARKETO_STREAMS}
        unknown = sorted(set(entities or ()) - known)
        if unknown:
            raise ConfigError(f"integration '{name}': unknown Marketo entity '{unknown[0]}' "
                              f"(known: {', '.join(sorted(known))})")
        resolve_env(name, credentials)  # fail at configuration time, not mid-pull
        self.name, self.batch_rows, self.options = name, batch_rows, dict(options or {})
        self._credentials, self._entities = dict(credentials), entities
        self.http = HttpLayer(name, base_url, OAuthToken(self._fetch_token), classify=marketo_classify,
                              policy=policy, client=client)

    def streams(self) -> list[Stream]:
        return [s for s in MARKETO_STREAMS if self._entities is None or s.entity in self._entities]

    def close(self) -> None:
        self.http.close()

    # -- pulling -----------------------------------------------------------------------------------------------------
    def pull(self, entity: str, since: datetime | str | None = None) -> Iterator[Batch]:
        stream = next((s for s in self.streams() if s.entity == entity), None)
        if stream is None:
            raise ConfigError(f"integration '{self.name}': entity '{entity}' is not configured")
        start = _iso(since) or self.options.get("start_date", DEFAULT_START)
        yield from getattr(self, f"_pull_{entity}")(stream, start)

    def _pull_activities(self, stream: Stream, start: str) -> Iterator[Batch]:
        types = ",".join(map(str, self.options.get("activity_type_ids", EMAIL_ACTIVITY_TYPE_IDS)))
        pages = self._activity_pages("/rest/v1/activities.json", start, {"activityTypeIds": types}, "activities")
        for records, mark in batched(pages, "activityDate", self.batch_rows):
            yield self._batch(stream, [_activity_row(r) for r in records], mark, "/rest/v1/activities.json")

    def _pull_leads(self, stream: Stream, start: str) -> Iterator[Batch]:
        """Deletions first (no watermark: tombstones are idempotent), then changed leads, each batch bounded."""
        deletions = self._activity_pages("/rest/v1/activities/deletedleads.json", start, {}, "leads")
        for records, _ in batched(deletions, "activityDate", self.batch_rows):
            yield self._batch(stream, [], None, "/rest/v1/activities/deletedleads.json",
                              deleted=[r["leadId"] for r in records])
        changes = self._activity_pages("/rest/v1/activities/leadchanges.json", start,
                                       {"fields": ",".join(LEAD_FIELDS)}, "leads")
        for records, mark in batched(changes, "activityDate", self.batch_rows):
            ids = list(dict.fromkeys(r["leadId"] for r in records))
            leads = [lead for i in range(0, len(ids), IDS_PER_CALL) for lead in self._leads(ids[i:i + IDS_PER_CALL])]
            yield self._batch(stream, leads, mark, "/rest/v1/leads.json")

    def _pull_smart_campaigns(self, stream: Stream, start: str) -> Iterator[Batch]:
        records = sorted(self._assets(start), key=lambda r: (str(r.get("updatedAt")), str(r.get("id"))))
        pages = (records[i:i + self.batch_rows] for i in range(0, len(records), self.batch_rows))
        for chunk, mark in batched(pages, "updatedAt", self.batch_rows):
            yield self._batch(stream, chunk, mark, "/rest/asset/v1/smartCampaigns.json")

    def _activity_pages(self, path: str, start: str, params: dict[str, str], entity: str
                        ) -> Iterator[list[dict[str, Any]]]:
        """Pages after a paging token for ``start``; a token that comes back twice is a loop, not more data."""
        token = self.http.call("GET", "/rest/v1/activities/pagingtoken.json",
                               params={"sinceDatetime": start})["nextPageToken"]
        pager = PageTokenPaginator(self.name, self.platform, entity, more_key="moreResult", start=token)
        for body in pager.pages(lambda token: self.http.call(
                "GET", path, params={**params, "nextPageToken": token, "batchSize": PAGE_SIZE})):
            yield body.get("result") or []

    def _leads(self, ids: list[Any]) -> list[dict[str, Any]]:
        body = self.http.call("GET", "/rest/v1/leads.json", params={
            "filterType": "id", "filterValues": ",".join(map(str, ids)), "fields": ",".join(("id", *LEAD_FIELDS)),
            "batchSize": IDS_PER_CALL})
        return body.get("result") or []

    def _assets(self, start: str) -> Iterator[dict[str, Any]]:
        pager = OffsetPaginator(self.name, self.platform, "smart_campaigns", page_size=ASSETS_PER_CALL)
        for body in pager.pages(lambda offset: self.http.call("GET", "/rest/asset/v1/smartCampaigns.json", params={
                "offset": offset, "maxReturn": ASSETS_PER_CALL, "earliestUpdatedAt": start})):
            yield from (_asset_row(r) for r in body.get("result") or [])

    def _batch(self, stream: Stream, records: list[dict[str, Any]], mark: str | None, path: str,
               deleted: Iterable[Any] = ()) -> Batch:
        batch = to_batch(self.name, stream, records, f"{self.http.client.base_url}{path}", mark, deleted)
        if batch.frame.empty and not len(batch.frame.columns):
            batch.frame = batch.frame.reindex(columns=list(COLUMNS[stream.entity]))  # a tombstone-only batch
        return batch

    # -- health and control ------------------------------------------------------------------------------------------
    def probe(self) -> Health:
        now = datetime.now(timezone.utc)
        try:
            body = self.http.call("GET", "/rest/v1/stats/usage.json")
        except (SourceError, ConfigError) as exc:
            return Health(self.name, "down", str(exc), now)
        quota = int(self.options.get("daily_quota", 50_000))
        used = sum(int(day.get("total", 0)) for day in body.get("result") or [])
        left = quota - used
        latency = (self.http.stats.last_latency_s or 0.0) * 1000
        state = "healthy" if left > 0 else "down"  # how low is too low is the policy's ``min_headroom``
        return Health(self.name, state, f"token valid; {used} of {quota} daily API calls used, {left} left (the quota "
                                        f"resets at midnight CST); latency {latency:.0f} ms", now,
                      latency, max(0.0, left / quota) if quota else None)

    def pause(self, campaign_id: str, reason: str) -> ControlResult:
        return self._switch(campaign_id, "pause", reason)

    def resume(self, campaign_id: str, reason: str) -> ControlResult:
        return self._switch(campaign_id, "resume", reason)

    def campaign_state(self, campaign_id: str) -> str:
        """``paused`` (Inactive) or ``active`` (Active), else Marketo's own status in lower case."""
        if not re.fullmatch(r"\d+", str(campaign_id)):
            raise SourceError(f"integration '{self.name}': smart campaign id '{campaign_id}' is not a Marketo id")
        found = (self.http.call("GET", f"/rest/asset/v1/smartCampaign/{campaign_id}.json") or {}).get("result") or []
        if not found:
            raise SourceError(f"integration '{self.name}': smart campaign {campaign_id} not found")
        status = str(found[0].get("status"))
        return {"Inactive": "paused", "Active": "active"}.get(status, status.lower())

    def _switch(self, campaign_id: str, action: str, reason: str) -> ControlResult:
        """Read the campaign first so a repeated pause changes nothing and says so."""
        if not re.fullmatch(r"\d+", str(campaign_id)):
            raise SourceError(f"integration '{self.name}': smart campaign id '{campaign_id}' is not a Marketo id "
                              f"(a number, as in the campaign's URL #SC1234A1)")
        want, verb = ("Inactive", "deactivate") if action == "pause" else ("Active", "activate")
        found = self.http.call("GET", f"/rest/asset/v1/smartCampaign/{campaign_id}.json").get("result") or []
        if not found:
            raise SourceError(f"integration '{self.name}': smart campaign {campaign_id} not found; check the id "
                              f"in the policy or the campaign mapping")
        current = found[0]
        if current.get("type") == "trigger" and current.get("status") == want:
            return ControlResult(self.name, str(campaign_id), action, False,  # type: ignore[arg-type]
                                 f"smart campaign {campaign_id} '{current.get('name')}' was already {want}")
        self.http.call("POST", f"/rest/asset/v1/smartCampaign/{campaign_id}/{verb}.json")
        return ControlResult(self.name, str(campaign_id), action, True,  # type: ignore[arg-type]
                             f"smart campaign {campaign_id} '{current.get('name')}' {verb}d ({reason})")

    # -- identity ------------------------------------------------------------------------------------------------------
    def _fetch_token(self, http: httpx.Client) -> tuple[str, float | None]:
        """Credentials are re-read on every fetch, so a rotated secret is picked up by the next refresh."""
        creds = resolve_env(self.name, self._credentials)
        body = self.http.call("POST", "/identity/oauth/token", authenticated=False, data={
            "grant_type": "client_credentials", "client_id": creds["client_id"],
            "client_secret": creds["client_secret"]})
        if not isinstance(body, dict) or not body.get("access_token"):
            raise SourceError(f"integration '{self.name}': the identity endpoint answered without an access_token; "
                              f"check base_url points at the instance's REST endpoint")
        expires = body.get("expires_in")
        return body["access_token"], float(expires) if expires is not None else None


def _iso(since: datetime | str | None) -> str | None:
    """The watermark as Marketo's fixed-width UTC form, so it also compares correctly as a string."""
    if since is None or since == "":
        return None
    if isinstance(since, datetime):
        moment = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(since)


def _activity_row(record: dict[str, Any]) -> dict[str, Any]:
    """The activity as landed: its ``attributes`` list kept whole as JSON text, every other field as served."""
    row = dict(record)
    if "attributes" in row:
        row["attributes"] = json.dumps(row["attributes"], separators=(",", ":"), default=str)
    return row


def _asset_row(record: dict[str, Any]) -> dict[str, Any]:
    return {k: re.sub(r"Z\+0000$", "Z", v) if isinstance(v, str) and k.endswith("At") else v
            for k, v in record.items()}
