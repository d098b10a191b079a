"""The Marketo adapter against the Marketo emulator on a real socket: every entity with and without each fault,
crash and re-run, token refresh, quota and rate limits, pause/resume, and the health probe.

There is no Marketo export in the demo workspace, so "the right rows" means what the emulator holds (seeded from
the workspace's HubSpot and Salesforce files), compared value by value with what lands in ``raw``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from steward.integrations.demo.generator import generate_workspace
from steward.integrations.emulator._platform import Fault, RateLimit
from steward.integrations.emulator.marketo import MarketoEmulator
from steward.contracts.errors import SourceError
from steward.integrations.warehouse.landing import read_watermark
from steward.flows.pull import pull_entity
from steward.integrations.sources import build_adapter
from steward.integrations.sources.http import RetryPolicy
from steward.integrations.sources.marketo import MARKETO_STREAMS, MarketoAdapter
from steward.integrations.warehouse import Warehouse

# The timeout is generous (a loaded machine must still fetch a 10,000-row page); the slow faults hold longer.
POLICY = RetryPolicy(attempts=6, initial_wait=0.01, max_wait=0.05, timeout=5.0)
# The slow fault is the one case whose timeout is under test: a short timeout there, the answer held well past it,
# so each pull pays 1 s, not 5. A page a busy machine answers late is timed out and asked again like the held one
# (six attempts), so no speed of the machine fails the case.
SLOW_POLICY = replace(POLICY, timeout=1.0)
CREDENTIALS = {"client_id": "MKTO_TEST_CLIENT_ID", "client_secret": "MKTO_TEST_CLIENT_SECRET"}
SECRET = "s3cret-never-logged"
ENTITIES = ["leads", "activities", "smart_campaigns"]
STREAM = {s.entity: s for s in MARKETO_STREAMS}
TS = "strftime({0}, '%Y-%m-%dT%H:%M:%SZ') as {0}"
# entity -> (emulator table, columns compared, timestamp columns, the cursor column)
SHAPE = {
    "leads": ("leads", ["id", "email", "firstName", "lastName", "unsubscribed", "emailInvalid", "sfdcContactId",
                        "sfdcLeadId"], ["createdAt", "updatedAt"], "updatedAt"),
    "activities": ("activities", ["id", "marketoGUID", "leadId", "activityTypeId", "primaryAttributeValueId",
                                  "primaryAttributeValue", "campaignId", "attributes"], ["activityDate"],
                   "activityDate"),
    "smart_campaigns": ("smart_campaigns", ["id", "name", "description", "status", "type", "isSystem", "isActive",
                                            "isRequestable", "isCommunicationLimitEnabled", "qualificationRuleType",
                                            "workspace", "smartListId", "flowId", "computedUrl"],
                        ["createdAt", "updatedAt"], "updatedAt"),
}
RENAMES = {"leads": ("firstName", "first_name"), "activities": ("primaryAttributeValue", "primary_attribute_value"),
           "smart_campaigns": ("description", "campaignDescription")}
# Let a few requests of each pull through first so the fault lands mid-pull (smart campaigns are a single page).
SKIP = {"leads": 3, "activities": 3, "smart_campaigns": 0}
# Small enough that each pull spans several batches, large enough to keep the suite fast.
SMALL = {"leads": 100, "activities": 2000, "smart_campaigns": 3}
FAULTS = {
    "606_rate_storm": lambda: Fault("status", count=4, status=429),  # the emulator answers 606 in the body
    "615_concurrency": lambda: Fault("status", count=2, status=615),
    "611_system_error": lambda: Fault("status", count=2, status=611),
    "http_503": lambda: Fault("status", count=3, status=503),
    "slow_past_timeout": lambda: Fault("slow", count=1, delay=4.0),  # held past SLOW_POLICY's timeout
    "truncated_page": lambda: Fault("truncate", count=1),
    "malformed_body": lambda: Fault("malformed", count=1),
    "token_expiry": lambda: Fault("expire_tokens", count=1),
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("marketo-ws")
    generate_workspace(root, scale=0.05)
    return root


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CREDENTIALS["client_id"], "steward-client")
    monkeypatch.setenv(CREDENTIALS["client_secret"], SECRET)


@pytest.fixture
def emu(workspace: Path) -> Iterator[MarketoEmulator]:
    with MarketoEmulator.from_workspace(workspace, client_secret=SECRET) as emulator:
        yield emulator


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "x.duckdb")


def adapter(emu: MarketoEmulator, wh: Warehouse, batch_rows: int = 1000,
            policy: RetryPolicy = POLICY) -> MarketoAdapter:
    """Built the way the product builds it, from config."""
    built = build_adapter("mkto", "marketo", "api", None, wh, base_url=emu.base_url, credentials=CREDENTIALS,
                          policy=policy, batch_rows=batch_rows)
    assert isinstance(built, MarketoAdapter)
    return built


def landed(wh: Warehouse, entity: str, columns: list[str] | None = None) -> list[tuple]:
    _, cols, stamps, _ = SHAPE[entity]
    select = ", ".join([f'"{c}"' for c in (columns or cols)] + [TS.format(s) for s in stamps])
    with wh.connect() as con:
        return _normalise(con.execute(f'select {select} from raw."marketo__{entity}" order by id').fetchall())


def held(emu: MarketoEmulator, entity: str, columns: list[str] | None = None) -> list[tuple]:
    table, cols, stamps, _ = SHAPE[entity]
    select = ", ".join([f'"{c}"' for c in (columns or cols)] + [TS.format(s) for s in stamps])
    return _normalise([tuple(r.values()) for r in emu.query(f"select {select} from {table} order by id")])


def _normalise(rows: list[tuple]) -> list[tuple]:
    """JSON text compared as data (whitespace may differ), everything else as is."""
    def value(v):
        return json.loads(v) if isinstance(v, str) and v.startswith("[{") else v
    return [tuple(value(v) for v in row) for row in rows]


def max_cursor(emu: MarketoEmulator, entity: str) -> str:
    table, _, _, cursor = SHAPE[entity]
    return emu.query(f"select {TS.format(cursor)} from {table} order by {cursor} desc limit 1")[0][cursor]


def assert_complete(emu: MarketoEmulator, wh: Warehouse, entity: str, columns: list[str] | None = None) -> None:
    """Same keys and values as the platform holds, no key twice, watermark at the platform's greatest cursor."""
    with wh.pinned():  # one open of the file for both reads
        rows = landed(wh, entity, columns)
        watermark = read_watermark(wh, "mkto", entity)
    assert rows == held(emu, entity, columns)
    assert len({r[0] for r in rows}) == len(rows)
    assert watermark == max_cursor(emu, entity)


