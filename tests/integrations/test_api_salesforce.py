"""The Salesforce REST adapter against the wire-compatible emulator on 127.0.0.1: every entity lands what the export
path lands, with and without each fault; crashes resume without loss or duplicates; auth, limits and pause/resume
behave as Salesforce's do; simple-salesforce reads the emulator the same way."""

from __future__ import annotations

import math
from dataclasses import replace

import httpx
import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from adapter_suite import judged
from sf_fixtures import ENTITIES, assert_same_rows, loopback_session, max_cursor, raw, scalar, watermark
from steward.contracts.policy import HealthRules
from steward.integrations.demo.generator import generate_workspace
from steward.integrations.emulator._platform import Fault
from steward.integrations.emulator.salesforce import SalesforceEmulator
from steward.contracts.errors import SourceError
from steward.flows.pull import pull_entity, pull_integration
from steward.integrations.sources import ExportFilesAdapter, build_adapter
from steward.integrations.sources.http import RetryPolicy
from steward.integrations.sources.salesforce import build_soql
from steward.integrations.warehouse import Warehouse

# The timeout is generous (a loaded machine must still fetch a 10,000-row page); the slow faults hold longer.
POLICY = RetryPolicy(attempts=6, initial_wait=0.01, max_wait=0.05, timeout=5.0)
# The slow fault is the one case whose timeout is under test, so there the timeout is short and the answer held three
# times as long: each entity pays one short timeout, not 6 s. An ordinary 200-row page that a busy machine answers
# late is timed out and asked again like the held one (six attempts), so no speed of the machine fails the case.
SLOW_POLICY = replace(POLICY, timeout=1.0)
PAGE, BATCH_ROWS = 200, 150
# A fault strikes a page request (the second page, where an entity has several) and is retried there, whatever the
# batches are, so the fault and drift cases land each entity in one or two batches: landing (conform, judge, merge)
# is most of what a pull costs, and several batches per entity are the clean pull's and the crash cases' subject.
WHOLE_BATCH_ROWS = 1000
CLIENT_ID, SECRET = "steward-test-client", "s3cr3t-do-not-log"
QUERY = r"/query"  # queryAll and every nextRecordsUrl page
FAULTS = {
    "request_limit_storm": Fault("status", count=3, status=429, path=QUERY),  # answered as 403 REQUEST_LIMIT_EXCEEDED
    "server_unavailable": Fault("status", count=3, status=503, path=QUERY),
    "slow_beyond_timeout": Fault("slow", count=1, delay=3.0, path=QUERY),  # under SLOW_POLICY's 1 s timeout
    "truncated_page": Fault("truncate", count=1, path=QUERY),
    "malformed_body": Fault("malformed", count=1, path=QUERY),
    "session_expired": Fault("expire_tokens", count=1, path=QUERY),
}
RENAMED = {"accounts": ("Industry", "Industry__c"), "contacts": ("Email", "EmailAddress"),
           "leads": ("Company", "Company_Name__c"), "opportunities": ("Amount", "Amount__c"),
           "campaigns": ("Type", "Campaign_Type__c"), "campaign_members": ("Status", "Member_Status__c")}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return generate_workspace(tmp_path_factory.mktemp("sf-workspace"), scale=0.2)


@pytest.fixture(scope="module")
def export_wh(workspace, tmp_path_factory):
    """The same workspace pulled through the export-file path: what every API pull must reproduce."""
    wh = Warehouse(tmp_path_factory.mktemp("sf-export") / "x.duckdb")
    pull_integration(ExportFilesAdapter("sf", "salesforce", workspace.root / "exports" / "salesforce", wh), wh, "r0")
    with wh.pinned():  # only read from here on, by this process: one open for the module, not one per comparison
        yield wh


@pytest.fixture
def emu(workspace):
    with SalesforceEmulator.from_workspace(workspace, client_id=CLIENT_ID, client_secret=SECRET) as emulator:
        yield emulator


@pytest.fixture
def wh(tmp_path):
    return Warehouse(tmp_path / "x.duckdb")


@pytest.fixture
def make_adapter(emu, wh, monkeypatch):
    monkeypatch.setenv("SF_TEST_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SF_TEST_CLIENT_SECRET", SECRET)

    def make(policy: RetryPolicy = POLICY, batch_rows: int = BATCH_ROWS, **options):
        return build_adapter("sf", "salesforce", "api", None, wh, base_url=emu.base_url,
                             credentials={"client_id": "SF_TEST_CLIENT_ID", "client_secret": "SF_TEST_CLIENT_SECRET"},
                             options={"page_size": PAGE, **options}, policy=policy, batch_rows=batch_rows)
    return make


