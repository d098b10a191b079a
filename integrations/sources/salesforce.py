"""Salesforce REST adapter: OAuth2 client-credentials login, SOQL ``queryAll`` paged by ``nextRecordsUrl`` in
SystemModstamp order, deletions as tombstones, Campaign ``IsActive`` as the pause switch, ``limits`` as the probe.

The fields pulled are the ones the object's ``describe`` lists, not a fixed list: an org's custom fields and renamed
fields then arrive as they are and the source contract reports the drift, exactly as it does for a Data Loader
export of the same org. ``queryAll`` (not ``query``) is used so a record deleted since the last pull comes back with
``IsDeleted = true`` at its place in SystemModstamp order and becomes a tombstone in the same batch that advances the
watermark past it.

Wire details: ``POST {login}/services/oauth2/token`` answers ``instance_url``, which is where every later call goes;
``Authorization: Bearer``; ``Sforce-Query-Options: batchSize=N`` (200..2000) sets the page size; errors are
``[{"errorCode", "message"}]`` lists (401 INVALID_SESSION_ID refreshes the token once; 403 REQUEST_LIMIT_EXCEEDED and
503 SERVER_UNAVAILABLE are retried with backoff); every answer carries ``Sforce-Limit-Info: api-usage=N/M``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import quote

import httpx
import pandas as pd

from ..errors import ConfigError, StewardError, SourceError
from ._protocol import Batch, ControlResult, Health, Stream
from ._records import DEFAULT_BATCH_ROWS, batched, to_batch
from .http import HttpLayer, OAuthToken, RetryPolicy, Verdict, default_classify, resolve_env
from .paginate import NextUrlPaginator
from .streams import streams_for

__all__ = ["SalesforceAdapter", "OBJECTS", "build_soql", "classify"]

OBJECTS: dict[str, str] = {"accounts": "Account", "contacts": "Contact", "leads": "Lead",
                           "opportunities": "Opportunity", "campaigns": "Campaign",
                           "campaign_members": "CampaignMember"}
CURSOR = "SystemModstamp"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
# compound and binary fields cannot be read in bulk queries the way scalar fields are; the exports omit them too
_SKIPPED_TYPES = frozenset({"address", "location", "base64"})
# describe type -> how a JSON column becomes the dtype the export reader (DuckDB's CSV sniffer) gives the same field
_DTYPES: dict[str, Callable[[pd.Series], pd.Series]] = {
    "datetime": lambda s: pd.to_datetime(s, utc=True, format="ISO8601").astype("datetime64[us, UTC]"),
    "date": lambda s: pd.to_datetime(s, format="%Y-%m-%d").astype("datetime64[us]"),
    "boolean": lambda s: s.astype("boolean"),
    "double": lambda s: pd.to_numeric(s).astype("float64"),
    "currency": lambda s: pd.to_numeric(s).astype("float64"),
    "percent": lambda s: pd.to_numeric(s).astype("float64"),
    "int": lambda s: pd.to_numeric(s).astype("Int64"),
}
# errorCode -> what to do; anything else follows the HTTP status (default_classify)
_ERROR_CODES: dict[str, str] = {"REQUEST_LIMIT_EXCEEDED": "retry", "SERVER_UNAVAILABLE": "retry",
                                "UNABLE_TO_LOCK_ROW": "retry", "QUERY_TIMEOUT": "retry", "INVALID_SESSION_ID": "auth"}
_HINTS: dict[str, str] = {
    "REQUEST_LIMIT_EXCEEDED": "the org's API request limit is used up; wait for the rolling 24-hour window or ask "
                              "the Salesforce admin to raise the limit",
    "NOT_FOUND": "check the record id",
    "INVALID_FIELD": "the object's fields changed; check the integration's entities",
    "invalid_client": "client_id / client_secret must be the connected app's consumer key and secret, and the app "
                      "must allow the client credentials flow",
}


def classify(response: httpx.Response) -> Verdict:
    """Salesforce says what went wrong in ``errorCode`` (REST) or ``error`` (OAuth); the status alone misleads
    (a used-up API limit is a 403, not a 429)."""
    code, message = _error(response)
    verdict = default_classify(response)
    if code is None:
        return verdict
    kind = _ERROR_CODES.get(code) or ("auth" if response.request.url.path.endswith("/oauth2/token") else verdict.kind)
    limit = response.headers.get("sforce-limit-info")
    reason = f"HTTP {response.status_code} {code}: {message}" + (f" ({limit})" if limit else "")
    hint = _HINTS.get(code)
    return Verdict(kind, reason + (f"; {hint}" if hint else ""), verdict.wait)  # type: ignore[arg-type]


class SalesforceAdapter:
    """One Salesforce org. ``options``: ``api_version`` (default v60.0), ``page_size`` (200..2000)."""

    platform = "salesforce"
    incremental = True

    def __init__(self, name: str, *, base_url: str | None, credentials: dict[str, str],
                 entities: list[str] | None = None, options: dict[str, Any] | None = None,
                 policy: RetryPolicy = RetryPolicy(), batch_rows: int = DEFAULT_BATCH_ROWS,
                 client: httpx.Client | None = None) -> None:
        options = options or {}
        missing = [k for k in ("client_id", "client_secret") if k not in credentials]
        if missing:
            raise ConfigError(f"integration '{name}': credentials need '{missing[0]}' (the name of the environment "
                              "variable holding the connected app's consumer key / secret)")
        self.name, self._credentials = name, {k: credentials[k] for k in ("client_id", "client_secret")}
        resolve_env(name, self._credentials)  # fail at configuration time, not mid-pull
        self.version = str(options.get("api_version", "v60.0"))
        self._page_size = min(2000, max(200, int(options.get("page_size", 2000))))
        self._batch_rows, self._login_url = batch_rows, (base_url or DEFAULT_LOGIN_URL).rstrip("/")
        known = {s.entity: dataclasses.replace(s, path=f"sobjects/{OBJECTS[s.entity]}", format="json")
                 for s in streams_for("salesforce")}
        unknown = sorted(set(entities or []) - set(known))
        if unknown:
            raise ConfigError(f"integration '{name}': unknown Salesforce entities {unknown}; known: {sorted(known)}")
        self._streams = [known[e] for e in entities] if entities else list(known.values())
        self._http = HttpLayer(name, self._login_url, OAuthToken(self._login), classify=classify, policy=policy,
                               rate_limit_prefixes=("sforce-limit-info",), client=client)

    def streams(self) -> list[Stream]:
        return list(self._streams)

    def close(self) -> None:
        self._http.close()

    # -- pull ------------------------------------------------------------------------------------------------------
    def pull(self, entity: str, since: datetime | str | None = None) -> Iterator[Batch]:
        """Every record changed at or after ``since`` (inclusive: a crash re-pulls the last batch and merges)."""
        stream = next((s for s in self._streams if s.entity == entity), None)
        if stream is None:
            raise SourceError(f"integration '{self.name}': no entity '{entity}'")
        fields = self._describe(OBJECTS[entity])
        soql = build_soql(OBJECTS[entity], list(fields), since)
        source = f"{self._login_url} queryAll {OBJECTS[entity]}"
        for records, watermark in batched(self._pages(soql, entity), CURSOR, self._batch_rows):
            live = [_strip(r) for r in records if not r.get("IsDeleted")]
            gone = [r["Id"] for r in records if r.get("IsDeleted")]
            batch = to_batch(self.name, stream, live, source, _iso_utc(watermark), gone)
            yield dataclasses.replace(batch, frame=_typed(batch.frame, fields))

    def _describe(self, sobject: str) -> dict[str, str]:
        """Field name -> describe type, in the object's field order."""
        answer = self._http.call("GET", f"/services/data/{self.version}/sobjects/{sobject}/describe")
        fields = {f["name"]: f["type"] for f in answer.get("fields", []) if f.get("type") not in _SKIPPED_TYPES}
        if "Id" not in fields or CURSOR not in fields:
            raise SourceError(f"integration '{self.name}': Salesforce object {sobject} has no Id or {CURSOR} field; "
                              "it cannot be pulled incrementally")
        return fields

    def _pages(self, soql: str, entity: str) -> Iterator[list[dict[str, Any]]]:
        first = f"/services/data/{self.version}/queryAll"
        headers = {"Sforce-Query-Options": f"batchSize={self._page_size}"}

        def fetch(next_url: str | None) -> dict[str, Any]:
            url = next_url or first
            answer = self._http.call("GET", url, params=None if next_url else {"q": soql}, headers=headers)
            if not isinstance(answer, dict) or not isinstance(answer.get("records"), list):
                raise SourceError(f"integration '{self.name}': GET {url} answered without a records list")
            return answer

        for answer in NextUrlPaginator(self.name, self.platform, entity).pages(fetch):
            yield answer["records"]

    # -- health and control ----------------------------------------------------------------------------------------
    def probe(self) -> Health:
        """``DailyApiRequests`` from ``limits``: the headroom is measured here and judged by the health rules."""
        now = datetime.now(timezone.utc)
        try:
            limits = self._http.call("GET", f"/services/data/{self.version}/limits")
        except StewardError as exc:
            return Health(self.name, "down", str(exc), now)
        daily = (limits or {}).get("DailyApiRequests") or {}
        most, left = daily.get("Max"), daily.get("Remaining")
        share = left / most if most and left is not None else None
        latency = self._http.stats.last_latency_s or 0.0
        usage = self._http.stats.rate_limit_headers.get("sforce-limit-info", "no Sforce-Limit-Info header")
        detail = (f"auth ok; latency {latency * 1000:.0f} ms; DailyApiRequests {left}/{most} remaining"
                  + (f" ({share:.0%} headroom)" if share is not None else "") + f"; {usage}")
        # the share left is reported, not judged: the health rules hold the threshold (policy ``min_headroom``)
        return Health(self.name, "down" if share == 0 else "healthy", detail, now, latency * 1000, share)

    def pause(self, campaign_id: str, reason: str) -> ControlResult:
        return self._set_active(campaign_id, False, reason)

    def resume(self, campaign_id: str, reason: str) -> ControlResult:
        return self._set_active(campaign_id, True, reason)

    def campaign_state(self, campaign_id: str) -> str:
        """``paused`` or ``active`` from the Campaign's ``IsActive``."""
        path = f"/services/data/{self.version}/sobjects/Campaign/{quote(campaign_id, safe='')}"
        current = self._http.call("GET", path, params={"fields": "IsActive"}) or {}
        return "active" if current.get("IsActive") is True else "paused" if current.get("IsActive") is False \
            else "unknown"

    def _set_active(self, campaign_id: str, active: bool, reason: str) -> ControlResult:
        """Read ``IsActive`` first: Salesforce accepts a PATCH that changes nothing, so only the read says whether
        this call changed the campaign."""
        action = "resume" if active else "pause"
        path = f"/services/data/{self.version}/sobjects/Campaign/{quote(campaign_id, safe='')}"
        current = self._http.call("GET", path, params={"fields": "IsActive"}) or {}
        if current.get("IsActive") is active:
            return ControlResult(self.name, campaign_id, action, False,  # type: ignore[arg-type]
                                 f"Campaign {campaign_id} already has IsActive={str(active).lower()}")
        self._http.call("PATCH", path, json_body={"IsActive": active})
        return ControlResult(self.name, campaign_id, action, True,  # type: ignore[arg-type]
                             f"Campaign {campaign_id} IsActive set to {str(active).lower()} ({reason})")

    # -- auth ------------------------------------------------------------------------------------------------------
    def _login(self, client: httpx.Client) -> tuple[str, float | None]:
        """Client-credentials login; the org's own ``instance_url`` becomes the base of every later call.

        Salesforce sends no ``expires_in`` (the session timeout is an org setting), so the token is kept until a
        401 INVALID_SESSION_ID makes the HTTP layer log in again."""
        secrets = resolve_env(self.name, self._credentials)
        answer = self._http.call("POST", f"{self._login_url}/services/oauth2/token", authenticated=False,
                                 data={"grant_type": "client_credentials", **secrets})
        if not isinstance(answer, dict) or not answer.get("access_token") or not answer.get("instance_url"):
            raise SourceError(f"integration '{self.name}': the Salesforce login answered without an access_token "
                              "and instance_url; check the login URL (base_url) in the config")
        client.base_url = httpx.URL(str(answer["instance_url"]).rstrip("/"))
        return answer["access_token"], None


