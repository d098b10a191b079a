"""Google Ads API adapter (REST v17): daily campaign performance by GAQL search, pause and resume by campaign mutate.

Why it looks the way it does:
- Conversions are restated for days after the click, so every pull re-reads ``lookback_days`` before the committed
  watermark (``segments.date``); landing merges by (campaign.id, segments.date), which keeps that loss-free and
  duplicate-free.
- Google's JSON writes int64 as strings and leaves out fields holding their default value, so a day with no clicks
  has no ``clicks``: fields the response's ``fieldMask`` names but a row lacks are zero, not missing. A field the
  mask does not name (Google renamed it) is passed through under its new name, where the contract sees the drift.
- Auth is two secrets deep: an OAuth access token refreshed from a refresh token (``token_url``, Google's
  ``oauth2.googleapis.com/token`` in production) and a developer token. Only the first can be refreshed; a refused
  developer token fails at once with the variable to fix.
- Google Ads sends no rate-limit headers: a quota breach is a 429 ``RESOURCE_EXHAUSTED`` whose ``retryDelay`` is
  honoured, and the probe reports the last one seen.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator

import httpx

from ...contracts.errors import ConfigError, SourceError, StewardError
from ...contracts.batch import Batch, Stream
from ._protocol import ControlResult, Health
from ._records import DEFAULT_BATCH_ROWS, batched, to_batch
from .http import HttpLayer, OAuthToken, RetryPolicy, Verdict, default_classify, resolve_env
from .paginate import PageTokenPaginator
from .streams import streams_for

__all__ = ["GoogleAdsAdapter", "classify", "REPORT_FIELDS"]

# The report's columns in the export's (GAQL) names, and how each JSON value becomes the export's type. The
# contract aliases are exactly these names, so the frame needs no renaming.
REPORT_FIELDS: dict[str, Any] = {
    "campaign.id": str, "campaign.name": str, "campaign.status": str, "segments.date": str,
    "metrics.cost_micros": int, "metrics.impressions": int, "metrics.clicks": int, "metrics.conversions": float,
    "metrics.conversions_value": float,  # JSON ``conversionsValue``: the revenue Google credits, a double
}
_ZERO = {int: 0, float: 0.0}
_CREDENTIALS = ("client_id", "client_secret", "refresh_token", "developer_token")
_STATES_PER_QUERY = 500  # campaign ids in one status query: ~6 KB of GAQL, well within a request
# google.rpc status -> what the HTTP layer should do about it
_STATUS_KIND = {"UNAUTHENTICATED": "auth", "RESOURCE_EXHAUSTED": "retry", "UNAVAILABLE": "retry",
                "INTERNAL": "retry", "DEADLINE_EXCEEDED": "retry", "ABORTED": "retry"}


class GoogleAdsAdapter:
    """One Google Ads customer account. Options: ``customer_id`` (required), ``login_customer_id`` (a manager),
    ``lookback_days`` (3), ``history_days`` (first pull, 1095), ``token_url``, ``api_version`` (v17)."""

    platform = "google_ads"
    incremental = True

    def __init__(self, name: str, *, base_url: str | None, credentials: dict[str, str],
                 entities: list[str] | None = None, options: dict[str, Any] | None = None,
                 policy: RetryPolicy = RetryPolicy(), batch_rows: int = DEFAULT_BATCH_ROWS,
                 client: httpx.Client | None = None) -> None:
        opts = options or {}
        self.name, self.batch_rows = name, batch_rows
        if not base_url:
            raise ConfigError(f"integration '{name}': google_ads needs a base_url (https://googleads.googleapis.com)")
        missing = [c for c in _CREDENTIALS if c not in credentials]
        if missing:
            raise ConfigError(f"integration '{name}': credential '{missing[0]}' is not configured; name the "
                              f"environment variable that holds it under credentials")
        self.customer_id = _digits(opts.get("customer_id"))
        if not self.customer_id:
            raise ConfigError(f"integration '{name}': options.customer_id (the Google Ads account, 10 digits) is "
                              f"not set")
        self.login_customer_id = _digits(opts.get("login_customer_id"))
        self.lookback_days, self.history_days = int(opts.get("lookback_days", 3)), int(opts.get("history_days", 1095))
        self.version = str(opts.get("api_version", "v17"))
        self.token_url = str(opts.get("token_url") or f"{base_url.rstrip('/')}/token")
        self._credentials = dict(credentials)
        self._last_quota: str | None = None  # the last RESOURCE_EXHAUSTED, for the probe
        known = {s.entity: s for s in streams_for("google_ads") if s.entity == "campaign_stats"}
        unknown = sorted(set(entities or []) - set(known))
        if unknown:
            raise ConfigError(f"integration '{name}': google_ads has no API entity {unknown}; known: {sorted(known)}")
        self._streams = [known[e] for e in (entities or known)]
        self.http = HttpLayer(name, base_url, OAuthToken(self._fetch_token),
                              classify=lambda response: self._note_quota(classify(response)),
                              auth_headers=self._headers, policy=policy, client=client)

    # -- SourceAdapter ---------------------------------------------------------------------------------------------
    def streams(self) -> list[Stream]:
        return list(self._streams)

    def pull(self, entity: str, since: datetime | date | str | None = None) -> Iterator[Batch]:
        """Rows from ``since`` minus the lookback window to today, in date order, ``batch_rows`` at a time."""
        stream = next((s for s in self._streams if s.entity == entity), None)
        if stream is None:
            raise SourceError(f"integration '{self.name}': no entity '{entity}' (pulls: campaign_stats)")
        start, end = self._window(since)
        query = (f"SELECT {', '.join(REPORT_FIELDS)} FROM campaign "
                 f"WHERE segments.date BETWEEN '{start}' AND '{end}' ORDER BY segments.date")
        source = f"{self.http.client.base_url}{self._path('googleAds:search')}"
        for records, watermark in batched(self._rows(query), "segments.date", self.batch_rows):
            yield to_batch(self.name, stream, records, source, watermark)

    def probe(self) -> Health:
        """A one-row customer query: proves both tokens and the account access, and times the round trip."""
        now, started, retries = datetime.now(timezone.utc), time.perf_counter(), self.http.stats.retries
        try:
            self._search("SELECT customer.id FROM customer LIMIT 1", "customer")
        except StewardError as exc:
            return Health(self.name, "down", str(exc), now)
        took = (time.perf_counter() - started) * 1000
        retried = self.http.stats.retries - retries
        detail = (f"auth ok for customer {self.customer_id}; latency {took:.0f} ms; {retried} retries; quota: "
                  f"{self._last_quota or 'no RESOURCE_EXHAUSTED seen'} (Google Ads sends no rate-limit headers; "
                  f"a breach is a 429 with retryDelay)")
        return Health(self.name, "degraded" if retried else "healthy", detail, now, took)

    def pause(self, campaign_id: str, reason: str) -> ControlResult:
        return self._set_status(campaign_id, "pause", "PAUSED")

    def resume(self, campaign_id: str, reason: str) -> ControlResult:
        return self._set_status(campaign_id, "resume", "ENABLED")

    def close(self) -> None:
        self.http.close()

    # -- internals -------------------------------------------------------------------------------------------------
    def _window(self, since: datetime | date | str | None) -> tuple[str, str]:
        """End is tomorrow in UTC: accounts in time zones ahead of UTC already report 'today' as tomorrow's date."""
        end = datetime.now(timezone.utc).date() + timedelta(days=1)
        if since is None:
            return (end - timedelta(days=self.history_days)).isoformat(), end.isoformat()
        first = date.fromisoformat(str(since)[:10]) - timedelta(days=self.lookback_days)
        return first.isoformat(), max(end, first).isoformat()

    def _rows(self, query: str) -> Iterator[list[dict[str, Any]]]:
        for results, mask in self._pages(query):
            yield [_record(row, mask) for row in results]

    def _pages(self, query: str, entity: str = "campaign_stats") -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
        """Follows ``nextPageToken`` (the shared paginator refuses a token seen twice)."""
        def fetch(token: str | None) -> dict[str, Any]:
            body = {"query": query, **({"pageToken": token} if token else {})}
            return self.http.call("POST", self._path("googleAds:search"), json_body=body) or {}

        for page in PageTokenPaginator(self.name, self.platform, entity).pages(fetch):
            mask = [f for f in str(page.get("fieldMask", "")).split(",") if f]
            yield page.get("results") or [], mask

    def _search(self, query: str, entity: str = "campaigns") -> list[dict[str, Any]]:
        return [row for results, _ in self._pages(query, entity) for row in results]

    def campaign_state(self, campaign_id: str) -> str:
        """``paused`` (PAUSED) or ``active`` (ENABLED), else Google's status in lower case (``removed``)."""
        status = str(self._status(campaign_id)[1])
        return {"PAUSED": "paused", "ENABLED": "active"}.get(status, status.lower())

    def campaign_states(self, campaign_ids: list[str]) -> dict[str, str]:
        """The states of many campaigns, ``_STATES_PER_QUERY`` ids to a GAQL query (``campaign.id IN (...)``), in
        ``campaign_state``'s words; an id that is not digits, or not found in the customer, is left out."""
        wanted: dict[str, list[str]] = {}
        for given in campaign_ids:
            if cid := _digits(given):
                wanted.setdefault(cid, []).append(given)
        found: dict[str, str] = {}
        ids = sorted(wanted)
        for start in range(0, len(ids), _STATES_PER_QUERY):
            chunk = ids[start:start + _STATES_PER_QUERY]
            rows = self._search(f"SELECT campaign.id, campaign.status FROM campaign WHERE campaign.id IN "
                                f"({', '.join(chunk)})")  # digits only: nothing else reaches the query
            for row in rows:
                campaign = row.get("campaign", {})
                status = str(campaign.get("status"))
                for given in wanted.get(str(campaign.get("id")), []):
                    found[given] = {"PAUSED": "paused", "ENABLED": "active"}.get(status, status.lower())
        return found

    def _status(self, campaign_id: str) -> tuple[str, Any]:
        """The campaign's digits and its status as Google reports it (ENABLED, PAUSED, REMOVED)."""
        cid = _digits(campaign_id)
        if not cid:
            raise SourceError(f"integration '{self.name}': '{campaign_id}' is not a Google Ads campaign id (digits)")
        rows = self._search(f"SELECT campaign.id, campaign.status FROM campaign WHERE campaign.id = {cid}")
        if not rows:
            raise SourceError(f"integration '{self.name}': campaign {cid} not found in customer {self.customer_id}")
        return cid, rows[0].get("campaign", {}).get("status")

    def _set_status(self, campaign_id: str, action: str, target: str) -> ControlResult:
        """Reads the status first, so a repeated pause changes nothing and sends no mutate."""
        cid, current = self._status(campaign_id)
        if current == target:
            return ControlResult(self.name, cid, action, False, f"already {target}")  # type: ignore[arg-type]
        update = {"resourceName": f"customers/{self.customer_id}/campaigns/{cid}", "status": target}
        self.http.call("POST", self._path("campaigns:mutate"),
                       json_body={"operations": [{"update": update, "updateMask": "status"}]})
        return ControlResult(self.name, cid, action, True, f"{current} -> {target}")  # type: ignore[arg-type]

    def _path(self, method: str) -> str:
        return f"/{self.version}/customers/{self.customer_id}/{method}"

    def _headers(self, access_token: str) -> dict[str, str]:
        """Re-read on every call, so a rotated developer token is picked up without a restart."""
        developer = resolve_env(self.name, {"developer_token": self._credentials["developer_token"]})
        headers = {"Authorization": f"Bearer {access_token}", "developer-token": developer["developer_token"]}
        if self.login_customer_id:
            headers["login-customer-id"] = self.login_customer_id
        return headers

    def _fetch_token(self, client: httpx.Client) -> tuple[str, float | None]:
        secrets = resolve_env(self.name, {k: self._credentials[k] for k in _CREDENTIALS[:3]})
        try:
            answer = self.http.call("POST", self.token_url, data={"grant_type": "refresh_token", **secrets},
                                    authenticated=False)
        except SourceError as exc:
            names = ", ".join(self._credentials[k] for k in _CREDENTIALS[:3])
            raise SourceError(f"{exc}; Google refused the OAuth refresh: check {names}") from None
        return answer["access_token"], float(answer.get("expires_in") or 3599)

    def _note_quota(self, verdict: Verdict) -> Verdict:
        if verdict.kind == "retry" and "RESOURCE_EXHAUSTED" in verdict.reason:
            self._last_quota = verdict.reason[:160]
        return verdict