def _stream(adapter, entity):
    return next(s for s in adapter.streams() if s.entity == entity)


def _rows(emu, entity):
    obj = {"accounts": "Account", "contacts": "Contact", "leads": "Lead", "opportunities": "Opportunity",
           "campaigns": "Campaign", "campaign_members": "CampaignMember"}[entity]
    return emu.query(f'select count(*) as n from "{obj}"')[0]["n"]


def _fresh(fault: Fault, skip: int) -> Fault:
    return Fault(fault.kind, fault.count, fault.status, fault.delay, fault.path, skip)


# -- the clean path ------------------------------------------------------------------------------------------------
def test_api_pull_lands_what_the_export_path_lands(make_adapter, wh, export_wh):
    adapter = make_adapter()
    landed = pull_integration(adapter, wh, "r1")
    assert len(landed) > len(ENTITIES)  # several batches: streamed, not whole tables
    marks = {entity: watermark(wh, entity) for entity in ENTITIES}
    pull_integration(adapter, wh, "r2")  # nothing changed: re-pulls only the rows at each watermark, merged
    for entity in ENTITIES:
        assert_same_rows(wh, export_wh, entity)
        assert watermark(wh, entity) == max_cursor(raw(wh, entity)) == marks[entity]
    quarantined = "select count(*) from ledger.quarantine"
    assert scalar(wh, quarantined) == scalar(export_wh, quarantined)
    drift = "select any_value(drift)::varchar from ledger.batches where entity = 'leads'"
    assert scalar(wh, drift) == scalar(export_wh, drift) and "Lead_Source__c" in scalar(wh, drift)  # planted drift


# -- faults --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
def test_every_entity_lands_the_same_rows_through_a_fault(fault, emu, make_adapter, wh, export_wh):
    adapter = make_adapter(SLOW_POLICY if fault.kind == "slow" else POLICY, batch_rows=WHOLE_BATCH_ROWS)
    for entity in ENTITIES:
        planned = _fresh(fault, skip=1 if _rows(emu, entity) > PAGE else 0)  # mid-pull where there are pages
        emu.faults.clear()
        emu.faults.add(planned)
        pull_entity(adapter, _stream(adapter, entity), wh, "r1")
        assert planned.count == 0, f"{entity}: the fault never fired"
        with wh.pinned():  # one open of the file for the three reads
            assert_same_rows(wh, export_wh, entity)
            assert watermark(wh, entity) == max_cursor(raw(wh, entity))
    if fault.kind == "status" and fault.status == 429:
        assert {r.status for r in emu.requests if r.fault == "429"} == {403}  # Salesforce's word for it


def test_renamed_field_is_conformed_as_drift(emu, make_adapter, wh, export_wh):
    for entity, (old, new) in RENAMED.items():
        emu.rename_field(entity, old, new)
    pull_integration(make_adapter(batch_rows=WHOLE_BATCH_ROWS), wh, "r1")
    for entity, (old, new) in RENAMED.items():
        assert_same_rows(wh, export_wh, entity, skip=(old,))
        drift = scalar(wh, "select any_value(drift)::varchar from ledger.batches where entity = ?", [entity])
        assert old in drift and new in drift
        assert scalar(wh, f'select count(*) from raw."salesforce__{entity}" where _unmapped like ?',
                      [f'%"{new}"%']) == len(raw(wh, entity))  # the renamed values are kept, not lost


@pytest.mark.parametrize("entity", ["contacts", "campaign_members"])
@pytest.mark.parametrize("crash", ["generator_raises", "retries_exhausted"])
def test_crash_between_pages_then_rerun_loses_and_duplicates_nothing(crash, entity, emu, make_adapter, wh, export_wh):
    adapter = make_adapter()
    stream = _stream(adapter, entity)
    if crash == "retries_exhausted":
        emu.faults.add(Fault("status", count=POLICY.attempts, status=503, path=QUERY, skip=1))
        with pytest.raises(SourceError, match="integration 'sf'.*failed after 6 attempts.*SERVER_UNAVAILABLE"):
            pull_entity(adapter, stream, wh, "r1")
    else:
        with pytest.raises(RuntimeError, match="crash"):
            pull_entity(_CrashAfterFirstBatch(adapter), stream, wh, "r1")
    partial = raw(wh, entity)
    assert 0 < len(partial) < _rows(emu, entity) and watermark(wh, entity) == max_cursor(partial)
    pull_entity(adapter, stream, wh, "r2")
    assert_same_rows(wh, export_wh, entity)
    assert watermark(wh, entity) == max_cursor(raw(wh, entity))


