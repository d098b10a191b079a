"""A local, wire-compatible HubSpot: CRM v3 contacts (list and search), Marketing Emails v3, the Email Events API,
Communication Preferences v4 and Automation v4 flows, on 127.0.0.1.

It speaks HubSpot's words where integrations break in production: 401 ``INVALID_AUTHENTICATION`` /
``EXPIRED_AUTHENTICATION`` bodies, 429 ``RATE_LIMIT`` bodies with the ``X-HubSpot-RateLimit-*`` headers on every
answer, the search API's 200-per-page and 10,000-results-per-query caps (400 beyond), opaque ``after``/``offset``
cursors, and v4 flows that refuse a PUT carrying a stale ``revisionId`` (409).

Rows sit in DuckDB tables physically sorted by their cursor and numbered (``seq``) in that order, so a page is a
``seq`` range the zone maps find directly: page 1 and page 50,000 of 5M email events cost the same.

Example:
    >>> with HubspotEmulator.from_workspace(root, tokens=["pat-na1-test"]) as hs:  # doctest: +SKIP
    ...     httpx.get(f"{hs.base_url}/crm/v3/objects/contacts", headers={"Authorization": "Bearer pat-na1-test"})
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from ._platform import PlatformEmulator, RateLimit, Reply, Request

__all__ = ["HubspotEmulator", "SEARCH_CAP"]

SEARCH_CAP = 10_000  # HubSpot's search endpoints never page past 10,000 results of one query
SEARCH_MAX_LIMIT, LIST_MAX_LIMIT, EVENTS_MAX_LIMIT, BATCH_MAX_INPUTS = 200, 100, 1000, 100
PORTAL_ID = 4_210_042
DEFAULT_CONTACT_PROPERTIES = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
ALWAYS_RETURNED = ("createdate", "hs_object_id", "lastmodifieddate")
MODIFIED = ("hs_lastmodifieddate", "lastmodifieddate")  # contacts answer to both names
V4_STATUS = {"UNSUBSCRIBED": "NOT_SUBSCRIBED"}  # v4 words for the v3-style export statuses
_ISO = "%Y-%m-%dT%H:%M:%S.%gZ"


def _iso_sql(ms: str) -> str:
    return f"strftime(epoch_ms({ms}), '{_ISO}')"


def _now_iso() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _names(value: str | list[str]) -> set[str]:
    """Property names sent as ``a,b`` or as repeated parameters (how the official clients send lists)."""
    return {name for part in (value if isinstance(value, list) else [value]) for name in str(part).split(",") if name}


def _cursor(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode()


def _uncursor(token: str) -> int:
    return int(base64.urlsafe_b64decode(token.encode()).decode())


def _error(status: int, message: str, category: str, **extra: Any) -> Reply:
    return Reply(status, {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
                          "category": category, **extra})


class HubspotEmulator(PlatformEmulator):
    """HubSpot on 127.0.0.1, seeded from a demo workspace (``from_workspace``) or synthetic rows (``load_synthetic``).

    Args:
        tokens: Private-app tokens it accepts. ``expire_tokens`` (or the fault) kills them; ``on_expire``, when set,
            is handed a freshly issued token, the way an operator rotates one into the environment.
        rate_limit: The rolling window HubSpot enforces per token (private apps: 190 per 10 s); None disables it.
        daily_limit: What ``X-HubSpot-RateLimit-Daily`` announces.
    """

    platform = "hubspot"

    def __init__(self, tokens: Iterable[str] = (), *, host: str = "127.0.0.1", port: int = 0,
                 rate_limit: RateLimit | None = None, daily_limit: int = 500_000) -> None:
        super().__init__(host, port, rate_limit)
        self.tokens.update(tokens)
        self.daily_limit, self.search_cap = daily_limit, SEARCH_CAP
        self.on_expire: Callable[[str], None] | None = None
        self.flows: dict[str, dict[str, Any]] = {}
        self._expired: set[str] = set()
        self._daily: Counter[str] = Counter()
        self._live_contacts = self._events = 0
        self._events_file: str | None = None  # a workspace's events, not loaded until asked for
        for sql in _SCHEMA:
            self.db.execute(sql)
        for method, pattern, handler in [
            ("GET", r"/crm/v3/objects/contacts", self._list_contacts),
            ("POST", r"/crm/v3/objects/contacts/search", self._search_contacts),
            ("GET", r"/email/public/v1/events", self._email_events),
            ("GET", r"/marketing/v3/emails/?", self._marketing_emails),
            ("POST", r"/communication-preferences/v4/statuses/batch/read", self._statuses),
            ("GET", r"/automation/v4/flows/(\d+)", self._get_flow),
            ("PUT", r"/automation/v4/flows/(\d+)", self._put_flow),
        ]:
            self.route(method, pattern, handler)

    # -- seeding ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_workspace(cls, root: Path | str, **kwargs: Any) -> "HubspotEmulator":
        """Serve a demo workspace's HubSpot exports (``<root>/exports/hubspot/*.jsonl``, or that folder itself)."""
        folder = Path(root) / "exports" / "hubspot"
        folder = folder if folder.is_dir() else Path(root)
        emu = cls(**kwargs)
        p = {name: (folder / f"{name}.jsonl").as_posix().replace("'", "''") for name in
             ("contacts", "marketing_emails", "email_events", "subscriptions")}
        emu.db.execute(f"""insert into contacts select id::BIGINT, properties::VARCHAR, createdAt, updatedAt,
            epoch_ms(updatedAt::TIMESTAMPTZ), archived, NULL, NULL from read_json('{p["contacts"]}',
            format = 'newline_delimited', columns = {{id: 'VARCHAR', properties: 'JSON', createdAt: 'VARCHAR',
            updatedAt: 'VARCHAR', archived: 'BOOLEAN'}})""")
        emu._events_file = p["email_events"]  # loaded on the first events request: a run that reads them from
        # the export file instead (a large demo) never holds millions of events it does not serve
        emu.db.execute(f"""insert into subscriptions select recipient, subscriptionId,
            coalesce({_case('status', V4_STATUS)}, status), legalBasis, sourceOfStatus, timestamp
            from read_json('{p["subscriptions"]}', format = 'newline_delimited', columns = {{recipient: 'VARCHAR',
            subscriptionId: 'VARCHAR', status: 'VARCHAR', legalBasis: 'VARCHAR', sourceOfStatus: 'VARCHAR',
            timestamp: 'VARCHAR'}})""")
        for line in (folder / "marketing_emails.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                emu.add_marketing_email(json.loads(line))
        emu._renumber()
        return emu

    def _load_events_file(self) -> None:
        """Loads the workspace's email events once, before the first events request is answered."""
        with self._lock:
            path, self._events_file = self._events_file, None
            if path is None:
                return
            self.db.execute(f"""insert into email_events select NULL, id, type, recipient, emailCampaignId, created,
                portalId from read_json('{path}', format = 'newline_delimited', columns = {{id: 'VARCHAR',
                type: 'VARCHAR', recipient: 'VARCHAR', emailCampaignId: 'BIGINT', created: 'BIGINT',
                portalId: 'BIGINT'}})""")
            self._renumber()

    def add_marketing_email(self, record: dict[str, Any]) -> None:
        """One marketing email, and the workflow that sends it (flow id = email id, enabled)."""
        self.db.execute("insert into marketing_emails values (?, ?, ?, false)",
                        [str(record["id"]), record["updatedAt"], json.dumps(record)])
        flow_id = str(record["id"])
        self.flows[flow_id] = {
            "id": flow_id, "type": "CONTACT_FLOW", "flowType": "WORKFLOW", "objectTypeId": "0-1",
            "name": f"Send: {record.get('name', flow_id)}", "isEnabled": True, "revisionId": "1",
            "createdAt": record["updatedAt"], "updatedAt": record["updatedAt"], "startActionId": "1",
            "actions": [{"actionId": "1", "actionTypeId": "0-4", "type": "SINGLE_CONNECTION",
                         "fields": {"content_id": flow_id}}]}
        self.campaign_state[flow_id] = "active"

    def load_synthetic(self, contacts: int = 0, email_events: int = 0, start_ms: int = 1_700_000_000_000) -> None:
        """Replace contacts and email events with N and M generated rows (DuckDB ``range()``, no Python lists)."""
        with self._lock:
            self._events_file = None
            self.db.execute("delete from contacts")
            self.db.execute("delete from email_events")
            self.db.execute(f"""insert into contacts select 1000000 + i, json_object(
                'email', 'contact' || i || '@example.com', 'firstname', 'First' || (i % 997),
                'lastname', 'Last' || (i % 991), 'lifecyclestage', ['subscriber', 'lead', 'customer'][1 + i % 3],
                'salesforcecontactid', NULL, 'salesforceleadid', NULL,
                'createdate', {_iso_sql(str(start_ms))}, 'lastmodifieddate', {_iso_sql(f'{start_ms} + i * 1000')}),
                {_iso_sql(str(start_ms))}, {_iso_sql(f'{start_ms} + i * 1000')}, {start_ms} + i * 1000, false,
                NULL, i + 1 from range({int(contacts)}) t(i)""")
            self.db.execute(f"""insert into email_events select i + 1, printf('%012x-5e5e', i),
                ['SENT', 'DELIVERED', 'OPEN', 'CLICK'][1 + i % 4], 'contact' || (i % {max(1, int(contacts))})
                || '@example.com', 700001 + i % 5, {start_ms} + i * 10, {PORTAL_ID} from range({int(email_events)}) t(i)""")
            self._count()  # generated already in cursor order and numbered: no sort, so no memory spike at 5M rows

    # -- test hooks ------------------------------------------------------------------------------------------------
    def touch_contact(self, contact_id: str, **properties: str | None) -> None:
        """Change a contact now, as a user editing it in HubSpot would (it moves to the end of the search order)."""
        now = _now_iso()
        props = {**properties, "lastmodifieddate": now}
        with self._lock:
            self.db.execute("update contacts set props = json_merge_patch(props, ?), updatedAt = ?, "
                            "lastmod = epoch_ms(?::TIMESTAMPTZ) where id = ?", [json.dumps(props), now, now,
                                                                                 int(contact_id)])
            self._renumber()

    def archive_contact(self, contact_id: str) -> None:
        with self._lock:
            self.db.execute("update contacts set archived = true, archivedAt = ? where id = ?",
                            [_now_iso(), int(contact_id)])
            self._renumber()

    def issue_token(self) -> str:
        token = f"pat-na1-{uuid.uuid4()}"
        with self._lock:
            self.tokens.add(token)
        return token

    def expire_tokens(self) -> None:
        with self._lock:
            self._expired |= self.tokens
            self.tokens.clear()
        if self.on_expire is not None:
            self.on_expire(self.issue_token())

    def _renumber(self) -> None:
        """Re-sort the tables by their cursor and number rows in that order, so pages are ``seq`` ranges."""
        with self._lock:
            self.db.execute("""create or replace table contacts as select * exclude (seq), case when not archived
                then row_number() over (partition by archived order by lastmod, id) end as seq from contacts
                order by archived, lastmod, id""")
            self.db.execute("""create or replace table email_events as select row_number() over
                (order by created, id) as seq, * exclude (seq) from email_events order by created, id""")
            self._count()

    def _count(self) -> None:
        self._live_contacts = self.query("select count(*) n from contacts where not archived")[0]["n"]
        self._events = self.query("select count(*) n from email_events")[0]["n"]

    # -- HubSpot's words -------------------------------------------------------------------------------------------
    def auth_error(self, request: Request) -> Reply:
        if request.bearer() in self._expired:
            return _error(401, "The OAuth token used to make this call expired 1 minute(s) ago.",
                          "EXPIRED_AUTHENTICATION")
        return _error(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
                      "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                      "INVALID_AUTHENTICATION")

    def rate_limited(self, request: Request, retry_after: float) -> Reply:
        secondly = self.rate_limit is None or self.rate_limit.window <= 1
        return Reply(429, {"status": "error",
                           "message": f"You have reached your {'secondly' if secondly else 'ten_secondly_rolling'} limit.",
                           "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                           "policyName": "SECONDLY" if secondly else "TEN_SECONDLY_ROLLING"},
                     self.rate_headers(request.bearer() or "", used=None))

    def server_error(self, request: Request, status: int) -> Reply:
        return _error(status, "internal error", "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE")

    def rate_headers(self, token: str, used: int | None) -> dict[str, str]:
        """``used`` None: the window is exhausted (a 429)."""
        limit, window = (self.rate_limit.limit, self.rate_limit.window) if self.rate_limit else (190, 10.0)
        left = 0 if used is None else max(0, limit - used)
        per_second = max(1, round(limit / window))
        return {"X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_limit - self._daily[token])),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000)),
                "X-HubSpot-RateLimit-Max": str(limit), "X-HubSpot-RateLimit-Remaining": str(left),
                "X-HubSpot-RateLimit-Secondly": str(per_second),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(min(per_second, left))}

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """Every authenticated answer carries the rate-limit headers, as HubSpot's do, window enforced or not."""
        token = headers.get("authorization", "")[7:].strip()
        if token in self.tokens:
            self._daily[token] += 1
        reply = super().handle(method, target, headers, body)
        if token in self.tokens and not any(k.lower().startswith("x-hubspot") for k in reply.headers):
            reply.headers = {**self.rate_headers(token, len(self._hits.get(token, ()))), **reply.headers}
        return reply

    # -- CRM v3 contacts -------------------------------------------------------------------------------------------
    def _contact(self, row: dict[str, Any], wanted: Iterable[str]) -> dict[str, Any]:
        stored = json.loads(row["props"])
        extra = {"hs_object_id": str(row["id"]), "hs_lastmodifieddate": row["updatedAt"]}
        props = {name: stored.get(name, extra.get(name)) for name in wanted}
        out = {"id": str(row["id"]), "properties": self.renamed_record("contacts", props),
               "createdAt": row["createdAt"], "updatedAt": row["updatedAt"], "archived": bool(row["archived"])}
        if row["archived"]:
            out["archivedAt"] = row["archivedAt"]
        return self.renamed_record("contacts", out)

    def _list_contacts(self, request: Request) -> Reply:
        q = request.query
        limit = min(int(q.get("limit", 10)), LIST_MAX_LIMIT)
        archived = str(q.get("archived", "false")).lower() == "true"
        wanted = _names(q.get("properties") or list(DEFAULT_CONTACT_PROPERTIES)) | set(ALWAYS_RETURNED)
        rows = self.query("select * from contacts where archived = ? and id >= ? order by id limit ?",
                          [archived, int(q.get("after") or 0), limit + 1])
        payload: dict[str, Any] = {"results": [self._contact(r, wanted) for r in rows[:limit]]}
        if len(rows) > limit:
            after = str(rows[limit]["id"])
            payload["paging"] = {"next": {"after": after, "link": f"{self.base_url}{request.path}?after={after}"}}
        return Reply(200, payload)

    def _search_contacts(self, request: Request) -> Reply:
        body = request.json() or {}
        limit, after = int(body.get("limit", 10)), int(body.get("after") or 0)
        if limit > SEARCH_MAX_LIMIT:
            return _error(400, f"limit must be at most {SEARCH_MAX_LIMIT}", "VALIDATION_ERROR")
        if after >= self.search_cap:
            return _error(400, f"The search endpoints are limited to {self.search_cap} total results for any given "
                          f"query; after={after} is beyond it", "VALIDATION_ERROR")
        floor = _modified_floor(body)
        if isinstance(floor, Reply):
            return floor
        start = self.query("select min(seq) s from contacts where seq is not null and lastmod >= ?", [floor])[0]["s"]
        total = 0 if start is None else self._live_contacts - start + 1
        lo = (start or 0) + after
        rows = self.query("select * from contacts where seq >= ? and seq < ? order by seq", [lo, lo + limit])
        wanted = _names(body.get("properties") or list(DEFAULT_CONTACT_PROPERTIES)) | set(ALWAYS_RETURNED)
        payload: dict[str, Any] = {"total": total, "results": [self._contact(r, wanted) for r in rows]}
        if after + limit < total:
            payload["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, payload)

    # -- Email Events API ------------------------------------------------------------------------------------------
    def _email_events(self, request: Request) -> Reply:
        q = request.query
        unsupported = sorted({"endTimestamp", "eventType", "recipient", "campaignId", "appId"} & set(q))
        if unsupported:
            return _error(400, f"the emulator does not filter by {unsupported}", "VALIDATION_ERROR")
        limit = min(int(q.get("limit", 100)), EVENTS_MAX_LIMIT)
        if self._events_file is not None:
            self._load_events_file()
        if q.get("offset"):
            lo = _uncursor(str(q["offset"]))
        else:
            lo = self.query("select min(seq) s from email_events where created >= ?",
                            [int(q.get("startTimestamp") or 0)])[0]["s"] or self._events + 1
        more = lo + limit <= self._events
        head = {"hasMore": more, "offset": _cursor(lo + limit if more else lo)}
        if not self.renamed.get("email_events"):  # the page's JSON written by DuckDB: no dict per event
            events = self.query(_EVENTS_PAGE_SQL, [lo, lo + limit])[0]["page"] or ""
            return Reply(200, raw=(json.dumps(head, separators=(",", ":"))[:-1] + ',"events":[' + events + "]}")
                         .encode("utf-8"))
        rows = self.query("select * exclude (seq) from email_events where seq >= ? and seq < ? order by seq",
                          [lo, lo + limit])
        events = [self.renamed_record("email_events", {
            **{k: v for k, v in r.items() if v is not None}, **_EVENT_APP}) for r in rows]
        return Reply(200, {**head, "events": events})

    # -- Marketing Emails v3 ---------------------------------------------------------------------------------------
    def _marketing_emails(self, request: Request) -> Reply:
        q = request.query
        limit, offset = min(int(q.get("limit", 10)), LIST_MAX_LIMIT), _uncursor(q["after"]) if q.get("after") else 0
        sort = str(q.get("sort") or "id")
        column = {"updatedAt": "updatedAt", "id": "id", "-updatedAt": "updatedAt desc"}.get(sort)
        if column is None:
            return _error(400, f"unsupported sort '{sort}'", "VALIDATION_ERROR")
        since = _iso(q["updatedAfter"]) if q.get("updatedAfter") else ""
        archived = str(q.get("archived", "false")).lower() == "true"
        rows = self.query(f"select * from marketing_emails where archived = ? and updatedAt > ? order by {column}, id "
                          f"limit ? offset ?", [archived, since, limit + 1, offset])
        results = [self.renamed_record("marketing_emails", {**json.loads(r["record"]), "archived": r["archived"],
                                                            "type": "BATCH_EMAIL", "isPublished": True})
                   for r in rows[:limit]]
        total = self.query("select count(*) n from marketing_emails where archived = ? and updatedAt > ?",
                           [archived, since])[0]["n"]
        payload: dict[str, Any] = {"total": total, "results": results}
        if len(rows) > limit:
            payload["paging"] = {"next": {"after": _cursor(offset + limit)}}
        return Reply(200, payload)

    # -- Communication Preferences v4 ------------------------------------------------------------------------------
    def _statuses(self, request: Request) -> Reply:
        if request.query.get("channel") != "EMAIL":
            return _error(400, "channel must be EMAIL", "VALIDATION_ERROR")
        inputs = [str(i) for i in (request.json() or {}).get("inputs", [])]
        if len(inputs) > BATCH_MAX_INPUTS:
            return _error(400, f"at most {BATCH_MAX_INPUTS} inputs per batch", "VALIDATION_ERROR")
        started = _now_iso()
        rows = self.query("select * from subscriptions where recipient in (select unnest(?::VARCHAR[])) "
                          "order by recipient, subscriptionId", [inputs])
        by_recipient: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_recipient.setdefault(r["recipient"], []).append(self.renamed_record("subscriptions", {
                "channel": "EMAIL", "source": r["source"], "status": r["status"], "subscriberIdString": r["recipient"],
                "subscriptionId": r["subscriptionId"], "timestamp": r["timestamp"], "businessUnitId": 0,
                "legalBasis": r["legalBasis"], "legalBasisExplanation": None, "setStatusSuccessReason": None,
                "subscriptionName": r["subscriptionId"].replace("_", " ").title()}))
        results = [{"subscriberIdString": k, "statuses": v} for k, v in by_recipient.items()]
        return Reply(200, {"status": "COMPLETE", "results": results, "requestedAt": started, "startedAt": started,
                           "completedAt": _now_iso()})

    # -- Automation v4 flows ---------------------------------------------------------------------------------------
    def _get_flow(self, request: Request, flow_id: str) -> Reply:
        flow = self.flows.get(flow_id)
        return Reply(200, flow) if flow else _error(404, f"Flow {flow_id} not found", "OBJECT_NOT_FOUND")

    def _put_flow(self, request: Request, flow_id: str) -> Reply:
        body = request.json() or {}
        with self._lock:
            flow = self.flows.get(flow_id)
            if flow is None:
                return _error(404, f"Flow {flow_id} not found", "OBJECT_NOT_FOUND")
            if not body.get("type") or "revisionId" not in body:
                return _error(400, "type and revisionId are required", "VALIDATION_ERROR")
            if str(body["revisionId"]) != flow["revisionId"]:
                return _error(409, f"Flow {flow_id} was updated since revision {body['revisionId']} "
                              f"(current: {flow['revisionId']}); fetch it and try again", "CONFLICT")
            enabled = bool(body.get("isEnabled", flow["isEnabled"]))
            flow.update(isEnabled=enabled, revisionId=str(int(flow["revisionId"]) + 1), updatedAt=_now_iso())
            self.set_campaign(flow_id, "resume" if enabled else "pause", "active" if enabled else "paused")
            return Reply(200, dict(flow))


def _modified_floor(body: dict[str, Any]) -> int | Reply:
    """The one filter the emulator searches by: last modified at or after a millisecond timestamp."""
    groups = body.get("filterGroups") or []
    filters = [f for g in groups for f in g.get("filters", [])]
    if len(groups) > 1 or any(f.get("propertyName") not in MODIFIED or f.get("operator") not in ("GTE", "GT")
                              for f in filters):
        return _error(400, "the emulator searches contacts by one hs_lastmodifieddate GTE/GT filter only",
                      "VALIDATION_ERROR")
    floor = 0
    for f in filters:
        floor = max(floor, _ms(f.get("value")) + (1 if f["operator"] == "GT" else 0))
    for s in body.get("sorts") or []:
        name = s.get("propertyName") if isinstance(s, dict) else str(s).lstrip("-")
        descending = s.get("direction") == "DESCENDING" if isinstance(s, dict) else str(s).startswith("-")
        if name not in MODIFIED or descending:
            return _error(400, "the emulator sorts contacts by hs_lastmodifieddate ascending only",
                          "VALIDATION_ERROR")
    return floor


def _ms(value: Any) -> int:
    """HubSpot takes datetime filter values as epoch millis or ISO-8601."""
    text = str(value)
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _iso(value: str) -> str:
    ms = _ms(value)
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _case(column: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"when '{k}' then '{v}'" for k, v in mapping.items())
    return f"case {column} {whens} end"


_EVENT_APP = {"appId": 113, "appName": "BatchEmail"}
_EVENT_FIELDS = ("id", "type", "recipient", "emailCampaignId", "created", "portalId")
# One page of email events as the JSON text of its records, in seq order: each field present only when not null, then
# the app fields (what the dict path above writes, key for key). 1,000 events cost DuckDB about a millisecond.
_EVENTS_PAGE_SQL = ("select string_agg('{' || substr(" + " || ".join(
    f"""coalesce(',"{f}":' || to_json({f})::VARCHAR, '')""" for f in _EVENT_FIELDS)
    + f""" || ',{json.dumps(_EVENT_APP, separators=(",", ":"))[1:-1]}', 2) || '}}', ',' order by seq) as page """
    "from email_events where seq >= ? and seq < ?")

_SCHEMA = [
    "create table contacts (id BIGINT, props VARCHAR, createdAt VARCHAR, updatedAt VARCHAR, lastmod BIGINT, "
    "archived BOOLEAN, archivedAt VARCHAR, seq BIGINT)",
    "create table email_events (seq BIGINT, id VARCHAR, type VARCHAR, recipient VARCHAR, emailCampaignId BIGINT, "
    "created BIGINT, portalId BIGINT)",
    "create table marketing_emails (id VARCHAR, updatedAt VARCHAR, record VARCHAR, archived BOOLEAN)",
    "create table subscriptions (recipient VARCHAR, subscriptionId VARCHAR, status VARCHAR, legalBasis VARCHAR, "
    "source VARCHAR, timestamp VARCHAR)",
]