def classify(response: httpx.Response) -> Verdict:
    """Reads Google's ``google.rpc.Status`` errors (and the OAuth endpoint's flat ones) into a verdict."""
    if response.status_code < 400:
        return default_classify(response)
    try:
        body = response.json()
    except ValueError:
        return default_classify(response)  # an HTML page from a proxy: judge by status alone
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):  # oauth2.googleapis.com: {"error": "invalid_grant", "error_description": ...}
        return Verdict("fail", f"OAuth {error}: {body.get('error_description', '')}")
    if not isinstance(error, dict):
        return default_classify(response)
    codes = [f"{k}.{v}" for f in _failures(error) for k, v in (f.get("errorCode") or {}).items()]
    reason = f"HTTP {response.status_code} {error.get('status')}: {error.get('message')} [{', '.join(codes)}]"
    if any(".DEVELOPER_TOKEN" in c for c in codes):  # a new OAuth token would not help
        return Verdict("fail", f"{reason}; check the developer_token credential")
    kind = _STATUS_KIND.get(str(error.get("status")), "fail")
    return Verdict(kind, reason, _retry_delay(error) if kind == "retry" else None)  # type: ignore[arg-type]


def _failures(error: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for d in error.get("details") or [] if str(d.get("@type", "")).endswith("GoogleAdsFailure")
            for e in d.get("errors") or []]


def _retry_delay(error: dict[str, Any]) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` is a protobuf Duration in JSON: ``"30s"``, ``"1.500s"``."""
    for detail in error.get("details") or []:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            found = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(detail.get("retryDelay", "")))
            if found:
                return float(found[1])
    return None


def _record(row: dict[str, Any], mask: list[str]) -> dict[str, Any]:
    """One ``GoogleAdsRow`` as an export row: dotted snake_case names, int64 strings as ints, omitted fields zero."""
    flat = {path: value for path, value in _flatten(row) if not path.endswith("resourceName")}
    for path in mask:
        if not path.endswith("resourceName"):
            flat.setdefault(path, None)
    out: dict[str, Any] = {}
    for path, value in flat.items():
        name = _snake(path)
        parse = REPORT_FIELDS.get(name)
        out[name] = _ZERO.get(parse) if value is None and parse in _ZERO else (
            parse(value) if parse and value is not None else value)
    return out


def _flatten(obj: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{path}.")
        else:
            yield path, value


def _snake(path: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m[1].lower(), path)


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))