class _CrashAfterFirstBatch:
    """The process dies after the first batch committed and before the next page is read."""

    def __init__(self, adapter):
        self._adapter = adapter

    def __getattr__(self, name):
        return getattr(self._adapter, name)

    def pull(self, entity, since=None):
        batches = self._adapter.pull(entity, since)
        yield next(batches)
        raise RuntimeError("crash between pages")


# -- auth and limits -----------------------------------------------------------------------------------------------
def test_expired_session_refreshes_once_then_fails_naming_the_integration(emu, make_adapter, wh):
    adapter = make_adapter()
    emu.faults.add(Fault("expire_tokens", count=100))  # every session dies at once: the credentials no longer work
    with pytest.raises(SourceError, match="integration 'sf'.*after one token refresh.*INVALID_SESSION_ID") as err:
        pull_entity(adapter, _stream(adapter, "campaigns"), wh, "r1")
    assert [r.path for r in emu.requests].count("/services/oauth2/token") == 2  # first login and one refresh
    assert SECRET not in str(err.value) and CLIENT_ID not in str(err.value)


def test_wrong_client_secret_fails_clearly(make_adapter, wh, monkeypatch):
    monkeypatch.setenv("SF_TEST_CLIENT_SECRET", "wrong-secret")
    with pytest.raises(SourceError, match="integration 'sf'.*invalid_client.*environment variables") as err:
        pull_integration(make_adapter(), wh, "r1")
    assert "wrong-secret" not in str(err.value)


def test_request_limit_exceeded_retries_then_fails_clearly(emu, make_adapter, wh):
    emu.faults.add(Fault("status", count=100, status=429, path=QUERY))
    with pytest.raises(SourceError, match="integration 'sf'.*after 6 attempts.*REQUEST_LIMIT_EXCEEDED.*api-usage="):
        pull_entity(make_adapter(), _stream(make_adapter(), "accounts"), wh, "r1")
    assert [r.status for r in emu.requests if r.fault] == [403] * POLICY.attempts


def test_daily_limit_used_up_is_enforced_and_reported(emu, make_adapter):
    adapter = make_adapter()
    healthy = adapter.probe()
    assert healthy.state == "healthy" and "DailyApiRequests" in healthy.detail and "api-usage=" in healthy.detail
    emu.api_usage = emu.daily_limit - 1_000  # the adapter reports the headroom; the policy's min_headroom judges it
    low, verdicts = judged(adapter, default=HealthRules().min_headroom, lenient=0.0)
    assert low.probe_state == "healthy" and low.headroom < HealthRules().min_headroom
    assert (verdicts["default"].state, verdicts["default"].rule) == ("degraded", "quota.low")
    assert verdicts["lenient"].state == "healthy"  # a policy that accepts it: no hard-coded 10 % overrides it
    emu.api_usage = emu.daily_limit
    assert adapter.probe().state == "down"


# -- deletions, pause and resume -----------------------------------------------------------------------------------
def test_deleted_records_become_tombstones(emu, make_adapter, wh):
    adapter = make_adapter()
    pull_entity(adapter, _stream(adapter, "contacts"), wh, "r1")
    gone = raw(wh, "contacts")["Id"].iloc[:3].tolist()
    for key in gone:
        emu.delete_record("contacts", key)
    pull_entity(adapter, _stream(adapter, "contacts"), wh, "r2")
    assert sorted(r[0] for r in _fetch(wh, "select record_id from ledger.tombstones")) == sorted(gone)
    assert watermark(wh, "contacts") > max_cursor(raw(wh, "contacts"))  # the deletions moved it on


def _fetch(wh, sql):
    with wh.connect() as con:
        return con.execute(sql).fetchall()


def test_pause_and_resume_change_state_idempotently_and_are_logged(emu, make_adapter, wh):
    adapter = make_adapter()
    campaign = "701000000000000001"
    pull_entity(adapter, _stream(adapter, "campaigns"), wh, "r1")
    steps = [("pause", True, "paused"), ("pause", False, "paused"), ("resume", True, "active"),
             ("resume", False, "active"), ("pause", True, "paused")]
    for action, changed, state in steps:
        result = getattr(adapter, action)(campaign, "over-optimised campaign")
        assert (result.action, result.changed, emu.campaign_state[campaign]) == (action, changed, state)
    assert [(c.action, c.state) for c in emu.controls] == [("pause", "paused"), ("resume", "active"),
                                                           ("pause", "paused")]
    before = watermark(wh, "campaigns")
    pull_entity(adapter, _stream(adapter, "campaigns"), wh, "r2")  # the save bumped SystemModstamp: pulled again
    landed = raw(wh, "campaigns").set_index("Id")
    assert landed.loc[campaign, "IsActive"] == False and landed.index.is_unique  # noqa: E712
    assert watermark(wh, "campaigns") > before
    with pytest.raises(SourceError, match="integration 'sf'.*404 NOT_FOUND"):
        adapter.pause("701000000000009999", "no such campaign")


