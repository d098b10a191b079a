"""The one HTTP layer every API adapter shares: auth, retries with backoff, rate limits, timeouts, clear failures.

Platforms disagree on how they say "slow down" or "your token expired" (Salesforce answers 401 INVALID_SESSION_ID,
Marketo answers HTTP 200 with error 601 in the body, HubSpot 429 with its own headers), so each adapter passes a
``classify`` function that reads a response into a ``Verdict``; everything else (the retry loop, honouring
``Retry-After``, refreshing a token exactly once, turning the last failure into one actionable line that names the
integration) lives here, on httpx and tenacity. Pagination is shared too (``paginate.py``): an adapter only says
which strategy its platform uses.

The ``httpx.Client`` can be passed in: production builds its own, tests hand in one on ``httpx.MockTransport`` (or
an emulator in-process) and get the same retries, token refresh and messages without a socket.

Secrets never leave this module: error messages carry the method and path only, never headers or query strings.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ...contracts.errors import ConfigError, SourceError

__all__ = ["Verdict", "TokenSource", "EnvToken", "OAuthToken", "HttpLayer", "RetryPolicy", "default_classify",
           "resolve_env", "HttpStats", "tls_context"]


@dataclass(frozen=True)
class Verdict:
    """How one response reads: usable, worth retrying (after ``wait`` seconds if the API said), a dead token, or final."""

    kind: Literal["ok", "retry", "auth", "fail"]
    reason: str = ""
    wait: float | None = None
    payload: Any = None


@dataclass(frozen=True)
class RetryPolicy:
    """Defaults suit a nightly pull; tests shorten the waits, never the logic."""

    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    timeout: float = 30.0


@dataclass
class HttpStats:
    """What the last calls looked like, for the health probe: latency, retries, the API's own rate-limit headers."""

    requests: int = 0
    retries: int = 0
    token_refreshes: int = 0
    last_status: int | None = None
    last_latency_s: float | None = None
    rate_limit_headers: dict[str, str] = field(default_factory=dict)


class TokenSource(Protocol):
    def get(self, http: httpx.Client) -> str: ...

    def refresh(self, http: httpx.Client) -> str: ...


def resolve_env(integration: str, variables: dict[str, str]) -> dict[str, str]:
    """Credential field -> value, read from the environment variables the config names (never the values)."""
    missing = [var for var in variables.values() if not os.environ.get(var)]
    if missing:
        raise ConfigError(f"integration '{integration}': environment variable {missing[0]} is not set "
                          f"(it holds the credential '{next(k for k, v in variables.items() if v == missing[0])}')")
    return {key: os.environ[var] for key, var in variables.items()}


class EnvToken:
    """A long-lived token (HubSpot private app, Google developer token) re-read from its variable on refresh,
    so a token rotated while Steward runs is picked up without a restart."""

    def __init__(self, integration: str, variable: str) -> None:
        self.integration, self.variable = integration, variable

    def get(self, http: httpx.Client) -> str:
        return resolve_env(self.integration, {"token": self.variable})["token"]

    refresh = get


class OAuthToken:
    """A token fetched by ``fetch(http) -> (token, expires_in_seconds | None)`` and cached until shortly before expiry."""

    def __init__(self, fetch: Callable[[httpx.Client], tuple[str, float | None]], skew: float = 30.0) -> None:
        self._fetch, self._skew = fetch, skew
        self._token: str | None = None
        self._expires_at = 0.0
        self._fresh = False  # just fetched: the next call uses it even if the API said it expires at once
        self._lock = threading.Lock()

    def get(self, http: httpx.Client) -> str:
        with self._lock:
            if self._token is None or (not self._fresh and time.monotonic() >= self._expires_at):
                self._load(http)
            self._fresh = False
            return self._token  # type: ignore[return-value]

    def refresh(self, http: httpx.Client) -> str:
        with self._lock:
            self._load(http)
            return self._token  # type: ignore[return-value]

    def _load(self, http: httpx.Client) -> None:
        token, expires_in = self._fetch(http)
        self._token, self._fresh = token, True
        self._expires_at = time.monotonic() + max(0.0, (3600 if expires_in is None else expires_in) - self._skew)


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


def default_classify(response: httpx.Response) -> Verdict:
    """The HTTP-status reading most REST APIs share; platform classifiers refine it."""
    status = response.status_code
    if status == 401:
        return Verdict("auth", f"HTTP 401 {_excerpt(response)}")
    if status == 429:
        return Verdict("retry", f"HTTP 429 rate limited {_excerpt(response)}", _retry_after(response))
    if status >= 500 or status == 408:
        return Verdict("retry", f"HTTP {status} {_excerpt(response)}", _retry_after(response))
    if status >= 400:
        return Verdict("fail", f"HTTP {status} {_excerpt(response)}")
    if status == 204 or not response.content:
        return Verdict("ok", payload=None)
    try:
        return Verdict("ok", payload=response.json())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return Verdict("retry", f"HTTP {status} with a malformed JSON body ({len(response.content)} bytes)")


