"""The demo's platforms as running APIs: one emulator per platform on 127.0.0.1, seeded from a demo workspace.

``steward demo`` starts this stack so the demo pulls through the same HTTP adapters a team points at Salesforce,
HubSpot and Google Ads, and pauses campaigns through their APIs. The credentials the emulators accept are demo
values, handed to the adapters the way real ones are: through environment variables the config names.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..sources.streams import FILES_ONLY
from .google_ads import GoogleAdsEmulator
from .hubspot import HubspotEmulator
from .marketo import MarketoEmulator
from .salesforce import SalesforceEmulator

__all__ = ["EmulatorStack", "DEMO_ENV"]

# Demo credentials (not secrets: they open only the local emulators) and the variables that carry them.
DEMO_ENV: dict[str, str] = {
    "STEWARD_DEMO_SF_CLIENT_ID": "steward-demo",
    "STEWARD_DEMO_SF_CLIENT_SECRET": "steward-demo-secret",
    "STEWARD_DEMO_HUBSPOT_TOKEN": "pat-na1-steward-demo",
    "STEWARD_DEMO_MARKETO_CLIENT_ID": "steward-client",
    "STEWARD_DEMO_MARKETO_CLIENT_SECRET": "steward-secret",
    "STEWARD_DEMO_GADS_CLIENT_ID": "steward-emulator.apps.googleusercontent.com",
    "STEWARD_DEMO_GADS_CLIENT_SECRET": "emulator-client-secret",
    "STEWARD_DEMO_GADS_REFRESH_TOKEN": "1//emulator-refresh-token",
    "STEWARD_DEMO_GADS_DEVELOPER_TOKEN": "emulator-developer-tok",
}
GADS_CUSTOMER_ID = "1234567890"


@dataclass
class EmulatorStack:
    """Running emulators by platform, and the ``integrations`` entries of a config that pulls from them."""

    root: Path
    platforms: tuple[str, ...] = ("salesforce", "hubspot", "google_ads")
    emulators: dict[str, Any] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)

    def start(self) -> "EmulatorStack":
        for key, value in DEMO_ENV.items():
            os.environ.setdefault(key, value)
        makers = {
            "salesforce": lambda: SalesforceEmulator.from_workspace(
                self.root, client_id=DEMO_ENV["STEWARD_DEMO_SF_CLIENT_ID"],
                client_secret=DEMO_ENV["STEWARD_DEMO_SF_CLIENT_SECRET"]),
            "hubspot": lambda: HubspotEmulator.from_workspace(
                self.root, tokens=[DEMO_ENV["STEWARD_DEMO_HUBSPOT_TOKEN"]]),
            "marketo": lambda: MarketoEmulator.from_workspace(
                self.root, client_id=DEMO_ENV["STEWARD_DEMO_MARKETO_CLIENT_ID"],
                client_secret=DEMO_ENV["STEWARD_DEMO_MARKETO_CLIENT_SECRET"]),
            "google_ads": lambda: GoogleAdsEmulator.from_workspace(
                self.root, customer_id=GADS_CUSTOMER_ID, client_id=DEMO_ENV["STEWARD_DEMO_GADS_CLIENT_ID"],
                client_secret=DEMO_ENV["STEWARD_DEMO_GADS_CLIENT_SECRET"],
                refresh_token=DEMO_ENV["STEWARD_DEMO_GADS_REFRESH_TOKEN"],
                developer_token=DEMO_ENV["STEWARD_DEMO_GADS_DEVELOPER_TOKEN"]),
        }
        try:
            for platform in self.platforms:
                self.emulators[platform] = self._stack.enter_context(makers[platform]())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stack.close()
        self.emulators.clear()

    def __enter__(self) -> "EmulatorStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def integrations(self) -> list[dict[str, Any]]:
        """Config entries (``kind: api``) for the running emulators, credentials by variable name only. Entities
        an API cannot give back (``FILES_ONLY``) keep their export-files integration from ``steward.yaml``."""
        return self.integrations_for({platform: emu.base_url for platform, emu in self.emulators.items()})

    @staticmethod
    def integrations_for(urls: dict[str, str]) -> list[dict[str, Any]]:
        """Config entries for emulators at ``urls`` (platform -> base URL), wherever they run."""
        credentials = {
            "salesforce": {"client_id": "STEWARD_DEMO_SF_CLIENT_ID", "client_secret": "STEWARD_DEMO_SF_CLIENT_SECRET"},
            "hubspot": {"token": "STEWARD_DEMO_HUBSPOT_TOKEN"},
            "marketo": {"client_id": "STEWARD_DEMO_MARKETO_CLIENT_ID",
                        "client_secret": "STEWARD_DEMO_MARKETO_CLIENT_SECRET"},
            "google_ads": {"client_id": "STEWARD_DEMO_GADS_CLIENT_ID", "client_secret": "STEWARD_DEMO_GADS_CLIENT_SECRET",
                           "refresh_token": "STEWARD_DEMO_GADS_REFRESH_TOKEN",
                           "developer_token": "STEWARD_DEMO_GADS_DEVELOPER_TOKEN"},
        }
        options = {"google_ads": {"customer_id": GADS_CUSTOMER_ID}}
        return [{"name": platform, "platform": platform, "kind": "api", "base_url": url,
                 "credentials": credentials[platform], "options": options.get(platform, {})}
                for platform, url in urls.items()]