@pytest.mark.parametrize("form, status, answer", [
    ({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}, 200, None),
    ({"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": "<issued>"}, 200, None),
    ({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "nope"}, 400, "invalid_client"),
    ({"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": "stale"}, 400, "invalid_grant"),
    ({"grant_type": "password", "client_id": CLIENT_ID}, 400, "unsupported_grant_type"),
])
def test_token_endpoint_speaks_oauth2(emu, form, status, answer):
    if form.get("refresh_token") == "<issued>":
        form = {**form, "refresh_token": emu.issue_refresh_token()}
    response = httpx.post(f"{emu.base_url}/services/oauth2/token", data=form)
    body = response.json()
    assert response.status_code == status
    if status == 200:
        assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
        assert body["token_type"] == "Bearer" and body["instance_url"] == emu.base_url
    else:
        assert body["error"] == answer and body["error_description"]


# -- the emulator as the official client sees it -------------------------------------------------------------------
def _official_client(emu) -> Salesforce:
    token = httpx.post(f"{emu.base_url}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], version="60.0",
                      session=loopback_session(emu.base_url))


def test_simple_salesforce_reads_and_updates_the_same_records(emu, make_adapter):
    sf = _official_client(emu)
    fields = [f["name"] for f in sf.Contact.describe()["fields"]]
    adapter = make_adapter()
    pulled = [row for batch in adapter.pull("contacts") for row in batch.frame.to_dict("records")]
    answer = sf.query_all(build_soql("Contact", fields), include_deleted=True,
                          headers={"Sforce-Query-Options": f"batchSize={PAGE}"})
    records = answer["records"]
    assert answer["totalSize"] == len(records) == len(pulled) > PAGE
    assert any(r.path.startswith("/services/data/v60.0/query/01g") for r in emu.requests)  # followed nextRecordsUrl
    assert [(r["Id"], r["Email"]) for r in records] == [(p["Id"], p["Email"]) for p in pulled]
    first = records[0]
    assert first["attributes"] == {"type": "Contact", "url": f"/services/data/v60.0/sobjects/Contact/{first['Id']}"}

    assert sf.Campaign.update("701000000000000002", {"IsActive": False}) == 204
    assert emu.campaign_state["701000000000000002"] == "paused" and emu.controls[-1].action == "pause"
    assert sf.Campaign.get("701000000000000002")["IsActive"] is False
    assert adapter.pause("701000000000000002", "already").changed is False
    assert sf.limits()["DailyApiRequests"]["Max"] == emu.daily_limit


@pytest.mark.parametrize("soql, code", [
    ("SELECT Id, Nope__c FROM Contact", "INVALID_FIELD"),
    ("SELECT Id FROM Nope", "INVALID_TYPE"),
    ("SELEC Id FROM Contact", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE SystemModstamp >= '2026-01-01'", "INVALID_FIELD"),
])
def test_bad_soql_is_answered_like_salesforce(emu, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as err:
        _official_client(emu).query(soql)
    assert err.value.content[0]["errorCode"] == code


def test_query_hides_deleted_rows_that_query_all_serves(emu):
    sf = _official_client(emu)
    emu.delete_record("campaigns", "701000000000000003")
    live = {r["Id"] for r in sf.query_all("SELECT Id FROM Campaign")["records"]}
    every = {r["Id"]: r["IsDeleted"] for r in sf.query_all("SELECT Id, IsDeleted FROM Campaign",
                                                           include_deleted=True)["records"]}
    assert "701000000000000003" not in live and every["701000000000000003"] is True
    with pytest.raises(SalesforceResourceNotFound):
        sf.Campaign.get("701000000000000003")


# -- scale ---------------------------------------------------------------------------------------------------------
def test_synthetic_rows_page_by_keyset_and_pass_the_contracts(emu, make_adapter, wh):
    for entity in ("contacts", "campaign_members", "leads"):
        emu.load_synthetic(entity, 4_500)
    adapter = make_adapter(page_size=2000)
    for entity in ("contacts", "campaign_members", "leads"):
        landed = pull_entity(adapter, _stream(adapter, entity), wh, "r1")
        assert len(landed) == math.ceil(4_500 / 2000)
        assert sum(item.result.rows_loaded for item in landed) == 4_500
        assert sum(item.result.rows_quarantined for item in landed) == 0
        assert raw(wh, entity)["Id"].is_unique