_TLS: dict[tuple[str, str], Any] = {}
_TLS_LOCK = threading.Lock()


def tls_context() -> Any:
    """The process's one ``ssl.SSLContext`` for HTTPS, as httpx builds it by default (certifi's bundle, or
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set: one context per value of those two). httpx builds one for every
    client, loading and parsing the whole CA bundle (~20 ms of CPU), where a context is meant to be shared by every
    connection and thread; a run builds a client per API integration and per token endpoint."""
    key = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    with _TLS_LOCK:
        context = _TLS.get(key)
        if context is None:
            context = _TLS[key] = httpx.create_ssl_context()
        return context


class HttpLayer:
    """One integration's connection to its API.

    Args:
        integration: The configured name; every error message starts with it.
        base_url: Where the API lives (the emulator's URL in tests and the demo).
        token: Where the bearer token comes from; None for an API that needs none (token endpoints).
        classify: Reads a response into a ``Verdict``.
        auth_headers: Token -> headers (most APIs: ``Authorization: Bearer``).
        rate_limit_prefixes: Response headers worth keeping for the health probe.
        client: A client to send through (tests: ``httpx.Client(transport=httpx.MockTransport(handler))``); its
            ``base_url`` is set to ``base_url`` when it has none. None builds one with the policy's timeout, closed by
            ``close()``; a client passed in stays its owner's to close.
    """

    def __init__(self, integration: str, base_url: str, token: TokenSource | None = None, *,
                 classify: Callable[[httpx.Response], Verdict] = default_classify,
                 auth_headers: Callable[[str], dict[str, str]] = lambda t: {"Authorization": f"Bearer {t}"},
                 headers: dict[str, str] | None = None, policy: RetryPolicy = RetryPolicy(),
                 rate_limit_prefixes: tuple[str, ...] = ("x-ratelimit", "retry-after"),
                 client: httpx.Client | None = None) -> None:
        self.integration, self.token, self.policy = integration, token, policy
        self._classify, self._auth_headers, self._prefixes = classify, auth_headers, rate_limit_prefixes
        self._owns_client = client is None
        if client is None:
            client = httpx.Client(base_url=base_url.rstrip("/"), timeout=policy.timeout, headers=headers or {},
                                  follow_redirects=False, verify=tls_context())
        else:
            if not str(client.base_url):
                client.base_url = httpx.URL(base_url.rstrip("/"))
            client.headers.update(headers or {})
        self.client = client
        self.stats = HttpStats()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def call(self, method: str, url: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
             data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
             authenticated: bool = True) -> Any:
        """The parsed JSON answer, after retries; raises ``SourceError`` naming the integration when it gives up."""
        refreshed = [False]
        target = url.split("?", 1)[0]

        def attempt() -> Any:
            hdrs = dict(headers or {})
            if authenticated and self.token is not None:
                hdrs.update(self._auth_headers(self.token.get(self.client)))
            started = time.perf_counter()
            try:
                response = self.client.request(method, url, params=params, json=json_body, data=data, headers=hdrs)
            except httpx.TimeoutException as exc:
                raise _Retry(f"timed out after {self.policy.timeout:g} s ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise _Retry(f"connection failed ({type(exc).__name__}: {exc})") from None
            self._observe(response, time.perf_counter() - started)
            verdict = self._classify(response)
            if verdict.kind == "ok":
                return verdict.payload
            if verdict.kind == "retry":
                raise _Retry(verdict.reason, verdict.wait)
            if verdict.kind == "auth" and authenticated and self.token is not None and not refreshed[0]:
                refreshed[0] = True
                self.stats.token_refreshes += 1
                self.token.refresh(self.client)
                raise _Retry("token refreshed", 0.0)
            if verdict.kind == "auth":
                raise SourceError(f"integration '{self.integration}': the API rejected the credentials "
                                  f"{'after one token refresh ' if refreshed[0] else ''}on {method} {target}: "
                                  f"{verdict.reason}; check the credential environment variables in the config")
            raise SourceError(f"integration '{self.integration}': {method} {target} failed: {verdict.reason}")

        retrying = Retrying(stop=stop_after_attempt(self.policy.attempts), wait=self._wait,
                            retry=retry_if_exception_type(_Retry), reraise=True, before_sleep=self._count_retry)
        try:
            return retrying(attempt)
        except _Retry as exc:
            raise SourceError(f"integration '{self.integration}': {method} {target} failed after "
                              f"{self.policy.attempts} attempts: {exc.reason}") from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.wait is not None:
            return min(exc.wait, self.policy.max_wait)
        return wait_exponential_jitter(initial=self.policy.initial_wait, max=self.policy.max_wait)(state)

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1

    def _observe(self, response: httpx.Response, seconds: float) -> None:
        self.stats.requests += 1
        self.stats.last_status, self.stats.last_latency_s = response.status_code, seconds
        kept = {k.lower(): v for k, v in response.headers.items() if k.lower().startswith(self._prefixes)}
        if kept:
            self.stats.rate_limit_headers = kept


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "")
