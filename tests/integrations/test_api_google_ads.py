"""The Google Ads adapter against its wire-compatible emulator on 127.0.0.1: same rows as the export, under faults."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pandas as pd
import pytest

from steward.contracts.registry import contract_for
from steward.integrations.demo.exports import write_csv
from steward.integrations.demo.generator import generate_workspace
from steward.integrations.emulator._platform import Fault
from steward.integrations.emulator.google_ads import FAILURE_TYPE, RETRY_INFO_TYPE, GoogleAdsEmulator
from steward.contracts.errors import SourceError
from steward.integrations.warehouse.landing import read_watermark
from steward.flows.pull import pull_integration
from steward.integrations.sources import ExportFilesAdapter, build_adapter
from steward.integrations.sources.google_ads import GoogleAdsAdapter
from steward.integrations.sources.http import RetryPolicy
from steward.integrations.warehouse import Warehouse

# The timeout is generous (a loaded machine must still fetch a 10,000-row page); the slow faults hold longer.
POLICY = RetryPolicy(attempts=6, initial_wait=0.01, max_wait=0.05, timeout=5.0)
# The slow fault is the one case whose timeout is under test: a short timeout there, the answer held well past it.
# A 20-row page a busy machine answers late is timed out and asked again like the held one (six attempts).
SLOW_POLICY = replace(POLICY, timeout=1.0)
CREDENTIALS = {"client_id": "GADS_CLIENT_ID", "client_secret": "GADS_CLIENT_SECRET",
               "refresh_token": "GADS_REFRESH_TOKEN", "developer_token": "GADS_DEVELOPER_TOKEN"}
STREAM = "google_ads.campaign_stats"
TABLE = 'raw."google_ads__campaign_stats"'
KEYS = ["campaign.id", "segments.date"]
SEARCH = r"googleAds:search"
AS_OF = pd.Timestamp("2026-11-25 12:00", tz="UTC")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    # a fixed as_of: the days the tests below edit (1-5 Oct, 22 Nov) must lie inside the workspace's ad history
    return generate_workspace(tmp_path_factory.mktemp("gads_ws"), scale=0.2, as_of=AS_OF)


@pytest.fixture(scope="module")
def exported(workspace, tmp_path_factory):
    """What the export-file path lands for the same workspace: the reference every API pull must equal."""
    wh = Warehouse(tmp_path_factory.mktemp("gads_export") / "x.duckdb")
    adapter = ExportFilesAdapter("ads", "google_ads", workspace.root / "exports" / "google_ads", wh,
                                 ["campaign_stats"])
    landed = pull_integration(adapter, wh, "export")
    assert sum(x.result.rows_quarantined for x in landed) == 0
    return _raw(wh)


@pytest.fixture
def emu(workspace, monkeypatch):
    emulator = GoogleAdsEmulator.from_workspace(workspace.root)
    emulator.page_size = 20  # Google's is a fixed 10,000; 20 makes the small workspace span nine pages
    secrets = emulator.credentials()
    for field, variable in CREDENTIALS.items():
        monkeypatch.setenv(variable, secrets[field])
    with emulator:
        yield emulator


@pytest.fixture
def wh(tmp_path):
    return Warehouse(tmp_path / "x.duckdb")


def _adapter(emu: GoogleAdsEmulator, policy: RetryPolicy = POLICY, **options) -> GoogleAdsAdapter:
    return GoogleAdsAdapter("ads", base_url=emu.base_url, credentials=CREDENTIALS,
                            options={"customer_id": emu.customer_id, **options}, policy=policy, batch_rows=50)


def _raw(wh: Warehouse) -> pd.DataFrame:
    columns = ", ".join(f'"{c}"' for c in contract_for(STREAM).columns())
    with wh.connect() as con:
        return con.execute(f'select {columns} from {TABLE} order by "campaign.id", "segments.date"').df()


def _assert_same_as_export(wh: Warehouse, exported: pd.DataFrame, ignore: tuple[str, ...] = ()) -> None:
    landed = _raw(wh)
    assert not landed.duplicated(KEYS).any()
    pd.testing.assert_frame_equal(landed.drop(columns=list(ignore)), exported.drop(columns=list(ignore)))
    with wh.connect() as con:
        assert con.execute("select count(*) from ledger.quarantine").fetchone()[0] == 0
    assert read_watermark(wh, "ads", "campaign_stats") == exported["segments.date"].max().strftime("%Y-%m-%d")


FAULTS = {
    "429_storm": [Fault("status", count=4, status=429, path=SEARCH, skip=1)],
    "503": [Fault("status", count=3, status=503, path=SEARCH, skip=2)],
    "500": [Fault("status", count=2, status=500, path=SEARCH, skip=2)],
    "slow": [Fault("slow", count=1, delay=4.0, path=SEARCH, skip=3)],  # held past SLOW_POLICY's timeout
    "truncated": [Fault("truncate", count=1, path=SEARCH, skip=2)],
    "malformed": [Fault("malformed", count=1, path=SEARCH, skip=4)],
    "token_expiry": [Fault("expire_tokens", count=1, path=SEARCH, skip=4)],
}


@pytest.mark.parametrize("fault", [None, *FAULTS])
def test_every_fault_lands_the_same_rows_as_the_export(emu, wh, exported, fault):
    for item in FAULTS.get(fault, []):
        emu.faults.add(item)
    adapter = _adapter(emu, SLOW_POLICY if fault == "slow" else POLICY)
    landed = pull_integration(adapter, wh, "r1")
    assert len(landed) == 3  # 168 rows, pages of 20, batches of at least 50: the pull really streams
    _assert_same_as_export(wh, exported)
    fired = [r.fault for r in emu.requests if r.fault]
    assert (fault is None or fault == "token_expiry") == (not fired)  # an expiry shows as the 401 it causes
    if fault == "429_storm":
        assert adapter.http.stats.retries >= 4 and "RESOURCE_EXHAUSTED" in (adapter._last_quota or "")
    if fault == "token_expiry":
        assert adapter.http.stats.token_refreshes == 1 and any(r.status == 401 for r in emu.requests)


def test_a_renamed_field_is_conformed_as_drift_and_the_rows_still_land(emu, wh, exported):
    emu.rename_field("campaign_stats", "metrics.conversions", "metrics.allConversions")
    landed = pull_integration(_adapter(emu), wh, "r1")
    assert all(x.drift and x.drift["renamed"] == {"metrics.conversions": "metrics.all_conversions"} for x in landed)
    _assert_same_as_export(wh, exported, ignore=("metrics.conversions",))
    with wh.connect() as con:
        unmapped = con.execute(f"select _unmapped from {TABLE} limit 1").fetchone()[0]
        # the drift pairs the two names, so the renamed field's values land under the stored column (never null)
        assert _raw(wh)["metrics.conversions"].notna().all() and "metrics.all_conversions" in unmapped


class _CrashAfterFirstBatch:
    """The real adapter, but the process dies after the first batch was handed over."""

    def __init__(self, inner: GoogleAdsAdapter) -> None:
        self.inner, self.name, self.platform, self.incremental = inner, inner.name, inner.platform, True

    def streams(self):
        return self.inner.streams()

    def pull(self, entity, since=None):
        batches = self.inner.pull(entity, since)
        yield next(batches)
        raise RuntimeError("killed between pages")


@pytest.mark.parametrize("crash", ["between_batches", "retries_exhausted"])
def test_a_crash_mid_pull_then_a_rerun_loses_and_duplicates_nothing(emu, wh, exported, crash):
    if crash == "between_batches":
        with pytest.raises(RuntimeError):
            pull_integration(_CrashAfterFirstBatch(_adapter(emu)), wh, "r1")
    else:
        emu.faults.add(Fault("status", count=6, status=503, path=SEARCH, skip=4))
        with pytest.raises(SourceError, match="integration 'ads'.*after 6 attempts"):
            pull_integration(_adapter(emu), wh, "r1")
    partial = read_watermark(wh, "ads", "campaign_stats")
    assert partial is not None and partial < exported["segments.date"].max().strftime("%Y-%m-%d")
    pull_integration(_adapter(emu), wh, "r2")
    _assert_same_as_export(wh, exported)


def test_a_rerun_rereads_the_lookback_window_and_picks_up_restated_conversions(emu, wh, exported):
    pull_integration(_adapter(emu), wh, "r1")
    emu.db.execute("update campaign_stats set conversions = conversions + 1 where date = '2026-11-22'")
    before = len(emu.requests)
    pull_integration(_adapter(emu, lookback_days=3), wh, "r2")
    landed = _raw(wh)
    assert not landed.duplicated(KEYS).any() and len(landed) == len(exported)
    restated = landed["segments.date"] == pd.Timestamp("2026-11-22", tz="UTC")
    assert (landed.loc[restated, "metrics.conversions"].to_numpy()
            == exported.loc[restated, "metrics.conversions"].to_numpy() + 1).all()
    assert len(emu.requests) - before == 2  # token + one page: only the window is re-read


def test_401_refreshes_once_then_fails_naming_the_integration(emu):
    emu.faults.add(Fault("status", count=5, status=401, path=SEARCH))
    adapter = _adapter(emu)
    with pytest.raises(SourceError, match="integration 'ads'.*after one token refresh"):
        list(adapter.pull("campaign_stats"))
    assert adapter.http.stats.token_refreshes == 1


def test_a_revoked_refresh_token_fails_naming_the_variables_and_never_the_secret(emu):
    emu.refresh_token = "1//rotated"
    with pytest.raises(SourceError) as err:
        list(_adapter(emu).pull("campaign_stats"))
    message = str(err.value)
    assert message.startswith("integration 'ads'") and "invalid_grant" in message
    assert "GADS_REFRESH_TOKEN" in message and "1//emulator-refresh-token" not in message


def test_a_wrong_developer_token_fails_at_once_without_refreshing(emu, monkeypatch):
    monkeypatch.setenv("GADS_DEVELOPER_TOKEN", "not-the-token")
    adapter = _adapter(emu)
    with pytest.raises(SourceError, match="integration 'ads'.*DEVELOPER_TOKEN_INVALID.*developer_token"):
        list(adapter.pull("campaign_stats"))
    assert adapter.http.stats.token_refreshes == 0


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_change_the_campaign_idempotently_and_are_logged(emu, action):
    adapter = _adapter(emu)
    if action == "resume":
        adapter.pause("9000000007", "setup")
        emu.controls.clear()
    target = "PAUSED" if action == "pause" else "ENABLED"
    first = getattr(adapter, action)("9000000007", "policy: over-optimised")
    again = getattr(adapter, action)("9000000007", "policy: over-optimised")
    assert first.changed and not again.changed and emu.campaign_state["9000000007"] == target
    assert [(c.campaign_id, c.action, c.state) for c in emu.controls] == [("9000000007", action, target)]
    rows = adapter._search("SELECT campaign.id, campaign.status FROM campaign WHERE campaign.id = 9000000007")
    assert rows[0]["campaign"]["status"] == target


def test_pausing_an_unknown_campaign_is_a_clear_error(emu):
    with pytest.raises(SourceError, match="integration 'ads': campaign 9999 not found"):
        _adapter(emu).pause("9999", "x")


def test_probe_reports_latency_and_quota_and_never_raises(emu):
    adapter = _adapter(emu, login_customer_id="111-222-3333")
    health = adapter.probe()
    assert health.state == "healthy" and "latency" in health.detail and emu.login_customer_ids == ["1112223333"]
    emu.faults.add(Fault("status", count=1, status=429))
    degraded = adapter.probe()
    assert degraded.state == "degraded" and "RESOURCE_EXHAUSTED" in degraded.detail


def _post(emu, body, headers=None):
    token = emu.issue_token()
    base = {"Authorization": f"Bearer {token}", "developer-token": emu.developer_token}
    return httpx.post(f"{emu.base_url}/v17/customers/{emu.customer_id}/googleAds:search", json=body,
                      headers={**base, **(headers or {})})


@pytest.mark.parametrize("body,headers,status,code", [
    ({"query": "SELECT campaign.id, metrics.bogus FROM campaign WHERE segments.date BETWEEN '2026-01-01' AND "
               "'2026-01-02'"}, {}, 400, {"queryError": "UNRECOGNIZED_FIELD"}),
    ({"query": "SELECT campaign.id FROM campaign", "pageSize": 100}, {}, 400,
     {"requestError": "PAGE_SIZE_NOT_SUPPORTED"}),
    ({"query": "SELECT segments.date FROM campaign"}, {}, 400, {"queryError": "EXPECTED_FILTERS_ON_DATE_RANGE"}),
    ({"query": "SELECT campaign.id FROM campaign", "pageToken": "bm90LWEtdG9rZW4"}, {}, 400,
     {"requestError": "INVALID_PAGE_TOKEN"}),
    ({"query": "SELECT customer.id FROM customer"}, {"developer-token": ""}, 400,
     {"requestError": "DEVELOPER_TOKEN_PARAMETER_MISSING"}),
])
def test_the_emulator_answers_bad_requests_in_googles_error_shape(emu, body, headers, status, code):
    answer = _post(emu, body, headers)
    error = answer.json()["error"]
    assert answer.status_code == status == error["code"] and error["status"] == "INVALID_ARGUMENT"
    failure = next(d for d in error["details"] if d["@type"] == FAILURE_TYPE)
    assert failure["errors"][0]["errorCode"] == code


def test_the_emulator_speaks_googles_json_mapping(emu):
    emu.db.execute("update campaign_stats set clicks = 0 where campaign_id = 9000000006 and date = '2026-10-01'")
    emu.faults.add(Fault("status", count=1, status=429))
    limited = _post(emu, {"query": "SELECT customer.id FROM customer"})
    assert limited.status_code == 429 and {"@type": RETRY_INFO_TYPE, "retryDelay": "1s"} in limited.json()["error"][
        "details"]
    page = _post(emu, {"query": "SELECT campaign.id, metrics.clicks, metrics.cost_micros FROM campaign WHERE "
                                "segments.date BETWEEN '2026-10-01' AND '2026-10-01' ORDER BY segments.date"}).json()
    assert page["fieldMask"] == "campaign.id,metrics.clicks,metrics.costMicros" and "nextPageToken" not in page
    first = page["results"][0]
    assert first["campaign"]["id"] == "9000000006" and isinstance(first["metrics"]["costMicros"], str)
    assert "clicks" not in first["metrics"]  # zero is omitted, and the adapter reads it back as 0


def test_zero_metrics_left_out_by_google_land_as_zero(emu, wh):
    emu.db.execute("update campaign_stats set clicks = 0 where campaign_id = 9000000006 and date = '2026-10-01'")
    pull_integration(_adapter(emu), wh, "r1")
    landed = _raw(wh)
    day = (landed["campaign.id"] == "9000000006") & (landed["segments.date"] == pd.Timestamp("2026-10-01", tz="UTC"))
    assert landed.loc[day, "metrics.clicks"].tolist() == [0]


# Doubles that a careless float formatting would change: a repr longer than %g, a large value, a tiny one, and zero
# (which Google leaves out of the JSON and the export writes as 0.0).
CONVERSION_VALUES = {"2026-10-01": 1234.56, "2026-10-02": 0.30000000000000004, "2026-10-03": 0.0,
                     "2026-10-04": 98765432.1, "2026-10-05": 1e-07}


def test_conversion_value_lands_the_same_through_the_api_as_from_the_export_file(emu, wh, tmp_path):
    """``metrics.conversions_value`` is a camelCase JSON double (``conversionsValue``) left out when zero; the API
    pull and the CSV export of the same rows must land the same floats, bit for bit."""
    for day, value in CONVERSION_VALUES.items():
        emu.db.execute("update campaign_stats set conversions_value = ? where campaign_id = 9000000006 and date = ?",
                       [value, day])
    page = _post(emu, {"query": "SELECT campaign.id, segments.date, metrics.conversions_value FROM campaign WHERE "
                                "segments.date BETWEEN '2026-10-01' AND '2026-10-05' ORDER BY segments.date"}).json()
    assert page["fieldMask"] == "campaign.id,segments.date,metrics.conversionsValue"
    sent = {r["segments"]["date"]: r.get("metrics", {}).get("conversionsValue") for r in page["results"]
            if r["campaign"]["id"] == "9000000006"}
    assert sent == {**CONVERSION_VALUES, "2026-10-03": None}  # zero is omitted

    pull_integration(_adapter(emu), wh, "api")
    via_api = _raw(wh)
    rows = emu.query('select c.id::varchar as "campaign.id", c.name as "campaign.name", c.status as '
                     '"campaign.status", strftime(s.date, \'%Y-%m-%d\') as "segments.date", s.cost_micros as '
                     '"metrics.cost_micros", s.impressions as "metrics.impressions", s.clicks as "metrics.clicks", '
                     's.conversions as "metrics.conversions", s.conversions_value as "metrics.conversions_value" '
                     'from campaign_stats s join campaigns c on c.id = s.campaign_id order by s.date, c.id')
    write_csv(pd.DataFrame(rows), tmp_path / "export" / "campaign_stats.csv")
    files = Warehouse(tmp_path / "files.duckdb")
    pull_integration(ExportFilesAdapter("ads", "google_ads", tmp_path / "export", files, ["campaign_stats"]), files,
                     "files")
    pd.testing.assert_frame_equal(via_api, _raw(files))
    day = via_api[via_api["campaign.id"] == "9000000006"].set_index("segments.date")["metrics.conversions_value"]
    assert {d.strftime("%Y-%m-%d"): v for d, v in day.items() if d.strftime("%Y-%m-%d") in CONVERSION_VALUES} == \
        CONVERSION_VALUES


def test_build_adapter_makes_it_and_synthetic_rows_page_by_keyset(emu, wh):
    adapter = build_adapter("ads", "google_ads", "api", None, wh, base_url=emu.base_url, credentials=CREDENTIALS,
                            options={"customer_id": emu.customer_id}, policy=POLICY, batch_rows=10_000)
    assert isinstance(adapter, GoogleAdsAdapter) and adapter.incremental
    emu.page_size = 10_000
    total = emu.load_synthetic(campaigns=40, days=600, start="2024-06-01")
    rows = sum(len(b.frame) for b in adapter.pull("campaign_stats", since="2024-06-04"))
    assert rows == total  # since minus the 3-day lookback is the first synthetic day; the demo rows are later
