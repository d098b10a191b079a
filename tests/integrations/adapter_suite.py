"""The one table of API platforms the shared adapter suite (``test_adapter_suite.py``) runs over.

Every API adapter must behave the same way where the behaviour is common: page through every page, refuse a page
marker it already followed, retry 429 and 5xx, ride out a truncated or malformed page and a dead token, give up
with one line naming the integration and never a secret, turn refused credentials into one line, pause / resume /
read a campaign's state idempotently, report its headroom to the health rules. The suite checks those for every row of ``PLATFORMS``, in two layers: the emulator in-process
(``PlatformEmulator.transport()``, an ``httpx.MockTransport``: no socket, fast) and the emulator on 127.0.0.1 (the
integration layer, real sockets). What only one platform does stays in its own ``test_api_<platform>.py``.

Adding a platform: its adapter file, its streams, its emulator, and one ``Platform(...)`` line below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import httpx

from steward.contracts.policy import HealthRules
from steward.integrations.emulator._platform import PlatformEmulator
from steward.integrations.emulator.google_ads import GoogleAdsEmulator
from steward.integrations.emulator.hubspot import HubspotEmulator
from steward.integrations.emulator.marketo import MarketoEmulator
from steward.integrations.emulator.salesforce import SalesforceEmulator
from steward.contracts.health_rules import Verdict, verdict
from steward.contracts.health_signals import LedgerSignals, ProbeSignals, Signals
from steward.integrations.health.signals import probe_signals
from steward.integrations.sources import build_adapter
from steward.integrations.sources.http import RetryPolicy

# The timeout is generous (the machine is loaded); only the waits between retries are short.
POLICY = RetryPolicy(attempts=6, initial_wait=0.01, max_wait=0.05, timeout=10.0)
SF_CLIENT, SECRET = "steward-suite-client", "s3cr3t-suite-never-logged"


@dataclass(frozen=True)
class Platform:
    """What the suite needs to know about one API platform; everything else it learns through the adapter."""

    name: str  # the platform key ``build_adapter`` knows
    emulator: Callable[[Path], PlatformEmulator]  # seeded from the demo workspace
    secrets: Callable[[Any], dict[str, str]]  # credential field -> the value this emulator accepts
    entity: str  # an entity whose pull spans several pages in the suite's workspace
    pages: str  # regex of that entity's paged request path
    campaign: str  # an active campaign that pause and resume may switch
    count: str  # SQL on the emulator's database: how many records of ``entity`` it holds
    options: Callable[[Any], dict[str, Any]] = field(default=lambda emu: {})

    @property
    def integration(self) -> str:
        return f"suite-{self.name.replace('_', '-')}"

    def credentials(self, emu: Any) -> dict[str, str]:
        """Credential field -> environment variable name (what a config file holds)."""
        return {key: f"SUITE_{self.name.upper()}_{key.upper()}" for key in self.secrets(emu)}


def _google_ads(root: Path) -> GoogleAdsEmulator:
    emulator = GoogleAdsEmulator.from_workspace(root)
    emulator.page_size = 20  # Google's is a fixed 10,000; 20 makes the small workspace span pages
    return emulator


PLATFORMS = [
    Platform("salesforce", lambda root: SalesforceEmulator.from_workspace(root, client_id=SF_CLIENT,
                                                                          client_secret=SECRET),
             lambda emu: {"client_id": SF_CLIENT, "client_secret": SECRET}, "contacts", r"/query",
             "701000000000000001", 'select count(*) as n from "Contact"', lambda emu: {"page_size": 200}),
    Platform("hubspot", lambda root: HubspotEmulator.from_workspace(root), lambda emu: {"token": emu.issue_token()},
             "contacts", r"/contacts/search", "700001", "select count(*) as n from contacts where not archived",
             lambda emu: {"page_size": 100}),
    Platform("marketo", lambda root: MarketoEmulator.from_workspace(root, client_secret=SECRET),
             lambda emu: {"client_id": "steward-client", "client_secret": SECRET}, "activities",
             r"/activities\.json", "1001", "select count(*) as n from activities"),
    Platform("google_ads", _google_ads,
             lambda emu: emu.credentials(),
             "campaign_stats", r"googleAds:search", "9000000007", "select count(*) as n from campaign_stats",
             lambda emu: {"customer_id": emu.customer_id}),
]


def set_credentials(platform: Platform, emu: Any, monkeypatch: Any) -> dict[str, str]:
    """Put the emulator's secrets in the environment under the names the config gives; returns field -> value."""
    values, variables = platform.secrets(emu), platform.credentials(emu)
    for key, variable in variables.items():
        monkeypatch.setenv(variable, values[key])
    if hasattr(emu, "on_expire"):  # a long-lived token (HubSpot's private app): the operator rotates a dead one
        emu.on_expire = lambda token: monkeypatch.setenv(variables["token"], token)
    return values


def make_adapter(platform: Platform, emu: Any, client: httpx.Client | None, batch_rows: int = 10_000,
                 base_url: str | None = None) -> Any:
    """Built the way the product builds it (``build_adapter`` from config), sending through ``client``."""
    return build_adapter(platform.integration, platform.name, "api", None, None, [platform.entity],
                         base_url=base_url or emu.base_url, credentials=platform.credentials(emu),
                         options=platform.options(emu), policy=POLICY, batch_rows=batch_rows, client=client)


def judged(adapter: Any, **min_headroom: float) -> tuple[ProbeSignals, dict[str, Verdict]]:
    """One probe, judged by the health rules once per ``name=min_headroom`` (the adapter reports, the policy
    decides). Latency is not what these tests judge (a loaded machine may be slow), so its limit is lifted."""
    probe = probe_signals(adapter)
    signals = Signals(adapter.name, adapter.platform, datetime.now(timezone.utc), probe, LedgerSignals())
    return probe, {name: verdict(signals, HealthRules(max_latency_ms=600_000, min_headroom=value))
                   for name, value in min_headroom.items()}


def http_of(adapter: Any) -> Any:
    """The adapter's HTTP layer (its stats: requests, retries, token refreshes)."""
    return getattr(adapter, "http", None) or getattr(adapter, "_http")


class Replay(httpx.BaseTransport):
    """A platform stuck on one page: every request to ``pattern`` after the first gets the first answer again, so
    the next-page marker repeats. Everything else goes to ``inner``."""

    def __init__(self, inner: httpx.BaseTransport, pattern: str) -> None:
        self.inner, self.pattern, self.first = inner, re.compile(pattern), None
        self.replayed = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.pattern.search(request.url.path):
            return self.inner.handle_request(request)
        if self.first is None:
            response = self.inner.handle_request(request)
            self.first = (response.status_code, dict(response.headers), response.read())
            return httpx.Response(self.first[0], headers=self.first[1], content=self.first[2])
        self.replayed += 1
        return httpx.Response(self.first[0], headers=self.first[1], content=self.first[2])


class Unreachable(httpx.BaseTransport):
    """No route to the platform: every request fails to connect."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)