def quarantined(wh: Warehouse) -> int:
    with wh.connect() as con:
        return con.execute("select count(*) from ledger.quarantine").fetchone()[0]


# -- the clean path and every fault ------------------------------------------------------------------------------


@pytest.mark.parametrize("entity", ENTITIES)
def test_pull_lands_exactly_what_marketo_holds(emu: MarketoEmulator, wh: Warehouse, entity: str) -> None:
    results = pull_entity(adapter(emu, wh, batch_rows=SMALL[entity]), STREAM[entity], wh, "run-1")
    assert len(results) >= 2  # the pull really spanned several batches  # the pull really spanned several batches
    assert_complete(emu, wh, entity)
    assert quarantined(wh) == 0
    assert all(item.drift is None for item in results)


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("entity", ENTITIES)
def test_faults_change_nothing_that_lands(emu: MarketoEmulator, wh: Warehouse, entity: str, fault: str) -> None:
    planned = FAULTS[fault]()
    planned.skip = SKIP[entity]
    emu.faults.add(planned)
    source = adapter(emu, wh, policy=SLOW_POLICY if planned.kind == "slow" else POLICY)
    pull_entity(source, STREAM[entity], wh, "run-1")
    assert planned.count == 0, "the fault never fired"
    assert source.http.stats.retries >= 1
    if fault == "token_expiry":
        assert source.http.stats.token_refreshes == 1
    assert_complete(emu, wh, entity)
    assert quarantined(wh) == 0


@pytest.mark.parametrize("entity", ENTITIES)
def test_renamed_field_is_drift_conformed_not_lost_rows(emu: MarketoEmulator, wh: Warehouse, entity: str) -> None:
    old, new = RENAMES[entity]
    paired = entity != "smart_campaigns"  # description ~ campaignDescription: too far apart to call a rename
    emu.rename_field(entity, old, new)
    results = pull_entity(adapter(emu, wh), STREAM[entity], wh, "run-1")
    kept = [c for c in SHAPE[entity][1] if c != old]
    assert_complete(emu, wh, entity, None if paired else kept)  # a paired rename lands under the stored name
    drifts = [item.drift for item in results if item.result.rows_read]
    assert drifts and all(d and d["missing"] == [old] and d["added"] == [new] for d in drifts)
    assert all((d["renamed"] == {old: new}) == paired for d in drifts)
    with wh.connect() as con:
        filled, unmapped = con.execute(
            f'select count("{old}"), count(_unmapped) from raw."marketo__{entity}"').fetchone()
        drift = con.execute("select count(*) from ledger.batches where drift is not null").fetchone()[0]
    assert (filled > 0) == paired and unmapped == len(held(emu, entity)) and drift >= 1


