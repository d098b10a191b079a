"""A wire-compatible Marketo REST emulator: identity OAuth, lead database, activities with paging tokens, smart
campaigns in the asset API, usage stats, and Marketo's way of failing (HTTP 200 with ``success: false`` and a code).

Marketo answers almost everything with HTTP 200 and puts the verdict in the body: 601/602 for a bad or expired
token, 606 for the 100-calls-per-20-seconds window, 607 for the 50,000-calls daily quota, 615 for more than ten
concurrent calls, 709 for an asset call its business rules refuse. The emulator says it the same way, so the
adapter's classifier is tested against the real wording, and it keeps the data in DuckDB tables stored in cursor
order so a keyset page costs the same at the first row and the five-millionth.

Seeded from the demo workspace (the demo has no Marketo export): leads from HubSpot contacts, email activities from
HubSpot email events (6 Send, 7 Delivered, 8 Bounced, 9 Unsubscribe, 10 Open, 11 Click; spam reports have no
Marketo email activity type and are left out), smart campaigns from Salesforce campaigns (email campaigns become
trigger campaigns, the others batch campaigns).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ._platform import LoggedRequest, PlatformEmulator, RateLimit, Reply, Request

__all__ = ["MarketoEmulator", "EMAIL_ACTIVITY_TYPES", "LEAD_FIELDS"]

EMAIL_ACTIVITY_TYPES = {6: "Send Email", 7: "Email Delivered", 8: "Email Bounced", 9: "Unsubscribe Email",
                        10: "Open Email", 11: "Click Email"}
LEAD_FIELDS = ("email", "firstName", "lastName", "unsubscribed", "emailInvalid", "sfdcContactId", "sfdcLeadId",
               "createdAt", "updatedAt")
# Marketo error codes a fault plan may ask for by "status": answered as HTTP 200 with the code in the body.
MARKETO_ERRORS = {604: "Request timed out", 606: "Max rate limit '100' exceeded with in '20' secs",
                  607: "Daily quota reached", 608: "API Temporarily Unavailable", 611: "System error",
                  615: "Concurrent access limit reached", 713: "Transient Error"}
ISO = "%Y-%m-%dT%H:%M:%SZ"


class MarketoEmulator(PlatformEmulator):
    """``MarketoEmulator.from_workspace(root).start()``; ``base_url`` is the instance's REST endpoint.

    The defaults are Marketo's own limits (100 calls per 20 s per token, 50,000 calls a day, ten concurrent calls,
    tokens living 3599 s); a benchmark passes ``rate_limit=None`` and calls ``load_synthetic(leads=, activities=)``.
    """

    platform = "marketo"
    public_paths = (r"^/identity/oauth/token$",)

    def __init__(self, client_id: str = "steward-client", client_secret: str = "steward-secret", *,
                 host: str = "127.0.0.1", port: int = 0, rate_limit: RateLimit | None = RateLimit(100, 20.0),
                 daily_quota: int = 50_000, max_concurrent: int = 10, token_ttl: float = 3599.0) -> None:
        super().__init__(host, port, rate_limit)
        self.client_id, self.client_secret = client_id, client_secret
        self.daily_quota, self.max_concurrent, self.token_ttl = daily_quota, max_concurrent, token_ttl
        self.calls_today = 0
        self._issued: dict[str, float] = {}
        self._inflight = 0
        self._ids = threading.Lock()
        self.db.execute("set TimeZone = 'UTC'")
        self.db.execute(_SCHEMA)
        for method, pattern, handler in [
            ("GET", r"/identity/oauth/token", self._token), ("POST", r"/identity/oauth/token", self._token),
            ("GET", r"/rest/v1/activities/pagingtoken\.json", self._paging_token),
            ("GET", r"/rest/v1/activities\.json", self._activities),
            ("GET", r"/rest/v1/activities/leadchanges\.json", self._lead_changes),
            ("GET", r"/rest/v1/activities/deletedleads\.json", self._deleted_leads),
            ("GET", r"/rest/v1/leads\.json", self._leads),
            ("GET", r"/rest/v1/stats/usage\.json", self._usage),
            ("GET", r"/rest/asset/v1/smartCampaigns\.json", self._smart_campaigns),
            ("GET", r"/rest/asset/v1/smartCampaign/(\d+)\.json", self._smart_campaign),
            ("POST", r"/rest/asset/v1/smartCampaign/(\d+)/(activate|deactivate)\.json", self._control),
        ]:
            self.route(method, pattern, handler)

    # -- seeding ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_workspace(cls, root: Path | str, **kwargs: Any) -> "MarketoEmulator":
        """Leads, email activities and smart campaigns drawn from the demo workspace's HubSpot and Salesforce files."""
        emu, exports = cls(**kwargs), Path(root) / "exports"
        files = {"contacts": exports / "hubspot/contacts.jsonl", "events": exports / "hubspot/email_events.jsonl",
                 "subscriptions": exports / "hubspot/subscriptions.jsonl",
                 "emails": exports / "hubspot/marketing_emails.jsonl",
                 "campaigns": exports / "salesforce/campaigns.csv"}
        for statement in _SEED:
            for key, file in files.items():
                statement = statement.replace("{" + key + "}", str(file).replace("'", "''"))
            emu.db.execute(statement)
        emu._sync_campaign_state()
        return emu

    def load_synthetic(self, leads: int = 0, activities: int = 0, campaigns: int = 8) -> None:
        """Replace the data with ``leads`` leads and ``activities`` email activities generated in SQL (benchmarks)."""
        sizes = {"$leads": int(leads), "$activities": int(activities), "$campaigns": max(1, int(campaigns))}
        for statement in _SYNTHETIC:
            for key, value in sizes.items():
                statement = statement.replace(key, str(value))
            self.db.execute(statement)
        self._sync_campaign_state()

    def _sync_campaign_state(self) -> None:
        self.campaign_state = {str(r["id"]): r["status"] for r in self.query("select id, status from smart_campaigns")}

    # -- changes tests make on the platform ------------------------------------------------------------------------
    def update_lead(self, lead_id: int, at: datetime | None = None, **values: Any) -> str:
        """Change lead fields as a Marketo user would: ``updatedAt`` moves and a Change Data Value activity appears."""
        unknown = set(values) - set(LEAD_FIELDS[:-2])
        if unknown:
            raise ValueError(f"not an updatable lead field: {sorted(unknown)}")
        when = self._next_time(at)
        old = self.query(f"select {', '.join(values)} from leads where id = ?", [lead_id])[0]
        sets = ", ".join(f'"{k}" = ?' for k in values)
        self.db.execute(f"update leads set {sets}, updatedAt = ? where id = ?", [*values.values(), when, lead_id])
        fields = [{"id": i, "name": k, "newValue": v, "oldValue": old[k]} for i, (k, v) in enumerate(values.items())]
        self.db.execute("insert into lead_changes values (?, ?, ?, ?, 13, ?, ?)",
                        [self._new_id(), secrets.token_hex(8), lead_id, when, json.dumps(fields, default=str),
                         list(values)])
        return when.strftime(ISO)

    def delete_lead(self, lead_id: int, at: datetime | None = None) -> str:
        """Delete a lead: it leaves the database with its activities and a Delete Lead activity (37) records it."""
        when = self._next_time(at)
        for table in ("leads", "lead_changes", "activities"):
            self.db.execute(f"delete from {table} where {'id' if table == 'leads' else 'leadId'} = ?", [lead_id])
        self.db.execute("insert into deleted_leads values (?, ?, ?, ?, 37, ?)",
                        [self._new_id(), secrets.token_hex(8), lead_id, when, f"Lead {lead_id}"])
        return when.strftime(ISO)

    def _next_time(self, at: datetime | None) -> datetime:
        latest = self.query("select max(t) t from (select max(activityDate) t from activities union all "
                            "select max(activityDate) from lead_changes union all select max(updatedAt) from leads)")
        now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        floor = (latest[0]["t"] or now) + timedelta(seconds=1)
        return (at.astimezone(timezone.utc).replace(tzinfo=None) if at else max(now, floor)).replace(microsecond=0)

    def _new_id(self) -> int:
        with self._ids:
            row = self.query("select max(m) m from (select max(id) m from activities union all select max(id) "
                             "from lead_changes union all select max(id) from deleted_leads)")[0]
            return int(row["m"] or 0) + 1

    # -- Marketo's words for failures ------------------------------------------------------------------------------
    def auth_error(self, request: Request) -> Reply:
        token = request.bearer() or self.token_from(request)
        if not token:
            return _error(600, "Access token not specified")
        return _error(602, "Access token expired") if token in self._issued else _error(601, "Access token invalid")

    def rate_limited(self, request: Request, retry_after: float) -> Reply:
        return _error(606, MARKETO_ERRORS[606])  # no Retry-After: Marketo documents the 20-second window instead

    def server_error(self, request: Request, status: int) -> Reply:
        if status in MARKETO_ERRORS:
            return _error(status, MARKETO_ERRORS[status])
        return Reply(status, raw=f"<html><body><h1>{status} Service Unavailable</h1></body></html>".encode())

    def token_from(self, request: Request) -> str | None:
        return request.query.get("access_token")

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """Token expiry, the daily quota and the concurrency limit wrap the base dispatch."""
        self._expire_due_tokens()
        path = target.split("?", 1)[0]
        if path == "/identity/oauth/token":
            return super().handle(method, target, headers, body)
        with self._lock:
            self._inflight += 1
            refused = 615 if self._inflight > self.max_concurrent else (
                607 if self.calls_today >= self.daily_quota else None)
            self.calls_today += refused is None
        try:
            if refused is None:
                return super().handle(method, target, headers, body)
            with self._lock:
                self.requests.append(LoggedRequest(method, path, 200, str(refused)))
            return _error(refused, MARKETO_ERRORS[refused])
        finally:
            with self._lock:
                self._inflight -= 1

    def _expire_due_tokens(self) -> None:
        now = time.monotonic()
        with self._lock:
            self.tokens -= {t for t, at in self._issued.items() if now - at >= self.token_ttl}

    # -- identity --------------------------------------------------------------------------------------------------
    def _token(self, request: Request) -> Reply:
        given = {**request.query, **(request.form() if request.method == "POST" else {})}
        if given.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"})
        if (given.get("client_id"), given.get("client_secret")) != (self.client_id, self.client_secret):
            return Reply(401, {"error": "invalid_client", "error_description": "Bad client credentials"})
        token = self.issue_token()
        with self._lock:
            self._issued[token] = time.monotonic()
        expires = max(0, round(self.token_ttl))
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": expires,
                           "scope": f"{self.client_id}@steward.example"})

    # -- activities --------------------------------------------------------------------------------------------------
    def _paging_token(self, request: Request) -> Reply:
        since = _parse_datetime(request.query.get("sinceDatetime", ""))
        if since is None:
            return _error(1003, "Invalid value for sinceDatetime; an ISO-8601 date-time is required")
        return _ok(nextPageToken=_encode_token(since, -1))

    def _activities(self, request: Request) -> Reply:
        try:
            types = [int(t) for t in request.query.get("activityTypeIds", "").split(",") if t]
        except ValueError:
            types = []
        if not types or len(types) > 10:
            return _error(1003, "activityTypeIds must list between 1 and 10 activity type ids")
        return self._activity_page(request, "activities", "t.activityTypeId in (select unnest(?::INTEGER[]))",
                                   [types], _ACTIVITY_COLUMNS)

    def _lead_changes(self, request: Request) -> Reply:
        fields = [f for f in request.query.get("fields", "").split(",") if f]
        if not fields:
            return _error(1003, "fields is required")
        return self._activity_page(request, "lead_changes",
                                   "(t.activityTypeId = 12 or list_has_any(t.fieldNames, ?::VARCHAR[]))", [fields],
                                   _LEAD_CHANGE_COLUMNS, keep_fields=set(fields))

    def _deleted_leads(self, request: Request) -> Reply:
        return self._activity_page(request, "deleted_leads", "true", [], _DELETED_COLUMNS)

    def _activity_page(self, request: Request, table: str, where: str, params: list, columns: str,
                       keep_fields: set[str] | None = None) -> Reply:
        """One keyset page after the token's (activityDate, id); ``activityDate >= ?`` lets DuckDB skip row groups."""
        position = _decode_token(request.query.get("nextPageToken", ""))
        if position is None:
            return _error(1003, "Invalid value for nextPageToken")
        size = request.query.get("batchSize", "300")
        if not size.isdigit() or not 1 <= int(size) <= 300:
            return _error(1003, "batchSize must be between 1 and 300")
        after, last_id = position
        rows = self.query(f"select {columns} from {table} t where t.activityDate >= ? and (t.activityDate > ? or "
                          f"t.id > ?) and {where} order by t.activityDate, t.id limit ?",
                          [after, after, last_id, *params, int(size) + 1])
        more, rows = len(rows) > int(size), rows[: int(size)]
        token = _encode_token(*_position(rows[-1])) if rows else request.query["nextPageToken"]
        records = [self.renamed_record(table, _activity_record(r, keep_fields)) for r in rows]
        return _ok(moreResult=more, nextPageToken=token, **({"result": records} if records else {}))

    # -- leads -------------------------------------------------------------------------------------------------------
    def _leads(self, request: Request) -> Reply:
        if request.query.get("filterType") != "id":
            return _error(1003, "Only filterType=id is supported by this emulator")
        try:
            ids = [int(v) for v in request.query.get("filterValues", "").split(",") if v]
        except ValueError:
            return _error(1003, "filterValues must be lead ids")
        if not 1 <= len(ids) <= 300:
            return _error(1003, "filterValues must hold between 1 and 300 values")
        fields = [f for f in request.query.get("fields", "id,email,updatedAt,createdAt,firstName,lastName").split(",")
                  if f]
        unknown = [f for f in fields if f != "id" and f not in LEAD_FIELDS]
        if unknown:
            return _error(1006, f"Field '{unknown[0]}' not found")
        wanted = ["id", *[f for f in fields if f != "id"]]
        rows = self.query(f"select {_lead_columns(wanted)} from leads t where t.id in (select unnest(?::BIGINT[])) "
                          f"order by t.id", [ids])
        return _ok(result=[self.renamed_record("leads", r) for r in rows])

    def _usage(self, request: Request) -> Reply:
        total = self.calls_today
        return _ok(result=[{"date": date.today().isoformat(), "total": total,
                            "users": [{"userId": f"{self.client_id}@steward.example", "count": total}]}])

    # -- smart campaigns (asset API) ---------------------------------------------------------------------------------
    def _smart_campaigns(self, request: Request) -> Reply:
        q = request.query
        offset, limit = q.get("offset", "0"), q.get("maxReturn", "20")
        if not (offset.isdigit() and limit.isdigit() and 1 <= int(limit) <= 200):
            return _asset_error(701, "maxReturn must be between 1 and 200 and offset a non-negative integer")
        bounds = [_parse_datetime(q[k]) if q.get(k) else None for k in ("earliestUpdatedAt", "latestUpdatedAt")]
        rows = self.query(f"select {_CAMPAIGN_COLUMNS} from smart_campaigns t where (? is null or t.updatedAt >= ?) "
                          f"and (? is null or t.updatedAt <= ?) order by t.id limit ? offset ?",
                          [bounds[0], bounds[0], bounds[1], bounds[1], int(limit), int(offset)])
        return _asset_ok([self.renamed_record("smart_campaigns", r) for r in rows])

    def _smart_campaign(self, request: Request, campaign_id: str) -> Reply:
        rows = self.query(f"select {_CAMPAIGN_COLUMNS} from smart_campaigns t where t.id = ?", [int(campaign_id)])
        return _asset_ok([self.renamed_record("smart_campaigns", r) for r in rows])

    def _control(self, request: Request, campaign_id: str, verb: str) -> Reply:
        rows = self.query("select type from smart_campaigns where id = ?", [int(campaign_id)])
        if not rows:
            return _asset_error(702, f"Smart campaign {campaign_id} not found")
        if rows[0]["type"] != "trigger":
            return _asset_error(709, f"Cannot {verb} smart campaign {campaign_id}: only trigger campaigns can be "
                                     f"activated or deactivated")
        state = "Active" if verb == "activate" else "Inactive"
        self.db.execute("update smart_campaigns set status = ?, isActive = ?, updatedAt = ? where id = ? "
                        "and status <> ?", [state, state == "Active", self._next_time(None), int(campaign_id), state])
        self.set_campaign(campaign_id, "resume" if verb == "activate" else "pause", state)
        return _asset_ok([{"id": int(campaign_id)}])


