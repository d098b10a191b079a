"""The HubSpot adapter against the HubSpot emulator over real sockets: every entity lands exactly what the export
files land, with and without each fault; crashes resume without loss or duplicates; tokens refresh once; workflows
pause and resume idempotently; the official hubspot-api-client reads the same records."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from adapter_suite import judged
from steward.contracts.policy import HealthRules
from steward.integrations.emulator._platform import Fault, RateLimit
from steward.integrations.emulator.hubspot import HubspotEmulator
from steward.contracts.errors import SourceError
from steward.integrations.warehouse.landing import read_watermark
from steward.integrations.demo.generator import generate_workspace
from steward.flows.pull import pull_integration
from steward.integrations.sources import ExportFilesAdapter, build_adapter
from steward.integrations.sources.http import RetryPolicy
from steward.integrations.sources.streams import streams_for
from steward.integrations.warehouse import Warehouse
from steward.contracts.registry import contract_for

NAME, TOKEN_VAR = "hubspot", "STEWARD_TEST_HUBSPOT_TOKEN"
# The timeout is generous (a loaded machine must still fetch a 10,000-row page); the slow faults hold longer.
POLICY = RetryPolicy(attempts=6, initial_wait=0.01, max_wait=0.05, timeout=5.0)
# The slow fault is the one case whose timeout is under test: a short timeout there, the answer held well past it,
# so each pull pays 2 s, not 5. A 1000-row page a busy machine answers late is timed out and asked again like the held
# one (six attempts), so no speed of the machine fails the case.
SLOW_POLICY = replace(POLICY, timeout=2.0)
STREAMS = {s.entity: s for s in streams_for("hubspot")}
# entity -> batch_rows, page_size (both small so every pull spans several pages and batches), a field to rename
SHAPES = {"contacts": (100, 100, ("lifecyclestage", "lifecycle_stage")),
          "marketing_emails": (2, 2, ("salesforceCampaignId", "salesforce_campaign_id")),
          "email_events": (4000, 1000, ("portalId", "portal_id")),
          "subscriptions": (100, 100, ("legalBasis", "legal_basis"))}
# requests an entity's first batch takes, so a fault after them strikes once something has landed
FIRST_BATCH_REQUESTS = {"contacts": 2, "marketing_emails": 2, "email_events": 5, "subscriptions": 5}
# fault -> (faults to plan, what the request log shows once it fired); skip=1 lands each one mid-pull
FAULTS: dict[str, tuple[Callable[[], list[Fault]], Callable[[Any], bool]]] = {
    "none": (lambda: [], lambda r: True),
    "429_storm": (lambda: [Fault("status", count=4, status=429, skip=1)], lambda r: r.fault == "429"),
    "5xx": (lambda: [Fault("status", count=3, status=503, skip=1)], lambda r: r.fault == "503"),
    "slow": (lambda: [Fault("slow", count=1, delay=5.0, skip=1)], lambda r: r.fault == "slow"),  # SLOW_POLICY
    "truncated": (lambda: [Fault("truncate", count=1, skip=1)], lambda r: r.fault == "truncate"),
    "malformed": (lambda: [Fault("malformed", count=1, skip=1)], lambda r: r.fault == "malformed"),
    "token_expiry": (lambda: [Fault("expire_tokens", count=1, skip=1)], lambda r: r.status == 401),
    "renamed_field": (lambda: [], lambda r: True),
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hubspot") / "ws"
    generate_workspace(root, scale=0.1)
    return root


@pytest.fixture(scope="module")
def expected(workspace, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """What the export-file path lands per entity: rows (contract columns as text), quarantine count, max cursor."""
    wh = Warehouse(tmp_path_factory.mktemp("export") / "x.duckdb")
    folder = workspace / "exports" / "hubspot"
    pull_integration(ExportFilesAdapter(NAME, "hubspot", folder, wh), wh, "export-run")
    out = {}
    for entity, stream in STREAMS.items():
        records = [json.loads(line) for line in (folder / stream.path).read_text().splitlines() if line]
        out[entity] = {"rows": _rows(wh, entity), "keys": _keys(wh, entity), "quarantined": _quarantined(wh, entity),
                       "watermark": max(str(r[stream.cursor]) for r in records)}
    return out


@pytest.fixture
def emu(workspace, monkeypatch):
    hs = HubspotEmulator.from_workspace(workspace)
    monkeypatch.setenv(TOKEN_VAR, hs.issue_token())
    hs.on_expire = lambda token: monkeypatch.setenv(TOKEN_VAR, token)  # the operator rotates the token
    with hs:
        yield hs


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    return Warehouse(tmp_path / "x.duckdb")


def _adapter(emu: HubspotEmulator, entity: str | None = None, policy: RetryPolicy = POLICY,
             batch_rows: int | None = None, **options: Any):
    shape_rows, page_size, _ = SHAPES[entity] if entity else (5000, 1000, None)
    batch_rows = batch_rows or shape_rows
    return build_adapter(NAME, "hubspot", "api", None, None, [entity] if entity else None, base_url=emu.base_url,
                         credentials={"token": TOKEN_VAR}, options={"page_size": page_size, **options},
                         policy=policy, batch_rows=batch_rows)


def _rows(wh: Warehouse, entity: str) -> list[tuple]:
    columns = ", ".join(f'"{c}"::VARCHAR' for c in contract_for(f"hubspot.{entity}").columns())
    keys = ", ".join(f'"{k}"' for k in STREAMS[entity].primary_key.split(","))
    with wh.connect() as con:
        return con.execute(f'select {columns} from raw."hubspot__{entity}" order by {keys}').fetchall()


def _keys(wh: Warehouse, entity: str) -> list[tuple]:
    keys = ", ".join(f'"{k}"' for k in STREAMS[entity].primary_key.split(","))
    with wh.connect() as con:
        return con.execute(f'select {keys} from raw."hubspot__{entity}" order by {keys}').fetchall()


def _quarantined(wh: Warehouse, entity: str) -> int:
    with wh.connect() as con:
        return con.execute("select count(*) from ledger.quarantine where entity = ?", [entity]).fetchone()[0]


def _assert_landed_like_export(wh: Warehouse, entity: str, want: dict[str, Any], same_values: bool = True) -> None:
    with wh.pinned():  # one open of the file for the four reads (an open and its checkpoint cost ~25 ms each)
        keys = _keys(wh, entity)
        assert len(keys) == len(set(keys)), "duplicate keys in raw"
        assert keys == want["keys"]
        if same_values:
            assert _rows(wh, entity) == want["rows"]
        assert _quarantined(wh, entity) == want["quarantined"]
        assert read_watermark(wh, NAME, entity) == want["watermark"]


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("entity", list(SHAPES))
def test_pull_lands_what_the_export_lands(entity, fault, emu, wh, expected):
    plan, fired = FAULTS[fault]
    for f in plan():
        emu.faults.add(f)
    if fault == "renamed_field":
        emu.rename_field(entity, *SHAPES[entity][2])
    pull_integration(_adapter(emu, entity, SLOW_POLICY if fault == "slow" else POLICY), wh, "run-1")
    _assert_landed_like_export(wh, entity, expected[entity], same_values=fault != "renamed_field")
    assert any(fired(r) for r in emu.requests), f"the {fault} fault never fired"
    if fault == "renamed_field":
        old, new = SHAPES[entity][2]
        with wh.connect() as con:
            drifts = [json.loads(d) for (d,) in con.execute(
                "select drift from ledger.batches where entity = ? and drift is not null", [entity]).fetchall()]
        assert drifts and all(d["renamed"] == {old: new} for d in drifts)


@pytest.mark.parametrize("crash", ["between_batches", "retries_exhausted"])
@pytest.mark.parametrize("entity", list(SHAPES))
def test_crash_mid_pull_then_rerun_loses_and_duplicates_nothing(entity, crash, emu, wh, expected):
    adapter = _adapter(emu, entity)
    if crash == "between_batches":
        pull = adapter.pull

        def crashing(name, since=None):
            for i, batch in enumerate(pull(name, since)):
                if i == 1:
                    raise RuntimeError("process killed between batches")
                yield batch

        adapter.pull = crashing
        with pytest.raises(RuntimeError):
            pull_integration(adapter, wh, "run-1")
    else:
        emu.faults.add(Fault("status", count=POLICY.attempts, status=503, skip=FIRST_BATCH_REQUESTS[entity]))
        with pytest.raises(SourceError, match=f"^integration '{NAME}'"):
            pull_integration(adapter, wh, "run-1")
        emu.faults.clear()
    assert 0 < len(_keys(wh, entity)) < len(expected[entity]["keys"])
    pull_integration(_adapter(emu, entity), wh, "run-2")
    _assert_landed_like_export(wh, entity, expected[entity])


def test_whole_integration_matches_export_warehouse(emu, wh, expected):
    pull_integration(_adapter(emu), wh, "run-1")
    for entity in SHAPES:
        _assert_landed_like_export(wh, entity, expected[entity])
    pull_integration(_adapter(emu), wh, "run-2")  # a re-run re-pulls from the watermarks and merges by key
    for entity in SHAPES:
        _assert_landed_like_export(wh, entity, expected[entity])


def test_incremental_pull_brings_changes_and_tombstones(emu, wh, expected):
    pull_integration(_adapter(emu, "contacts"), wh, "run-1")
    first_id = expected["contacts"]["rows"][0][0]
    gone_id = expected["contacts"]["rows"][1][0]
    emu.touch_contact(first_id, lifecyclestage="customer")
    emu.archive_contact(gone_id)
    landed = pull_integration(_adapter(emu, "contacts"), wh, "run-2")
    assert sum(item.result.rows_loaded for item in landed) < 5  # only what changed at or after the watermark
    with wh.connect() as con:
        stage = con.execute('select lifecyclestage from raw."hubspot__contacts" where id = ?', [first_id]).fetchone()
        tomb = con.execute("select record_id from ledger.tombstones where entity = 'contacts'").fetchall()
    assert stage == ("customer",)
    assert tomb == [(gone_id,)]
    assert read_watermark(wh, NAME, "contacts") > expected["contacts"]["watermark"]


def test_search_restarts_past_the_10000_result_cap(emu):
    emu.load_synthetic(contacts=21_000)
    adapter = _adapter(emu, "contacts", page_size=200)
    ids = [i for batch in adapter.pull("contacts") for i in batch.frame["id"]]
    assert len(ids) == len(set(ids)) == 21_000
    assert not [r for r in emu.requests if r.status == 400]


def test_search_refuses_to_page_past_the_cap_like_hubspot(emu):
    token = os.environ[TOKEN_VAR]
    answer = httpx.post(f"{emu.base_url}/crm/v3/objects/contacts/search", json={"limit": 100, "after": "10000"},
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400 and answer.json()["category"] == "VALIDATION_ERROR"


def test_rate_limit_window_is_waited_out(emu, wh, expected):
    # one request a second: the next page of a batch follows its predecessor well within a second even on a loaded
    # machine, so a 429 comes whatever the machine's speed (3 per 0.15 s never came when requests took longer);
    # the adapter waits the second HubSpot's SECONDLY answer asks for (the test policy would cap it at 0.05 s).
    # Contacts in one batch of three pages, a 429 before each (the emulator limits every endpoint alike), where
    # email events' 16 pages waited 15 s for the same proof
    emu.rate_limit = RateLimit(limit=1, window=1.0)
    pages = -(-len(expected["contacts"]["keys"]) // SHAPES["contacts"][1])
    assert pages >= 3
    pull_integration(_adapter(emu, "contacts", policy=replace(POLICY, max_wait=1.0),
                              batch_rows=len(expected["contacts"]["keys"])), wh, "run-1")
    _assert_landed_like_export(wh, "contacts", expected["contacts"])
    limited = [r for r in emu.requests if r.status == 429]
    assert limited


def test_wrong_token_refreshes_once_then_names_the_integration(emu, wh, monkeypatch):
    monkeypatch.setenv(TOKEN_VAR, "pat-na1-not-a-real-token")
    adapter = _adapter(emu, "contacts")
    with pytest.raises(SourceError) as err:
        pull_integration(adapter, wh, "run-1")
    message = str(err.value)
    assert message.startswith(f"integration '{NAME}'") and "HTTP 401" in message
    assert "pat-na1-not-a-real-token" not in message and "check the credential environment variables" in message
    assert adapter.http.stats.token_refreshes == 1
    assert [r.status for r in emu.requests] == [401, 401]


def test_expired_token_not_rotated_fails_after_one_refresh(emu, wh):
    emu.on_expire = None
    emu.faults.add(Fault("expire_tokens", count=1, skip=1))
    with pytest.raises(SourceError, match="EXPIRED_AUTHENTICATION"):
        pull_integration(_adapter(emu, "email_events"), wh, "run-1")


def test_pause_and_resume_a_workflow_idempotently(emu):
    adapter = _adapter(emu)
    first = adapter.pause("700001", "over-optimised")
    again = adapter.pause("700001", "over-optimised")
    assert (first.changed, again.changed) == (True, False)
    assert emu.campaign_state["700001"] == "paused" and emu.flows["700001"]["isEnabled"] is False
    resumed, again = adapter.resume("700001", "fixed"), adapter.resume("700001", "fixed")
    assert (resumed.changed, again.changed) == (True, False)
    assert [(c.campaign_id, c.action, c.state) for c in emu.controls] == [
        ("700001", "pause", "paused"), ("700001", "resume", "active")]
    assert emu.flows["700001"]["revisionId"] == "3"


def test_pause_survives_a_lost_answer_and_stale_revisions_are_refused(emu):
    emu.faults.add(Fault("truncate", count=1, path=r"/automation/v4/flows/700002", skip=1))  # the PUT's answer
    result = _adapter(emu).pause("700002", "risky")
    assert result.changed and emu.campaign_state["700002"] == "paused"
    token = os.environ[TOKEN_VAR]
    stale = httpx.put(f"{emu.base_url}/automation/v4/flows/700002", headers={"Authorization": f"Bearer {token}"},
                      json={**emu.flows["700002"], "revisionId": "1", "isEnabled": True})
    assert stale.status_code == 409 and stale.json()["category"] == "CONFLICT"
    with pytest.raises(SourceError, match=f"^integration '{NAME}'.*404"):
        _adapter(emu).pause("999", "no such flow")


def test_probe_reports_headroom_and_never_raises(emu):
    health = _adapter(emu).probe()
    assert health.state == "healthy" and "190/190 left per 10 s" in health.detail
    emu.rate_limit = RateLimit(limit=10, window=10.0)
    adapter = _adapter(emu)
    for _ in range(9):
        adapter.probe()
    # the adapter reports the headroom; the policy's min_headroom judges it
    low, verdicts = judged(adapter, default=HealthRules().min_headroom, lenient=0.0)
    assert low.probe_state == "healthy" and low.headroom < HealthRules().min_headroom
    assert (verdicts["default"].state, verdicts["default"].rule) == ("degraded", "quota.low")
    assert verdicts["lenient"].state == "healthy"  # a policy that accepts it: no hard-coded 10 % overrides it


def test_official_client_reads_the_same_contacts(emu, expected):
    from hubspot import HubSpot
    from hubspot.crm.contacts import ApiException, Filter, FilterGroup, PublicObjectSearchRequest

    client = HubSpot(access_token=os.environ[TOKEN_VAR], host=emu.base_url)
    want = {row[0]: row for row in expected["contacts"]["rows"]}
    listed, after = {}, None
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["email", "firstname"])
        listed.update({c.id: c.properties for c in page.results})
        if not page.paging:
            break
        after = page.paging.next.after
    assert set(listed) == set(want)
    columns = contract_for("hubspot.contacts").columns()
    assert all(p["email"] == want[i][columns.index("email")] for i, p in listed.items())
    searched, after = [], None
    while True:
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name="hs_lastmodifieddate", operator="GTE",
                                                       value="0")])],
            sorts=["hs_lastmodifieddate"], properties=["email"], limit=100, after=after)
        page = client.crm.contacts.search_api.do_search(public_object_search_request=request)
        assert page.total == len(want)
        searched += page.results
        if not page.paging:
            break
        after = page.paging.next.after
    assert sorted(c.id for c in searched) == sorted(want)
    stamps = [c.updated_at for c in searched]
    assert stamps == sorted(stamps)
    with pytest.raises(ApiException) as err:
        HubSpot(access_token="pat-na1-wrong", host=emu.base_url).crm.contacts.basic_api.get_page(limit=1)
    assert err.value.status == 401 and json.loads(err.value.body)["category"] == "INVALID_AUTHENTICATION"


def test_a_batch_that_lost_its_key_is_refused_and_the_watermark_stays(emu, wh, expected):
    pull_integration(_adapter(emu, "email_events"), wh, "run-1")
    landed = _rows(wh, "email_events")
    emu.rename_field("email_events", "id", "eventId")  # the platform renamed the events' key
    refused = pull_integration(_adapter(emu, "email_events"), wh, "run-2")
    assert [(i.result.rows_loaded, i.watermark, i.drift) for i in refused] == \
        [(0, None, {"missing": ["id"], "added": ["eventId"], "renamed": {}})]
    source = wh.query_df("select source from ledger.schema_refusals").iloc[0, 0]
    assert refused[0].refused == (f"{source}: primary key column 'id' of hubspot.email_events is missing; "
                                  f"cannot land without it")
    assert _rows(wh, "email_events") == landed
    assert read_watermark(wh, NAME, "email_events") == expected["email_events"]["watermark"]
    emu.renamed.clear()  # fixed: the next pull resumes from the same watermark and lands as before
    pull_integration(_adapter(emu, "email_events"), wh, "run-3")
    _assert_landed_like_export(wh, "email_events", expected["email_events"])


def _event_pages(emu: HubspotEmulator) -> list[dict[str, Any]]:
    pages, offset = [], None
    with httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {os.environ[TOKEN_VAR]}"},
                      timeout=60) as client:
        while True:
            page = client.get("/email/public/v1/events", params={"limit": 1000, **({"offset": offset} if offset
                                                                                   else {})}).json()
            pages.append(page)
            if not page["hasMore"]:
                return pages
            offset = page["offset"]


def test_email_event_pages_written_by_duckdb_are_the_export_records(emu, workspace):
    """Event pages are JSON text DuckDB writes (no dict per event); they hold exactly the export's records, in
    cursor order, with HubSpot's app fields and no key for a missing campaign, as the dict-per-event answer did."""
    served = _event_pages(emu)
    lines = (workspace / "exports" / "hubspot" / "email_events.jsonl").read_text().splitlines()
    exported = sorted((json.loads(line) for line in lines), key=lambda r: (r["created"], r["id"]))
    assert [e for page in served for e in page["events"]] == [{**r, "appId": 113, "appName": "BatchEmail"}
                                                              for r in exported]
    assert any("emailCampaignId" not in r for r in exported)  # the omitted-key case is exercised
    emu.rename_field("email_events", "portalId", "portal_id")  # a renamed field takes the dict-per-event answer
    renamed = _event_pages(emu)
    assert [p["offset"] for p in renamed] == [p["offset"] for p in served]
    assert [e for p in renamed for e in p["events"]] == [
        {("portal_id" if k == "portalId" else k): v for k, v in e.items()} for p in served for e in p["events"]]