# -- crash and re-run --------------------------------------------------------------------------------------------


class CrashAfterFirstBatch:
    """The adapter, but the process dies after handing over its first batch."""

    def __init__(self, inner: MarketoAdapter) -> None:
        self.inner, self.name, self.platform, self.incremental = inner, inner.name, inner.platform, True

    def pull(self, entity: str, since=None):
        batches = self.inner.pull(entity, since)
        yield next(batches)
        raise RuntimeError("killed between pages")


@pytest.mark.parametrize("crash", ["process_killed", "retries_exhausted"])
@pytest.mark.parametrize("entity", ENTITIES)
def test_crash_mid_pull_then_rerun_loses_and_duplicates_nothing(emu: MarketoEmulator, wh: Warehouse, entity: str,
                                                                crash: str) -> None:
    source = adapter(emu, wh, batch_rows=SMALL[entity])
    if crash == "process_killed":
        with pytest.raises(RuntimeError):
            pull_entity(CrashAfterFirstBatch(source), STREAM[entity], wh, "run-1")  # type: ignore[arg-type]
    else:
        if entity == "smart_campaigns":
            emu.load_synthetic(campaigns=450)  # three asset pages, so the failure lands on the second
        path = {"leads": r"/leads\.json", "activities": r"/activities\.json", "smart_campaigns": r"smartCampaigns"}
        first_batch_pages = -(-SMALL[entity] // 300) + 1 if entity == "activities" else 1
        emu.faults.add(Fault("status", count=100, status=503, path=path[entity], skip=first_batch_pages))
        with pytest.raises(SourceError, match="integration 'mkto'.*failed after 6 attempts"):
            pull_entity(source, STREAM[entity], wh, "run-1")
        emu.faults.clear()
    first = read_watermark(wh, "mkto", entity)
    if entity == "smart_campaigns" and crash == "retries_exhausted":
        assert first is None  # campaigns are all read and sorted before the first batch: nothing half-landed
    else:
        assert first is not None and first < max_cursor(emu, entity)
    pull_entity(adapter(emu, wh, batch_rows=SMALL[entity] * (50 if first is None else 1)), STREAM[entity], wh,
                "run-2")
    assert_complete(emu, wh, entity)


# -- incremental pulls and tombstones ----------------------------------------------------------------------------


def test_second_pull_brings_only_changes_and_deletions(emu: MarketoEmulator, wh: Warehouse) -> None:
    source = adapter(emu, wh)
    pull_entity(source, STREAM["leads"], wh, "run-1")
    changed, gone = emu.query("select id from leads order by id limit 2")
    emu.update_lead(changed["id"], lastName="Renamed-By-Ops", unsubscribed=True)
    emu.delete_lead(gone["id"])
    before = source.http.stats.requests
    results = pull_entity(source, STREAM["leads"], wh, "run-2")
    assert sum(r.result.rows_loaded for r in results) <= 2  # the watermark's own second again, and the change
    assert source.http.stats.requests - before <= 8
    with wh.connect() as con:
        row = con.execute('select lastName, unsubscribed from raw."marketo__leads" where id = ?',
                          [changed["id"]]).fetchone()
        tombstones = con.execute(
            "select entity, record_id from ledger.tombstones where integration = 'mkto'").fetchall()
    assert row == ("Renamed-By-Ops", True)
    assert tombstones == [("leads", str(gone["id"]))]
    assert read_watermark(wh, "mkto", "leads") == max_cursor(emu, "leads")


# -- credentials, quota and rate limits --------------------------------------------------------------------------


def test_wrong_client_secret_fails_clearly_without_leaking_it(emu: MarketoEmulator, wh: Warehouse,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(CREDENTIALS["client_secret"], "wrong-" + SECRET)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError, match="integration 'mkto'.*Bad client credentials.*environment variables") as err:
        pull_entity(adapter(emu, wh), STREAM["activities"], wh, "run-1")
    assert SECRET not in str(err.value) and SECRET not in caplog.text


def test_dead_tokens_refresh_once_then_fail_naming_the_integration(workspace: Path, wh: Warehouse) -> None:
    with MarketoEmulator.from_workspace(workspace, client_secret=SECRET, token_ttl=0) as dying:
        source = adapter(dying, wh)
        with pytest.raises(SourceError, match="integration 'mkto'.*after one token refresh.*602 'Access token exp"):
            pull_entity(source, STREAM["smart_campaigns"], wh, "run-1")
        assert source.http.stats.token_refreshes == 1
        assert sum(r.path == "/identity/oauth/token" for r in dying.requests) == 2


def test_daily_quota_fails_fast_and_says_when_it_resets(emu: MarketoEmulator, wh: Warehouse) -> None:
    emu.daily_quota = 3
    source = adapter(emu, wh)
    with pytest.raises(SourceError, match="integration 'mkto'.*607.*resets at midnight US Central time"):
        pull_entity(source, STREAM["activities"], wh, "run-1")
    assert source.http.stats.retries == 0  # a quota does not come back by retrying
    assert source.probe().state == "down"


def test_rate_window_606_is_waited_out(workspace: Path, wh: Warehouse) -> None:
    """Three calls per half second: the adapter waits (606 advises the window, capped by the policy) and goes on."""
    patient = RetryPolicy(attempts=6, initial_wait=0.01, max_wait=0.3, timeout=5.0)
    with MarketoEmulator.from_workspace(workspace, client_secret=SECRET, rate_limit=RateLimit(3, 0.5)) as limited:
        source = MarketoAdapter("mkto", base_url=limited.base_url, credentials=CREDENTIALS, policy=patient,
                                batch_rows=100)
        pull_entity(source, STREAM["leads"], wh, "run-1")
        assert source.http.stats.retries >= 1
        assert_complete(limited, wh, "leads")


def test_emulator_speaks_marketo_identity_and_query_token(emu: MarketoEmulator) -> None:
    """The documented GET form of the identity call, and ``access_token`` in the query string, both work."""
    with httpx.Client(base_url=emu.base_url) as client:
        token = client.get("/identity/oauth/token", params={"grant_type": "client_credentials",
                                                            "client_id": "steward-client",
                                                            "client_secret": SECRET}).json()
        assert token["token_type"] == "bearer" and token["expires_in"] == 3599
        usage = client.get("/rest/v1/stats/usage.json", params={"access_token": token["access_token"]}).json()
        assert usage["success"] is True and usage["result"][0]["total"] == 1
        bad = client.get("/rest/v1/stats/usage.json", params={"access_token": "nope"})
        assert bad.status_code == 200 and bad.json()["errors"][0]["code"] == "601"
        denied = client.get("/identity/oauth/token", params={"grant_type": "client_credentials",
                                                             "client_id": "x", "client_secret": "y"})
        assert denied.status_code == 401 and denied.json()["error"] == "invalid_client"


# -- pause, resume, probe ----------------------------------------------------------------------------------------


def test_pause_and_resume_a_trigger_campaign(emu: MarketoEmulator, wh: Warehouse) -> None:
    source = adapter(emu, wh)
    first, again = source.pause("1001", "over-optimised"), source.pause("1001", "over-optimised")
    assert (first.changed, again.changed) == (True, False)
    assert emu.campaign_state["1001"] == "Inactive"
    assert emu.query("select status, isActive from smart_campaigns where id = 1001") == [
        {"status": "Inactive", "isActive": False}]
    back, back_again = source.resume("1001", "reviewed"), source.resume("1001", "reviewed")
    assert (back.changed, back_again.changed) == (True, False)
    assert emu.campaign_state["1001"] == "Active"
    assert [(c.campaign_id, c.action, c.changed, c.state) for c in emu.controls] == [
        ("1001", "pause", True, "Inactive"), ("1001", "resume", True, "Active")]


@pytest.mark.parametrize("campaign, message", [
    ("1006", "709.*only trigger smart campaigns"),  # a batch campaign
    ("9999", "smart campaign 9999 not found"),
    ("../leads", "not a Marketo id"),
])
def test_pause_refusals_are_clear(emu: MarketoEmulator, wh: Warehouse, campaign: str, message: str) -> None:
    with pytest.raises(SourceError, match=f"integration 'mkto'.*{message}"):
        adapter(emu, wh).pause(campaign, "test")
    assert emu.controls == []


def test_probe_reports_quota_headroom_and_outage(emu: MarketoEmulator, wh: Warehouse) -> None:
    source = adapter(emu, wh)
    health = source.probe()
    assert health.state == "healthy"
    assert "of 50000 daily API calls used" in health.detail and "midnight CST" in health.detail
    emu.faults.add(Fault("status", count=100, status=503))
    down = source.probe()
    assert down.state == "down" and "integration 'mkto'" in down.detail and "503" in down.detail
