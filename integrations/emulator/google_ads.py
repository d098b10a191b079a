"""A wire-compatible Google Ads API (REST, v17) emulator: OAuth refresh, GAQL search with page tokens, campaign mutate.

What it holds to, because the adapter must cope with it in production:
- ``POST /token`` is Google's OAuth 2 refresh grant (``invalid_client`` / ``invalid_grant`` bodies on bad credentials).
- Every API call needs ``Authorization: Bearer`` *and* a ``developer-token`` header; a missing one is the real
  ``requestError: DEVELOPER_TOKEN_PARAMETER_MISSING``, a wrong one ``authenticationError: DEVELOPER_TOKEN_INVALID``.
- ``googleAds:search`` parses the GAQL subset the adapter sends, rejects unknown fields (``UNRECOGNIZED_FIELD``) and
  a ``pageSize`` (``PAGE_SIZE_NOT_SUPPORTED`` since v17), pages 10,000 rows at a time with an opaque token bound to
  the query, writes int64 fields as JSON strings and omits zero metrics (proto3 JSON drops default values).
- Errors are ``google.rpc.Status`` bodies with a ``GoogleAdsFailure`` detail; a 429 carries ``google.rpc.RetryInfo``.
``rename_field("campaign_stats", "metrics.conversions", "metrics.allConversions")`` takes the JSON (camelCase)
paths and renames the field in the rows and the ``fieldMask``.
Rows live in DuckDB and pages are keyset queries on (date, campaign id), so page 500 costs what page 1 costs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from ._platform import PlatformEmulator, RateLimit, Reply, Request

__all__ = ["GoogleAdsEmulator", "FAILURE_TYPE", "RETRY_INFO_TYPE"]

FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure"
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"

# GAQL field -> SQL expression over ``campaign_stats s join campaigns c`` (or ``customer``); int64 fields are sent
# as strings, as Google's JSON mapping does.
_CAMPAIGN_FIELDS: dict[str, str] = {
    "campaign.resource_name": "'customers/' || $cid || '/campaigns/' || c.id", "campaign.id": "c.id::varchar",
    "campaign.name": "c.name", "campaign.status": "c.status",
}
_STATS_FIELDS: dict[str, str] = {
    "segments.date": "strftime(s.date, '%Y-%m-%d')", "metrics.cost_micros": "s.cost_micros::varchar",
    "metrics.impressions": "s.impressions::varchar", "metrics.clicks": "s.clicks::varchar",
    "metrics.conversions": "s.conversions", "metrics.conversions_value": "s.conversions_value",
}
_CUSTOMER_FIELDS: dict[str, str] = {
    "customer.resource_name": "'customers/' || $cid", "customer.id": "$cid", "customer.descriptive_name": "$name",
}
_METRICS_ZERO = ("0", 0, 0.0)
_GAQL = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<resource>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
                   r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$", re.I | re.S)
_BETWEEN = re.compile(r"^segments\.date\s+BETWEEN\s+'(\d{4}-\d{2}-\d{2})'\s+AND\s+'(\d{4}-\d{2}-\d{2})'$", re.I)
_EQUALS = re.compile(r"^campaign\.id\s*=\s*(\d+)$", re.I)
_IN = re.compile(r"^campaign\.id\s+IN\s*\(\s*(\d+(?:\s*,\s*\d+)*)\s*\)$", re.I)
_STATUS_WORDS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_MESSAGES = {500: "Internal error encountered.", 503: "The service is currently unavailable.",
             504: "The request was not completed in time.",
             401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                  "other valid authentication credential."}


class _QueryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class GoogleAdsEmulator(PlatformEmulator):
    """One Google Ads customer (``customer_id``) with its campaigns and their daily performance."""

    platform = "google_ads"
    public_paths = (r"^/token$",)
    version = "v17"

    def __init__(self, *, customer_id: str = "1234567890",
                 client_id: str = "steward-emulator.apps.googleusercontent.com", client_secret: str = "emulator-client-secret", refresh_token: str = "1//emulator-refresh-token",
                 developer_token: str = "emulator-developer-tok", host: str = "127.0.0.1", port: int = 0,
                 rate_limit: RateLimit | None = None) -> None:
        super().__init__(host, port, rate_limit)
        self.customer_id, self.client_id, self.client_secret = customer_id, client_id, client_secret
        self.refresh_token, self.developer_token = refresh_token, developer_token
        self.page_size = 10_000  # fixed by Google since v17; tests lower it to page through small workspaces
        self.login_customer_ids: list[str] = []
        self.db.execute("create table campaigns (id bigint primary key, name varchar, status varchar)")
        self.db.execute("create table campaign_stats (campaign_id bigint, date date, cost_micros bigint, "
                        "impressions bigint, clicks bigint, conversions double, conversions_value double)")
        v = self.version
        self.route("POST", r"/token", self._token)
        self.route("POST", rf"/{v}/customers/(\d+)/googleAds:search", self._search)
        self.route("POST", rf"/{v}/customers/(\d+)/campaigns:mutate", self._mutate)

    def credentials(self) -> dict[str, str]:
        """The four secrets this emulator accepts, by the adapter's credential field (tests export them)."""
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "refresh_token": self.refresh_token, "developer_token": self.developer_token}

    # -- seeding ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_workspace(cls, root: Path | str, **kwargs: Any) -> "GoogleAdsEmulator":
        """Serve the demo workspace's ``campaign_stats.csv``; a campaign's name and status are its latest row's.
        An export without conversion values serves 0 for them, as Google does for an account that imports none."""
        emu = cls(**kwargs)
        path = (Path(root) / "exports" / "google_ads" / "campaign_stats.csv").as_posix()
        emu.db.execute(f"create temp view export as select * from read_csv('{path}', header = true)")
        header = [r[0] for r in emu.db.execute("describe export").fetchall()]
        value = '"metrics.conversions_value"' if "metrics.conversions_value" in header else "0.0"
        emu.db.execute('insert into campaigns select "campaign.id", arg_max("campaign.name", "segments.date"), '
                       'arg_max("campaign.status", "segments.date") from export group by 1')
        emu.db.execute('insert into campaign_stats select "campaign.id", "segments.date", "metrics.cost_micros", '
                       f'"metrics.impressions", "metrics.clicks", "metrics.conversions", coalesce({value}, 0.0) '
                       'from export order by "segments.date", "campaign.id"')
        emu._sync_state()
        return emu

    def load_synthetic(self, campaigns: int, days: int, start: str = "2020-01-01") -> int:
        """``campaigns`` x ``days`` rows made by DuckDB (benchmarks); returns the row count now held."""
        self.db.execute("insert into campaigns select 9100000000 + i, 'Synthetic ' || i, 'ENABLED' "
                        "from range(?) t(i)", [campaigns])
        self.db.execute("insert into campaign_stats select 9100000000 + c.i, ?::date + d.i::int, "
                        "(c.i * 7919 + d.i * 104729) % 900000000, 1000 + (c.i + d.i) % 5000, (c.i + d.i) % 900, "
                        "((c.i * 31 + d.i) % 4000) / 100.0, ((c.i * 17 + d.i) % 50) * 125.0 "
                        "from range(?) d(i), range(?) c(i) order by 2, 1",
                        [start, days, campaigns])
        self._sync_state()
        return self.db.execute("select count(*) from campaign_stats").fetchone()[0]

    def _sync_state(self) -> None:
        for cid, status in self.db.execute("select id::varchar, status from campaigns").fetchall():
            self.campaign_state.setdefault(cid, status)

    # -- the platform's words for failures -------------------------------------------------------------------------
    def auth_error(self, request: Request) -> Reply:
        return _error(401, _MESSAGES[401], [("authenticationError", "OAUTH_TOKEN_INVALID", "Oauth token is invalid.")])

    def rate_limited(self, request: Request, retry_after: float) -> Reply:
        delay = f"{max(retry_after, 0.0):.3f}".rstrip("0").rstrip(".") + "s"
        failure = {"errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                   "message": f"Too many requests. Retry in {delay}.",
                   "details": {"quotaErrorDetails": {"rateScope": "ACCOUNT", "rateName": "Number of operations for "
                                                     "basic access", "retryDelay": delay}}}
        return _error(429, "Resource has been exhausted (e.g. check quota).", [failure],
                      extra=[{"@type": RETRY_INFO_TYPE, "retryDelay": delay}])

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 401:
            return self.auth_error(request)
        return _error(status, _MESSAGES.get(status, "Internal error encountered."),
                      [("internalError", "INTERNAL_ERROR" if status == 500 else "TRANSIENT_ERROR",
                        "An internal error has occurred.")])

    # -- handlers --------------------------------------------------------------------------------------------------
    def _token(self, request: Request) -> Reply:
        form = request.form()
        if form.get("grant_type") != "refresh_token":
            return Reply(400, {"error": "unsupported_grant_type",
                               "error_description": f"Invalid grant_type: {form.get('grant_type', '')}"})
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return Reply(401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})
        if form.get("refresh_token") != self.refresh_token:
            return Reply(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        return Reply(200, {"access_token": self.issue_token(), "expires_in": 3599, "token_type": "Bearer",
                           "scope": "https://www.googleapis.com/auth/adwords"})

    def _gate(self, request: Request, customer_id: str) -> Reply | None:
        """The checks Google makes after the OAuth token: developer token, then access to the customer."""
        token = request.headers.get("developer-token")
        if not token:
            return _error(400, "The developer-token parameter is required for all requests.",
                          [("requestError", "DEVELOPER_TOKEN_PARAMETER_MISSING",
                            "The developer-token parameter is required for all requests.")])
        if token != self.developer_token:
            return _error(401, _MESSAGES[401], [("authenticationError", "DEVELOPER_TOKEN_INVALID",
                                                 "The developer token is not valid.")])
        if "login-customer-id" in request.headers:
            self.login_customer_ids.append(request.headers["login-customer-id"])
        if customer_id != self.customer_id:
            return _error(403, "The caller does not have permission",
                          [("authorizationError", "USER_PERMISSION_DENIED",
                            "User doesn't have permission to access customer. Note: If you're accessing a client "
                            "customer, the manager's customer id must be set in the 'login-customer-id' header.")])
        return None

    def _search(self, request: Request, customer_id: str) -> Reply:
        denied = self._gate(request, customer_id)
        if denied is not None:
            return denied
        body = request.json() or {}
        if "pageSize" in body:
            return _error(400, "Request contains an invalid argument.",
                          [("requestError", "PAGE_SIZE_NOT_SUPPORTED", "Setting the page size is not supported.")])
        query = str(body.get("query", ""))
        try:
            plan = _parse(query)
            rows, next_token = self._page(plan, query, body.get("pageToken"))
        except _QueryError as exc:
            group = "requestError" if exc.code.endswith("PAGE_TOKEN") else "queryError"
            return _error(400, "Request contains an invalid argument.", [(group, exc.code, exc.message)])
        entity = "campaign_stats" if plan["stats"] else plan["resource"]
        mask = [self._renamed_path(entity, f) for f in plan["fields"]]
        payload: dict[str, Any] = {"results": [_nest(self.renamed_record(entity, _drop_zero_metrics(r)))
                                               for r in rows],
                                   "fieldMask": ",".join(_camel_path(f) for f in mask)}
        if next_token:
            payload["nextPageToken"] = next_token
        if (body.get("searchSettings") or {}).get("returnTotalResultsCount"):
            payload["totalResultsCount"] = str(self._count(plan))
        return Reply(200, payload)

    def _mutate(self, request: Request, customer_id: str) -> Reply:
        denied = self._gate(request, customer_id)
        if denied is not None:
            return denied
        body = request.json() or {}
        results, changes = [], []
        for op in body.get("operations") or []:
            update = op.get("update") or {}
            found = re.fullmatch(rf"customers/{customer_id}/campaigns/(\d+)", str(update.get("resourceName", "")))
            status = update.get("status")
            if "status" not in str(op.get("updateMask", "")).split(",") or status not in ("ENABLED", "PAUSED"):
                return _error(400, "Request contains an invalid argument.",
                              [("fieldError", "REQUIRED", "updateMask must name status; status ENABLED or PAUSED.")])
            if found is None or not self.query("select 1 from campaigns where id = ?", [int(found.group(1))]):
                return _error(400, "Request contains an invalid argument.",
                              [("mutateError", "RESOURCE_NOT_FOUND", "The requested resource was not found.")])
            changes.append((found.group(1), status))
            results.append({"resourceName": update["resourceName"]})
        if not body.get("validateOnly"):
            for campaign_id, status in changes:
                self.db.cursor().execute("update campaigns set status = ? where id = ?", [status, int(campaign_id)])
                self.set_campaign(campaign_id, "pause" if status == "PAUSED" else "resume", status)
        return Reply(200, {"results": results})

    # -- GAQL over DuckDB ------------------------------------------------------------------------------------------
    def _page(self, plan: dict, query: str, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        after = _read_token(token, query) if token else None
        select = ", ".join(f'{self._sql(f)} as "{f}"' for f in plan["fields"])
        if not plan["stats"] and plan["resource"] == "customer":
            return self.query(f"select {select}"), None
        where, params = self._where(plan)
        order = "s.date, c.id" if plan["stats"] else "c.id"
        if after is not None:
            where.append("(s.date > ?::date or (s.date = ?::date and c.id > ?))" if plan["stats"] else "c.id > ?")
            params += [after[0], after[0], after[1]] if plan["stats"] else [after[1]]
        limit = min(self.page_size, plan["limit"] or self.page_size)
        keys = "strftime(s.date, '%Y-%m-%d') as _d, c.id as _c" if plan["stats"] else "null as _d, c.id as _c"
        rows = self.query(f"select {select}, {keys} {self._from(plan)} where {' and '.join(where) or 'true'} "
                          f"order by {order} limit {limit + 1}", params)
        more = len(rows) > limit and not plan["limit"]
        rows = rows[:limit]
        next_token = _make_token(query, rows[-1]["_d"], rows[-1]["_c"]) if more else None
        return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows], next_token

    def _count(self, plan: dict) -> int:
        where, params = self._where(plan)
        return self.query(f"select count(*) as n {self._from(plan)} where {' and '.join(where) or 'true'}",
                          params)[0]["n"]

    @staticmethod
    def _from(plan: dict) -> str:
        return "from campaign_stats s join campaigns c on c.id = s.campaign_id" if plan["stats"] else "from campaigns c"

    @staticmethod
    def _where(plan: dict) -> tuple[list[str], list[Any]]:
        where, params = [], []
        if plan["dates"]:
            where.append("s.date between ?::date and ?::date")
            params += list(plan["dates"])
        if plan["campaign_id"] is not None:
            where.append("c.id = ?")
            params.append(plan["campaign_id"])
        if plan.get("campaign_ids") is not None:
            where.append(f"c.id in ({', '.join('?' for _ in plan['campaign_ids'])})")
            params += plan["campaign_ids"]
        return where, params

    def _sql(self, field: str) -> str:
        expr = {**_CAMPAIGN_FIELDS, **_STATS_FIELDS, **_CUSTOMER_FIELDS}[field]
        return expr.replace("$cid", f"'{self.customer_id}'").replace("$name", "'Steward emulator customer'")

    def _renamed_path(self, entity: str, field: str) -> str:
        return self.renamed.get(entity, {}).get(_camel_path(field), _camel_path(field))


def _parse(query: str) -> dict[str, Any]:
    """The GAQL subset the adapter sends: SELECT fields FROM campaign|customer [WHERE ...] [ORDER BY] [LIMIT]."""
    found = _GAQL.match(query)
    if found is None:
        raise _QueryError("QUERY_ERROR", f"Error in query: cannot parse '{query[:80]}'.")
    resource = found["resource"].lower()
    fields = [f.strip() for f in found["fields"].split(",") if f.strip()]
    allowed = {"campaign": {**_CAMPAIGN_FIELDS, **_STATS_FIELDS}, "customer": _CUSTOMER_FIELDS}.get(resource)
    if allowed is None:
        raise _QueryError("INVALID_RESOURCE_NAME", f"Error in FROM clause: invalid resource name '{resource}'.")
    for field in fields:
        if field not in allowed:
            raise _QueryError("UNRECOGNIZED_FIELD", f"Error in SELECT clause: unrecognized field '{field}'.")
    plan = {"resource": resource, "fields": fields, "stats": any(f in _STATS_FIELDS for f in fields),
            "dates": None, "campaign_id": None, "campaign_ids": None,
            "limit": int(found["limit"]) if found["limit"] else None}
    for condition in re.split(r"\s+AND\s+(?=[a-z_]+\.)", found["where"] or "", flags=re.I):
        _apply_condition(plan, condition.strip())
    if plan["stats"] and plan["dates"] is None:
        raise _QueryError("EXPECTED_FILTERS_ON_DATE_RANGE",
                          "Filters on the segments.date field must form a finite date range.")
    return plan


def _apply_condition(plan: dict[str, Any], condition: str) -> None:
    if not condition:
        return
    if (between := _BETWEEN.match(condition)) is not None:
        plan["dates"] = (between[1], between[2])
    elif (equals := _EQUALS.match(condition)) is not None:
        plan["campaign_id"] = int(equals[1])
    elif (listed := _IN.match(condition)) is not None:
        plan["campaign_ids"] = [int(cid) for cid in listed[1].split(",")]
    else:
        raise _QueryError("QUERY_ERROR", f"Error in WHERE clause: unsupported condition '{condition[:80]}'.")


def _make_token(query: str, date: str | None, campaign_id: int) -> str:
    state = {"q": hashlib.sha1(query.encode()).hexdigest()[:16], "d": date, "c": campaign_id}
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def _read_token(token: str, query: str) -> tuple[str | None, int]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position = (state["d"], int(state["c"]))
    except (ValueError, KeyError, TypeError):
        raise _QueryError("INVALID_PAGE_TOKEN", "Page token is invalid.") from None
    if state.get("q") != hashlib.sha1(query.encode()).hexdigest()[:16]:
        raise _QueryError("INVALID_PAGE_TOKEN", "Page token does not belong to this query.")
    return position


def _camel_path(field: str) -> str:
    return ".".join(re.sub(r"_([a-z])", lambda m: m[1].upper(), part) for part in field.split("."))


def _drop_zero_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """Proto3 JSON leaves out fields holding their default value, so a day without clicks has no ``clicks``."""
    return {_camel_path(k): v for k, v in row.items() if not (k.startswith("metrics.") and v in _METRICS_ZERO)}


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        head, _, leaf = path.partition(".")
        out.setdefault(head, {})[leaf] = value
    return out


def _error(code: int, message: str, failures: list, extra: list | None = None) -> Reply:
    """A ``google.rpc.Status`` body with a ``GoogleAdsFailure`` detail, as every Google Ads REST error is."""
    errors = [f if isinstance(f, dict) else {"errorCode": {f[0]: f[1]}, "message": f[2]} for f in failures]
    details = [*(extra or []), {"@type": FAILURE_TYPE, "errors": errors,
                                "requestId": hashlib.sha1(message.encode()).hexdigest()[:22]}]
    return Reply(code, {"error": {"code": code, "message": message, "status": _STATUS_WORDS.get(code, "UNKNOWN"),
                                  "details": details}})