def _activity_record(row: dict[str, Any], keep_fields: set[str] | None) -> dict[str, Any]:
    record = {k: v for k, v in row.items() if k not in ("attributes", "fields")}
    if "fields" in row:
        record["fields"] = [f for f in json.loads(row["fields"] or "[]") if keep_fields is None or
                            f["name"] in keep_fields]
    record["attributes"] = json.loads(row.get("attributes") or "[]")
    return record


def _position(row: dict[str, Any]) -> tuple[datetime, int]:
    return datetime.strptime(row["activityDate"], ISO), int(row["id"])


def _encode_token(after: datetime, last_id: int) -> str:
    """Opaque like Marketo's: base32 of the keyset position, valid on every activity endpoint."""
    return base64.b32encode(f"{after.strftime(ISO)}|{last_id}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[datetime, int] | None:
    try:
        text = base64.b32decode(token + "=" * (-len(token) % 8)).decode()
        when, last = text.split("|")
        return datetime.strptime(when, ISO), int(last)
    except (ValueError, UnicodeDecodeError):
        return None


def _parse_datetime(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def _request_id() -> str:
    return f"{secrets.token_hex(2)}#{secrets.token_hex(5)}"


def _ok(**body: Any) -> Reply:
    return Reply(200, {"requestId": _request_id(), "success": True, **body})


def _error(code: int, message: str) -> Reply:
    return Reply(200, {"requestId": _request_id(), "success": False, "errors": [{"code": str(code),
                                                                                 "message": message}]})


def _asset_ok(result: list[dict[str, Any]]) -> Reply:
    """The asset API's envelope; an empty answer carries a warning and no ``result``, as Marketo's does."""
    body: dict[str, Any] = {"success": True, "errors": [], "requestId": _request_id(), "warnings": []}
    if result:
        body["result"] = result
    else:
        body["warnings"] = ["No assets found for the given search criteria."]
    return Reply(200, body)


def _asset_error(code: int, message: str) -> Reply:
    return Reply(200, {"success": False, "errors": [{"code": str(code), "message": message}],
                       "requestId": _request_id(), "warnings": []})


# -- the data, as SQL ------------------------------------------------------------------------------------------------
_TS = "strftime(t.{0}, '%Y-%m-%dT%H:%M:%SZ') as {0}"
_ACTIVITY_COLUMNS = ("t.id, t.marketoGUID, t.leadId, " + _TS.format("activityDate") + ", t.activityTypeId, "
                     "t.primaryAttributeValueId, t.primaryAttributeValue, t.campaignId, t.attributes")
_LEAD_CHANGE_COLUMNS = ("t.id, t.marketoGUID, t.leadId, " + _TS.format("activityDate") + ", t.activityTypeId, "
                        "t.fields, case t.activityTypeId when 12 then '[{\"name\": \"Source Type\", \"value\": "
                        "\"New lead\"}]' else '[{\"name\": \"Source\", \"value\": \"Web service API\"}]' end "
                        "as attributes")
_DELETED_COLUMNS = ("t.id, t.marketoGUID, t.leadId, " + _TS.format("activityDate") + ", t.activityTypeId, "
                    "t.leadId as primaryAttributeValueId, t.primaryAttributeValue, '[]' as attributes")
_ASSET_TS = "strftime(t.{0}, '%Y-%m-%dT%H:%M:%SZ+0000') as {0}"  # the asset API's own timestamp shape
_CAMPAIGN_COLUMNS = ("t.id, t.name, t.description, " + _ASSET_TS.format("createdAt") + ", "
                     + _ASSET_TS.format("updatedAt") + ", t.status, t.type, t.isSystem, t.isActive, t.isRequestable, "
                     "t.isCommunicationLimitEnabled, t.qualificationRuleType, t.workspace, t.smartListId, t.flowId, "
                     "t.computedUrl")


def _lead_columns(fields: list[str]) -> str:
    return ", ".join(_TS.format(f) if f in ("createdAt", "updatedAt") else f't."{f}"' for f in fields)


_SCHEMA = """
create table leads (id BIGINT, email VARCHAR, firstName VARCHAR, lastName VARCHAR, unsubscribed BOOLEAN,
    emailInvalid BOOLEAN, sfdcContactId VARCHAR, sfdcLeadId VARCHAR, createdAt TIMESTAMP, updatedAt TIMESTAMP);
create table activities (id BIGINT, marketoGUID VARCHAR, leadId BIGINT, activityDate TIMESTAMP,
    activityTypeId INTEGER, primaryAttributeValueId BIGINT, primaryAttributeValue VARCHAR, campaignId BIGINT,
    attributes VARCHAR);
create table lead_changes (id BIGINT, marketoGUID VARCHAR, leadId BIGINT, activityDate TIMESTAMP,
    activityTypeId INTEGER, fields VARCHAR, fieldNames VARCHAR[]);
create table deleted_leads (id BIGINT, marketoGUID VARCHAR, leadId BIGINT, activityDate TIMESTAMP,
    activityTypeId INTEGER, primaryAttributeValue VARCHAR);
create table smart_campaigns (id BIGINT, name VARCHAR, description VARCHAR, type VARCHAR, status VARCHAR,
    isSystem BOOLEAN, isActive BOOLEAN, isRequestable BOOLEAN, isCommunicationLimitEnabled BOOLEAN,
    qualificationRuleType VARCHAR, workspace VARCHAR, smartListId BIGINT, flowId BIGINT, computedUrl VARCHAR,
    createdAt TIMESTAMP, updatedAt TIMESTAMP);
"""

_UTC = "date_trunc('second', cast({0} as timestamptz) at time zone 'UTC')"

# Insertion order is storage order: each table is written sorted by its cursor so keyset pages prune row groups.
_SEED = [
    f"""insert into leads
    with c as (select * from read_json_auto('{{contacts}}')),
    s as (select recipient, any_value(status) as status from read_json_auto('{{subscriptions}}')
          where subscriptionId = 'marketing_information' group by 1),
    b as (select distinct recipient from read_json_auto('{{events}}') where type = 'BOUNCE')
    select cast(c.id as bigint), c.properties.email, c.properties.firstname, c.properties.lastname,
        coalesce(s.status = 'UNSUBSCRIBED', false), b.recipient is not null,
        cast(c.properties.salesforcecontactid as varchar), cast(c.properties.salesforceleadid as varchar),
        {_UTC.format('c.createdAt')}, {_UTC.format('c.updatedAt')}
    from c left join s on s.recipient = c.properties.email left join b on b.recipient = c.properties.email
    order by 1""",
    f"""insert into smart_campaigns
    select sc_id, Name, Type || ' campaign (Salesforce ' || Id || ')',
        case when Type = 'Email' then 'trigger' else 'batch' end,
        case when Type <> 'Email' then 'Single Run' when IsActive = 'true' then 'Active' else 'Inactive' end,
        false, Type = 'Email' and IsActive = 'true', Type = 'Email', false, 'once', 'Default', sc_id, sc_id,
        'https://app-sj01.marketo.com/#SC' || sc_id || 'A1', cast(StartDate as timestamp),
        {_UTC.format('SystemModstamp')}
    from (select *, 1000 + cast(right(Id, 6) as integer) as sc_id
          from read_csv('{{campaigns}}', all_varchar = true)) order by sc_id""",
    """insert into activities
    select aid, cast(aid as varchar), leadId, activityDate, typeId, emailId, emailName, campaignId, attributes from (
        select row_number() over (order by e.created, e.id) as aid, l.id as leadId,
            date_trunc('second', epoch_ms(e.created)) as activityDate,
            case e.type when 'SENT' then 6 when 'DELIVERED' then 7 when 'BOUNCE' then 8 when 'STATUSCHANGE' then 9
                when 'OPEN' then 10 when 'CLICK' then 11 end as typeId,
            cast(e.emailCampaignId as bigint) as emailId, m.name as emailName, sc.id as campaignId,
            cast(case when e.type = 'BOUNCE' then json_array(
                    json_object('name', 'Campaign Run ID', 'value', e.emailCampaignId),
                    json_object('name', 'Email', 'value', e.recipient))
                else json_array(json_object('name', 'Campaign Run ID', 'value', e.emailCampaignId)) end as varchar)
                as attributes
        from read_json_auto('{events}') e join leads l on l.email = e.recipient
        left join (select cast(id as bigint) as id, name, cast(salesforceCampaignId as varchar) as sf
                   from read_json_auto('{emails}')) m on m.id = e.emailCampaignId
        left join smart_campaigns sc on sc.id = 1000 + try_cast(right(m.sf, 6) as integer)
        where e.type in ('SENT', 'DELIVERED', 'BOUNCE', 'STATUSCHANGE', 'OPEN', 'CLICK'))
    order by activityDate, aid""",
    """insert into lead_changes
    select 1000000000 + n, cast(1000000000 + n as varchar), leadId, activityDate, typeId, fields, fieldNames from (
        select row_number() over (order by activityDate, leadId, typeId) as n, * from (
            select id as leadId, createdAt as activityDate, 12 as typeId, '[]' as fields,
                cast([] as VARCHAR[]) as fieldNames from leads
            union all
            select id, updatedAt, 13, cast(json_array(
                    json_object('id', 2, 'name', 'email', 'newValue', email, 'oldValue', null),
                    json_object('id', 31, 'name', 'firstName', 'newValue', firstName, 'oldValue', null),
                    json_object('id', 32, 'name', 'lastName', 'newValue', lastName, 'oldValue', null)) as varchar),
                ['email', 'firstName', 'lastName'] from leads where updatedAt > createdAt))
    order by activityDate, 1""",
]

_SYNTHETIC = [
    "delete from leads", "delete from activities", "delete from lead_changes", "delete from deleted_leads",
    "delete from smart_campaigns",
    """insert into leads select i, 'lead' || i || '@example.com', 'First' || i, 'Last' || i, i % 20 = 0,
        i % 50 = 0, null, null, timestamp '2024-01-01' + to_seconds(i), timestamp '2024-01-01' + to_seconds(i)
    from range(1, $leads + 1) r(i) order by i""",
    """insert into lead_changes select 1000000000 + i, cast(1000000000 + i as varchar), i,
        timestamp '2024-01-01' + to_seconds(i), 12, '[]', cast([] as VARCHAR[])
    from range(1, $leads + 1) r(i) order by i""",
    """insert into smart_campaigns select 1000 + i, 'Campaign ' || i, null,
        case when i % 4 = 0 then 'batch' else 'trigger' end,
        case when i % 4 = 0 then 'Single Run' else 'Active' end, false, i % 4 <> 0, i % 4 <> 0, false, 'once',
        'Default', 1000 + i, 1000 + i, 'https://app-sj01.marketo.com/#SC' || (1000 + i) || 'A1',
        timestamp '2024-01-01', timestamp '2024-01-01' + to_seconds(i)
    from range(1, $campaigns + 1) r(i) order by i""",
    """insert into activities select i, cast(i as varchar), 1 + (i * 7919) % greatest($leads, 1),
        timestamp '2024-01-01' + to_seconds(i // 4), 6 + cast(i % 6 as integer), 700001 + i % 5,
        'Email ' || (i % 5 + 1), 1001 + i % $campaigns, '[]'
    from range(1, $activities + 1) r(i) order by i""",
]