def build_soql(sobject: str, fields: list[str], since: datetime | str | None = None) -> str:
    """The one query shape pulls send: keyed by the cursor, then Id, so equal timestamps page deterministically."""
    where = f" WHERE {CURSOR} >= {_soql_datetime(since)}" if since is not None else ""
    return f"SELECT {', '.join(fields)} FROM {sobject}{where} ORDER BY {CURSOR}, Id"


def _error(response: httpx.Response) -> tuple[str | None, str]:
    """(errorCode, message) from a Salesforce error body: a REST list or an OAuth object."""
    if response.status_code < 400:
        return None, ""
    try:
        body = response.json()
    except ValueError:
        return None, ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        lines = str(body[0].get("message") or "").strip().splitlines()  # SOQL errors end with the sentence
        return body[0].get("errorCode"), lines[-1] if lines else ""
    if isinstance(body, dict) and "error" in body:
        return body["error"], str(body.get("error_description", ""))
    return None, ""


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("attributes", "IsDeleted")}


def _typed(frame: pd.DataFrame, fields: dict[str, str]) -> pd.DataFrame:
    """Columns in describe order and dtypes; a field the API started serving under a new name mid-pull is kept."""
    names = [f for f in fields if f != "IsDeleted"]
    frame = frame.reindex(columns=[*names, *(c for c in frame.columns if c not in names)])
    for column in names:
        convert = _DTYPES.get(fields[column])
        frame[column] = convert(frame[column]) if convert else frame[column].astype("string")
    return frame


def _soql_datetime(value: datetime | str) -> str:
    """A SOQL datetime literal, floored to the second (``>=`` then still includes ``value``)."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_utc(value: str | None) -> str | None:
    """Salesforce's ``2026-11-06T23:40:00.000+0000`` as fixed-width ``2026-11-06T23:40:00.000Z`` (sorts as text)."""
    if value is None:
        return None
    return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
