"""A large demo over the APIs reads HubSpot's email events from the export file and everything else through the
emulators: the same rows land as from the files, and the emulator never loads or serves the events it is not asked
for (at scale 100 that is 15M events held in memory for nothing)."""

from __future__ import annotations

import dataclasses

import pytest

from steward.flows.config import load_config
from steward.flows.demo import API_EVENTS_MAX, prepare_demo, read_from_files, write_emulated_config
from steward.flows.pull import pull_integration
from steward.integrations.emulator.stack import EmulatorStack
from steward.integrations.sources import ExportFilesAdapter, build_adapter
from steward.integrations.warehouse import Warehouse

ENTITIES = ("contacts", "marketing_emails", "email_events", "subscriptions")


def _counts(wh: Warehouse) -> dict[str, int]:
    with wh.connect() as con:
        return {e: con.execute(f'select count(*) from raw."hubspot__{e}"').fetchone()[0] for e in ENTITIES}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("large-demo")
    config, ws = prepare_demo(root, scale=0.1)
    return root, config, ws


def test_only_more_events_than_an_api_pull_should_page_are_read_from_the_file(demo):
    _, _, ws = demo
    assert read_from_files(ws) == {}
    big = dataclasses.replace(ws, counts={**ws.counts, "hubspot.email_events": API_EVENTS_MAX + 1})
    assert read_from_files(big) == {"hubspot": ["email_events"]}


def test_events_from_the_file_and_the_rest_through_the_api_land_what_the_files_land(demo, tmp_path):
    root, config, _ = demo
    by_files = Warehouse(tmp_path / "files.duckdb")
    pull_integration(ExportFilesAdapter("hubspot", "hubspot", root / "exports" / "hubspot", by_files), by_files, "f")

    mixed = Warehouse(tmp_path / "mixed.duckdb")
    with EmulatorStack(root, platforms=("hubspot",)) as stack:
        emulated = load_config(write_emulated_config(config, stack.integrations(), {"hubspot": ["email_events"]}))
        hubspot = {i.name: i for i in emulated.integrations if i.platform == "hubspot"}
        assert hubspot["hubspot"].kind == "api"
        assert hubspot["hubspot"].entities == ["contacts", "marketing_emails", "subscriptions"]
        assert hubspot["hubspot-files"].kind == "export_files"
        assert hubspot["hubspot-files"].entities == ["email_events"]
        for i in hubspot.values():
            adapter = build_adapter(i.name, i.platform, i.kind, root / i.path if i.path else None, mixed, i.entities,
                                    base_url=i.base_url, credentials=i.credentials, options=i.options)
            pull_integration(adapter, mixed, "m")
        emu = stack.emulators["hubspot"]
        assert not [r for r in emu.requests if "events" in r.path]
        assert emu.query("select count(*) n from email_events")[0]["n"] == 0  # never loaded
    assert _counts(mixed) == _counts(by_files)
    assert _counts(mixed)["email_events"] > 1000
