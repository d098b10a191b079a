"""HubSpot over its public APIs: CRM v3 contacts, Marketing Emails v3, the Email Events API, Communication
Preferences v4, and Automation v4 flows for pause and resume.

Each entity is read in its cursor's order and mapped back to the columns of HubSpot's export files (``properties``
flattened, API-only fields dropped, v4 subscription words turned into the export's), so contracts, raw tables and dbt
models do not care whether a workspace is fed by files or by the API. Two HubSpot limits shape the code:

- the search API stops at 10,000 results per query (400 beyond), so a contacts pull restarts its search from the
  last ``hs_lastmodifieddate`` it saw, skipping the ids it already yielded at that instant;
- Communication Preferences has no "changed since" query: statuses are read per recipient (100 a call) for every
  contact, and only the last batch of a sweep carries the watermark, so a crash mid-sweep re-reads everything.

Example config::

    - name: hubspot
      platform: hubspot
      kind: api
      base_url: https://api.hubapi.com
      credentials: {token: HUBSPOT_PRIVATE_APP_TOKEN}
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

import httpx
import pandas as pd

from ...contracts.registry import contract_for
from ...contracts.errors import ConfigError, SourceError
from ...contracts.batch import Batch, Stream
from ._protocol import ControlResult, Health
from ._records import DEFAULT_BATCH_ROWS, batched, to_batch
from .http import EnvToken, HttpLayer, RetryPolicy, Verdict, default_classify
from .paginate import CursorPaginator, PageTokenPaginator
from .streams import streams_for

__all__ = ["HubspotAdapter", "classify"]

DEFAULT_BASE_URL = "https://api.hubapi.com"
CONTACTS, SEARCH = "/crm/v3/objects/contacts", "/crm/v3/objects/contacts/search"
EVENTS, EMAILS = "/email/public/v1/events", "/marketing/v3/emails"
STATUSES, FLOW = "/communication-preferences/v4/statuses/batch/read", "/automation/v4/flows/{}"
SEARCH_CAP = 10_000
MAX_PAGE = {"contacts": 200, "marketing_emails": 100, "email_events": 1000, "subscriptions": 100}

# How an API record becomes an export row: fields the export never had, fields it names differently, values it
# words differently, and fields an API leaves out when empty (the column must exist in every batch regardless).
DROP = {"contacts": {"hs_object_id", "hs_lastmodifieddate", "archivedAt", "propertiesWithHistory", "associations"},
        "marketing_emails": {"archived", "type", "isPublished", "createdAt", "publishDate", "campaign", "content"},
        "email_events": {"appId", "appName", "sentBy", "obsoletedBy", "causedBy", "smtpId"},
        "subscriptions": {"channel", "businessUnitId", "legalBasisExplanation", "setStatusSuccessReason",
                          "subscriptionName"}}
RENAME = {"subscriptions": {"subscriberIdString": "recipient", "source": "sourceOfStatus"}}
VALUES = {"subscriptions": {"status": {"NOT_SUBSCRIBED": "UNSUBSCRIBED"}}}
OPTIONAL = {"email_events": ("emailCampaignId",)}
TOP_LEVEL = {"id", "createdAt", "updatedAt", "archived"}


def classify(response: httpx.Response) -> Verdict:
    """HubSpot's 429 says which limit was hit: the daily one will not lift by waiting, the others within the
    window the ``X-HubSpot-RateLimit-Interval-Milliseconds`` header names (one second for SECONDLY)."""
    if response.status_code != 429:
        return default_classify(response)
    try:
        policy = str(response.json().get("policyName", ""))
    except ValueError:
        policy = ""
    if policy == "DAILY":
        return Verdict("fail", "HTTP 429: the daily API limit of this HubSpot account is used up; it resets at "
                               "midnight in the account's time zone")
    after = response.headers.get("retry-after")
    interval = response.headers.get("x-hubspot-ratelimit-interval-milliseconds")
    wait = float(after) if after else 1.0 if policy == "SECONDLY" or not interval else int(interval) / 1000
    return Verdict("retry", f"HTTP 429 {policy or 'rate limit'}", wait)


class HubspotAdapter:
    """One HubSpot account reached with a private-app token.

    Args:
        name: The integration's configured name.
        base_url: ``https://api.hubapi.com``, or the emulator's URL.
        credentials: ``{"token": ENV_VAR_NAME}``, the variable holding the private-app token (re-read on a 401).
        entities: Entities to pull (default: all four).
        options: ``page_size`` (capped at each endpoint's maximum), ``flow_ids`` (campaign id -> workflow id when
            they differ; by default the campaign id is the flow id), ``search_cap`` (HubSpot's: 10,000).
    """

    platform = "hubspot"
    incremental = True

    def __init__(self, name: str, *, base_url: str | None = None, credentials: dict[str, str],
                 entities: list[str] | None = None, options: dict[str, Any] | None = None,
                 policy: RetryPolicy = RetryPolicy(), batch_rows: int = DEFAULT_BATCH_ROWS,
                 client: httpx.Client | None = None) -> None:
        if "token" not in credentials:
            raise ConfigError(f"integration '{name}': credentials need 'token' (the name of the environment "
                              f"variable holding the HubSpot private-app token)")
        known = {s.entity: s for s in streams_for("hubspot")}
        unknown = sorted(set(entities or []) - set(known))
        if unknown:
            raise ConfigError(f"integration '{name}': unknown HubSpot entities {unknown}; known: {sorted(known)}")
        self.name, self.batch_rows, self.options = name, batch_rows, dict(options or {})
        self._streams = [known[e] for e in entities] if entities else list(known.values())
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.http = HttpLayer(name, self.base_url, EnvToken(name, credentials["token"]), classify=classify,
                              policy=policy, rate_limit_prefixes=("x-hubspot-ratelimit", "retry-after"),
                              client=client)
        self._pages: dict[str, Callable[[int | None], Iterator[list[dict[str, Any]]]]] = {
            "contacts": self._contacts, "marketing_emails": self._marketing_emails,
            "email_events": self._email_events, "subscriptions": self._subscriptions}

    def streams(self) -> list[Stream]:
        return list(self._streams)

    def close(self) -> None:
        self.http.close()

    # -- pulling ---------------------------------------------------------------------------------------------------
    def pull(self, entity: str, since: datetime | str | None = None) -> Iterator[Batch]:
        """Batches of ``entity`` changed at or after ``since``, in cursor order, with archived contacts as tombstones."""
        stream = next((s for s in self._streams if s.entity == entity), None)
        if stream is None:
            raise SourceError(f"integration '{self.name}': no entity '{entity}' (configured: "
                              f"{[s.entity for s in self._streams]})")
        since_ms = _ms(since) if since is not None else None
        deleted = self._archived_contacts(since_ms) if entity == "contacts" else []
        groups = batched(self._pages[entity](since_ms), stream.cursor, self.batch_rows)
        if entity == "subscriptions":
            groups = _watermark_at_end(groups)
        source = f"{self.base_url}{_PATHS[entity]}"
        yielded = False
        for records, watermark in groups:
            yield to_batch(self.name, stream, records, source, watermark, deleted if not yielded else ())
            yielded = True
        if deleted and not yielded:  # deletions but no changed rows: an empty frame in the contract's shape
            batch = to_batch(self.name, stream, [], source, None, deleted)
            batch.frame = pd.DataFrame(columns=contract_for(stream.key).columns())
            yield batch

    def _page_size(self, entity: str) -> int:
        return max(1, min(int(self.options.get("page_size", MAX_PAGE[entity])), MAX_PAGE[entity]))

    def _contacts(self, since_ms: int | None) -> Iterator[list[dict[str, Any]]]:
        """Search by ``hs_lastmodifieddate`` ascending; at the 10,000-result cap, search again from the last
        instant seen, skipping ids already yielded at exactly that instant."""
        cap = int(self.options.get("search_cap", SEARCH_CAP))
        properties = [c for c in contract_for("hubspot.contacts").columns() if c not in TOP_LEVEL]
        floor, seen = since_ms or 0, set()
        while True:
            last_ms, at_last = None, set()

            def search(after: str | None, floor: int = floor) -> dict[str, Any]:
                body = {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                                       "value": str(floor)}]}],
                        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                        "properties": properties, "limit": self._page_size("contacts"),
                        **({"after": after} if after else {})}
                return self.http.call("POST", SEARCH, json_body=body) or {}

            pager = CursorPaginator(self.name, self.platform, "contacts")
            for page in pager.pages(search):
                fresh = []
                for record in page.get("results") or []:
                    ms = _ms(record["updatedAt"])
                    if ms == floor and record["id"] in seen:
                        continue
                    fresh.append(self._row("contacts", record))
                    at_last = at_last if ms == last_ms else set()
                    last_ms = ms
                    at_last.add(record["id"])
                yield fresh
                if pager.next is not None and int(pager.next) >= cap:
                    break
            if pager.next is None:
                return
            if last_ms is None or last_ms == floor:
                raise SourceError(f"integration '{self.name}': more than {cap} contacts share hs_lastmodifieddate "
                                  f"{last_ms}; HubSpot's search cannot page past them. Pull contacts from a list "
                                  f"export for this backfill, then switch back to the API")
            floor, seen = last_ms, at_last

    def _archived_contacts(self, since_ms: int | None) -> list[str]:
        ids = []
        for record in self._list_pages(CONTACTS, {"archived": "true", "limit": 100}, "contacts"):
            stamp = record.get("archivedAt") or record.get("updatedAt")
            if since_ms is None or stamp is None or _ms(stamp) >= since_ms:
                ids.append(str(record["id"]))
        return ids

    def _marketing_emails(self, since_ms: int | None) -> Iterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {"limit": self._page_size("marketing_emails"), "sort": "updatedAt"}
        if since_ms is not None:  # updatedAfter is exclusive; the watermark instant itself is pulled again
            params["updatedAfter"] = _iso(since_ms - 1)
        pages = CursorPaginator(self.name, self.platform, "marketing_emails").pages(
            lambda after: self.http.call("GET", EMAILS, params={**params, **({"after": after} if after else {})}) or {})
        for page in pages:
            yield [self._row("marketing_emails", r) for r in page.get("results") or []]

    def _email_events(self, since_ms: int | None) -> Iterator[list[dict[str, Any]]]:
        params = {"startTimestamp": since_ms or 0, "limit": self._page_size("email_events")}
        pager = PageTokenPaginator(self.name, self.platform, "email_events", token_key="offset", more_key="hasMore")
        pages = pager.pages(lambda offset: self.http.call(
            "GET", EVENTS, params={**params, **({"offset": offset} if offset else {})}) or {})
        for page in pages:
            yield [self._row("email_events", e) for e in page.get("events") or []]

    def _subscriptions(self, since_ms: int | None) -> Iterator[list[dict[str, Any]]]:
        """Statuses of every contact's address, 100 addresses a call."""
        contacts = self._list_pages(CONTACTS, {"limit": 100, "properties": "email"}, "subscriptions")
        for chunk in _chunks((c.get("properties") or {}).get("email") for c in contacts):
            emails = [e for e in chunk if e]
            answer = self.http.call("POST", STATUSES, params={"channel": "EMAIL"}, json_body={"inputs": emails}) or {}
            rows = [self._row("subscriptions", s) for r in answer.get("results") or [] for s in r.get("statuses", [])]
            yield [r for r in rows if since_ms is None or r.get("timestamp") is None or _ms(r["timestamp"]) >= since_ms]

    def _list_pages(self, path: str, params: dict[str, Any], entity: str) -> Iterator[dict[str, Any]]:
        pages = CursorPaginator(self.name, self.platform, entity).pages(
            lambda after: self.http.call("GET", path, params={**params, **({"after": after} if after else {})}) or {})
        for page in pages:
            yield from page.get("results") or []

    def _row(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """An API record in the export's shape; fields this code does not know (a renamed one) pass through."""
        drop, rename, values = DROP.get(entity, set()), RENAME.get(entity, {}), VALUES.get(entity, {})
        flat = record
        if "properties" in record:
            flat = {k: v for k, v in record.items() if k != "properties"}
            flat.update(record.get("properties") or {})
        if rename or values:
            row = {rename.get(k, k): values.get(rename.get(k, k), {}).get(v, v) if isinstance(v, str) else v
                   for k, v in flat.items() if k not in drop}
        else:  # an email event: a thousand a page, so nothing to look up per field but what to drop
            row = {k: v for k, v in flat.items() if k not in drop}
        for column in OPTIONAL.get(entity, ()):
            row.setdefault(column, None)
        if "subscriptionId" in row and row["subscriptionId"] is not None:
            row["subscriptionId"] = str(row["subscriptionId"])  # v4 numbers them; the export names them
        return row

    # -- health and control ----------------------------------------------------------------------------------------
    def probe(self) -> Health:
        """One cheap authenticated read; headroom comes from HubSpot's own rate-limit headers, and the policy's
        ``min_headroom`` (health rules) decides whether it is low."""
        now = datetime.now(timezone.utc)
        try:
            self.http.call("GET", CONTACTS, params={"limit": 1})
        except (SourceError, ConfigError) as exc:
            return Health(self.name, "down", str(exc), now)
        h, stats = self.http.stats.rate_limit_headers, self.http.stats
        left, most = h.get("x-hubspot-ratelimit-remaining"), h.get("x-hubspot-ratelimit-max")
        daily_left, daily = h.get("x-hubspot-ratelimit-daily-remaining"), h.get("x-hubspot-ratelimit-daily")
        window = int(h.get("x-hubspot-ratelimit-interval-milliseconds", "10000")) / 1000
        detail = (f"token accepted; {1000 * (stats.last_latency_s or 0):.0f} ms; rate limit {left}/{most} left per "
                  f"{window:g} s, {daily_left}/{daily} left today")
        tight = [(a, b) for a, b in ((left, most), (daily_left, daily)) if a is not None and b is not None]
        # the tighter window's share left is reported, not judged: the health rules hold ``min_headroom``; an
        # answer without the headers is degraded because nothing can be measured
        state = "healthy" if tight else "degraded"
        headroom = min((int(a) / int(b) for a, b in tight if int(b)), default=None)
        return Health(self.name, state, detail if tight else detail + " (no rate-limit headers in the answer)", now,
                      1000 * (stats.last_latency_s or 0), headroom)

    def pause(self, campaign_id: str, reason: str) -> ControlResult:
        return self._set_enabled(campaign_id, False, reason)

    def resume(self, campaign_id: str, reason: str) -> ControlResult:
        return self._set_enabled(campaign_id, True, reason)

    def campaign_state(self, campaign_id: str) -> str:
        """``paused`` or ``active`` from the workflow's ``isEnabled``."""
        flow_id = str(self.options.get("flow_ids", {}).get(campaign_id, campaign_id))
        return "active" if bool((self.http.call("GET", FLOW.format(flow_id)) or {}).get("isEnabled")) else "paused"

    def _set_enabled(self, campaign_id: str, enabled: bool, reason: str) -> ControlResult:
        """GET the flow, then PUT it back with ``isEnabled`` flipped and its current ``revisionId``. A PUT that
        fails after HubSpot applied it (lost answer, then 409 on the retry) is settled by reading the flow again."""
        action, word = ("resume", "enabled") if enabled else ("pause", "disabled")
        flow_id = str(self.options.get("flow_ids", {}).get(campaign_id, campaign_id))
        path = FLOW.format(flow_id)
        flow = self.http.call("GET", path) or {}
        if bool(flow.get("isEnabled")) == enabled:
            return ControlResult(self.name, campaign_id, action, False, f"workflow {flow_id} already {word}")
        try:
            updated = self.http.call("PUT", path, json_body={**flow, "isEnabled": enabled}) or {}
        except SourceError:
            if bool((self.http.call("GET", path) or {}).get("isEnabled")) != enabled:
                raise
            updated = {}
        return ControlResult(self.name, campaign_id, action, True, f"workflow {flow_id} {word} (revision "
                             f"{updated.get('revisionId', '?')}); reason: {reason}")


_PATHS = {"contacts": SEARCH, "marketing_emails": EMAILS, "email_events": EVENTS, "subscriptions": STATUSES}


def _chunks(values: Iterable[Any], size: int = 100) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _watermark_at_end(groups: Iterable[tuple[list[dict[str, Any]], str | None]]
                      ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    """For a sweep not in cursor order: no batch vouches for a watermark until the last, which carries the sweep's
    maximum, so a crash mid-sweep never lets the next pull skip recipients not read yet."""
    held, best = None, None
    for records, watermark in groups:
        if held is not None:
            yield held, None
        held = records
        best = max(filter(None, (best, watermark)), default=None)
    if held is not None:
        yield held, best


def _ms(value: datetime | str | int) -> int:
    """Epoch millis from a watermark: ISO-8601 (``updatedAt``, ``timestamp``) or millis already (``created``)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    text = str(value)
    if text.isdigit():
        return int(text)
    stamp = pd.Timestamp(text)
    return int((stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).value // 1_000_000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
