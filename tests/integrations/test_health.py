"""The health monitor against the platform emulators on real sockets: outage, partial outage, stale data, schema
drift and recovery move the state with hysteresis, and each announced transition is exactly one outbox message.

No Prefect here: ``check_integration`` is what the flow's task calls, with a DuckDB file per test.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from steward.contracts.health_rules import in_maintenance
from steward.contracts.policy import HealthPolicy, MaintenanceWindow
from steward.integrations.emulator._platform import Fault
from steward.integrations.emulator.hubspot import HubspotEmulator
from steward.integrations.emulator.salesforce import SalesforceEmulator
from steward.integrations.emulator.stack import DEMO_ENV, EmulatorStack
from steward.integrations.health import check_integration
from steward.integrations.health.signals import classify_failure, headroom_from_headers
from steward.integrations.warehouse import outbox
from steward.integrations.sources import build_adapter
from steward.integrations.sources.http import RetryPolicy
from steward.integrations.warehouse import Warehouse

NOW = datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def demo_env(monkeypatch):
    for key, value in DEMO_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def sf():
    with SalesforceEmulator(client_id=DEMO_ENV["STEWARD_DEMO_SF_CLIENT_ID"],
                            client_secret=DEMO_ENV["STEWARD_DEMO_SF_CLIENT_SECRET"]) as emu:
        yield emu


@pytest.fixture
def hs():
    with HubspotEmulator(tokens=[DEMO_ENV["STEWARD_DEMO_HUBSPOT_TOKEN"]]) as emu:
        yield emu


@pytest.fixture
def wh(tmp_path):
    return Warehouse(tmp_path / "health.duckdb")


def policy(probe_timeout: float = 10.0, **rules) -> HealthPolicy:
    """The probe timeout is generous: a loaded machine must still answer a healthy probe in time. The test of slow
    answers sets the short one it is about."""
    return HealthPolicy(probe_timeout_seconds=probe_timeout, confirm_interval_seconds=0,
                        defaults={"down_after": 2, "degraded_after": 2, "recover_after": 2, **rules})


class Monitor:
    """Ticks of the monitor for one emulated integration; remembers every probe."""

    def __init__(self, wh: Warehouse, emu, health: HealthPolicy) -> None:
        self.wh, self.emu, self.health = wh, emu, health
        self.entry = EmulatorStack.integrations_for({emu.platform: emu.base_url})[0]
        self.ticks = 0

    def tick(self, now=None):
        """``now``: the monitor's clock (a callable), when a test's data is dated from an instant of its own."""
        self.ticks += 1
        e = self.entry

        def make():
            return build_adapter(e["name"], e["platform"], "api", None, self.wh, base_url=e["base_url"],
                                 credentials=e["credentials"], options=e["options"],
                                 policy=RetryPolicy(attempts=2, initial_wait=0.05, max_wait=0.1,
                                                    timeout=self.health.probe_timeout_seconds))

        return check_integration(self.wh, self.health, e["name"], e["platform"], make, f"hr-{self.ticks}",
                                 "#ops-health", now=now)

    def states(self) -> list[str]:
        return [r[0] for r in self._rows("state")]

    def messages(self) -> list[outbox.Alert]:
        return outbox.alerts(self.wh)

    def _rows(self, cols: str):
        with self.wh.connect() as con:
            return con.execute(f"select {cols} from ledger.integration_health order by seq").fetchall()


def test_5xx_storm_goes_down_after_confirmation_and_recovers_in_the_same_thread(wh, sf):
    mon = Monitor(wh, sf, policy())
    first = mon.tick()
    assert [p.track.state for p in first] == ["healthy"] and first[0].message is None  # not news
    sf.faults.add(Fault("status", count=1000, status=503))
    probes = mon.tick()
    assert [p.verdict.rule for p in probes] == ["probe.server_error", "probe.server_error"]  # confirmed in-run
    assert probes[-1].track.state == "down" and probes[-1].signals.server_error_streak == 2
    assert [m.kind for m in mon.messages()] == ["post"]
    mon.tick()  # still down: nothing new to say
    assert len(mon.messages()) == 1
    sf.faults.clear()
    assert mon.tick()[-1].track.state == "down"  # one good probe is not a recovery
    recovered = mon.tick()[-1]
    assert recovered.track.state == "healthy" and recovered.message is not None
    msgs = mon.messages()
    assert [m.kind for m in msgs] == ["post", "reply"] and msgs[1].parent_id == msgs[0].alert_id
    assert "RECOVERED" in msgs[1].payload["text"] and "DOWN" in msgs[0].payload["text"]
    changed = mon._rows("previous_state, state, rule, changed")
    assert [(a, b, r) for a, b, r, c in changed if c] == [("unknown", "healthy", "ok"),
                                                          ("healthy", "down", "probe.server_error"),
                                                          ("down", "healthy", "ok")]


def test_connection_refused_after_stop_is_down(wh, sf):
    mon = Monitor(wh, sf, policy())
    mon.tick()
    sf.stop()
    last = mon.tick()[-1]
    assert last.track.state == "down" and last.track.rule == "probe.unreachable"
    assert last.signals.probe.failure == "unreachable" and last.signals.probe.status_code is None
    assert len(mon.messages()) == 1


def test_single_failed_probe_alerts_nobody(wh, sf):
    mon = Monitor(wh, sf, policy())
    mon.tick()
    sf.faults.add(Fault("status", count=2, status=503))  # one probe's two attempts, then service again
    probes = mon.tick()
    assert [p.verdict.state for p in probes] == ["down", "healthy"]
    assert probes[-1].track.state == "healthy" and mon.messages() == []


def test_slow_answers_are_a_partial_outage(wh, sf):
    mon = Monitor(wh, sf, policy())
    mon.tick()
    mon.health = policy(probe_timeout=0.5)  # the timeout under test
    sf.faults.add(Fault("slow", count=1000, delay=0.8))  # longer than the 0.5 s probe timeout, at any speed
    last = mon.tick()[-1]
    assert (last.track.state, last.track.rule) == ("degraded", "probe.timeout")
    assert [m.payload["text"] for m in mon.messages()][0].startswith("salesforce is DEGRADED")


def test_429_storm_is_degraded_not_down(wh, hs):
    mon = Monitor(wh, hs, policy())
    mon.tick()
    hs.faults.add(Fault("status", count=1000, status=429))
    last = mon.tick()[-1]
    assert (last.track.state, last.track.rule) == ("degraded", "probe.rate_limited")
    hs.faults.clear()
    mon.tick()
    assert mon.tick()[-1].track.state == "healthy"
    assert [m.kind for m in mon.messages()] == ["post", "reply"]


def test_headroom_from_the_apis_own_headers(wh, hs):
    hs.daily_limit = 100  # the emulator counts today's calls against this
    mon = Monitor(wh, hs, policy(min_headroom=0.995))
    last = mon.tick()[-1]
    assert last.signals.probe.headroom is not None and last.signals.probe.headroom < 0.995
    assert last.verdict.rule == "quota.low"


def _batch(wh, integration: str, entity: str, loaded_at: datetime, rows: int = 100, drift: dict | None = None,
           columns: list[str] | None = None) -> None:
    batch_id = f"b-{integration}-{entity}-{loaded_at:%Y%m%d%H%M%S%f}"
    with wh.connect() as con:
        con.execute("insert into ledger.batches (batch_id, run_id, integration, platform, entity, rows_read, "
                    "rows_loaded, drift, loaded_at) values (?, 'r', ?, ?, ?, ?, ?, ?, ?)",
                    [batch_id, integration, integration, entity, rows, rows, json.dumps(drift) if drift else None,
                     loaded_at])
        con.execute("insert into ledger.schema_snapshots (batch_id, integration, entity, columns, taken_at) "
                    "values (?, ?, ?, ?, ?)",
                    [batch_id, integration, entity, json.dumps(columns or ["Id", "Name"]), loaded_at])


def test_stale_data_is_degraded_and_a_fresh_batch_recovers_it(wh, sf):
    _batch(wh, "salesforce", "leads", datetime.now(timezone.utc) - timedelta(hours=30))  # NOW is import time
    mon = Monitor(wh, sf, policy(sync_sla_hours=26))
    last = mon.tick()[-1]
    assert (last.track.state, last.track.rule) == ("degraded", "sync.stale")
    assert last.signals.ledger.hours_since_sync == pytest.approx(30, abs=0.1)
    _batch(wh, "salesforce", "leads", datetime.now(timezone.utc))
    mon.tick()
    assert mon.tick()[-1].track.state == "healthy"
    assert [m.kind for m in mon.messages()] == ["post", "reply"]  # unknown -> degraded is news, then recovery


def test_schema_drift_in_the_latest_batch_is_degraded(wh, sf):
    _batch(wh, "salesforce", "leads", NOW - timedelta(hours=2), columns=["Id", "Email", "Name"])
    _batch(wh, "salesforce", "leads", NOW - timedelta(hours=1), columns=["Id", "EmailAddress", "Name"],
           drift={"missing": ["Email"], "added": ["EmailAddress"], "renamed": {"Email": "EmailAddress"}})
    last = Monitor(wh, sf, policy()).tick()[-1]
    assert (last.track.state, last.track.rule) == ("degraded", "schema.drift")
    # a rename is one missing and one added column, as detect_drift writes it and the landing mart counts it
    assert last.signals.ledger.drift_columns == 2 and last.signals.ledger.schema_changes == 2


def test_volume_against_the_same_weekday(wh, sf):
    # the batches and the monitor's clock share one instant: "yesterday" is the day before the monitor's now, and
    # NOW (the module's import time) was the day before when a suite crossed midnight before this test ran
    now = datetime.now(timezone.utc)
    yesterday = (now - timedelta(days=1)).replace(hour=6, minute=0)
    for weeks in (1, 2, 3):
        _batch(wh, "salesforce", "leads", yesterday - timedelta(weeks=weeks), rows=1000)
    _batch(wh, "salesforce", "leads", yesterday, rows=200)
    _batch(wh, "salesforce", "contacts", now - timedelta(minutes=5), rows=0)  # fresh, so not stale
    last = Monitor(wh, sf, policy()).tick(now=lambda: now)[-1]
    assert last.signals.ledger.volume_ratio == pytest.approx(0.2)
    assert (last.track.state, last.track.rule) == ("degraded", "volume.low")


def _governed(wh: Warehouse, run_id: str, minutes_ago: int, consent_mismatches: int, spend_off: int) -> None:
    """What a governance run leaves behind for the monitor: a completed run, and reconciliation marts."""
    with wh.connect() as con:
        con.execute("create schema if not exists governance")
        con.execute("create or replace table governance.gov_reconciliation__consent as "
                    "select * from (values ('salesforce~hubspot', 1000, ?), ('salesforce~cdp', 1000, 5), "
                    "('hubspot~cdp', 1000, 5)) t(systems, people_compared, mismatches)", [consent_mismatches])
        con.execute("create or replace table governance.gov_reconciliation__spend as "
                    "select i as campaign, case when i < ? then 0.4 else 0.01 end as spend_diff_pct "
                    "from range(20) r(i)", [spend_off])
        at = NOW - timedelta(minutes=minutes_ago)
        con.execute("insert into ledger.runs (run_id, kind, started_at, finished_at, status) "
                    "values (?, 'scheduled', ?, ?, 'completed')",
                    [run_id, at - timedelta(minutes=1), at])


def test_a_drop_in_cross_system_reconciliation_against_earlier_runs_is_degraded(wh, sf):
    mon = Monitor(wh, sf, policy())
    _governed(wh, "run-1", 50, consent_mismatches=10, spend_off=0)
    first = mon.tick()[-1].signals.ledger
    # salesforce is in two consent pairs (2000 people, 15 disagree) and owns the CRM side of 20 spend rows
    assert first.reconciliation_rate == pytest.approx(2005 / 2020, abs=1e-4) and first.reconciliation_baseline is None
    _governed(wh, "run-2", 40, consent_mismatches=12, spend_off=0)
    mon.tick()
    assert mon.tick()[-1].signals.ledger.reconciliation_baseline == pytest.approx(2005 / 2020, abs=1e-4)
    assert mon.states()[-1] == "healthy"
    _governed(wh, "run-3", 30, consent_mismatches=300, spend_off=6)  # the CRM stopped agreeing
    probes = mon.tick()  # a bad verdict is confirmed within the run, and the second one moves the state
    assert [p.verdict.rule for p in probes] == ["reconciliation.drop", "reconciliation.drop"]
    assert (probes[-1].track.state, probes[-1].track.rule) == ("degraded", "reconciliation.drop")
    assert "run-3" in probes[-1].verdict.reason
    # probing again and again within the same governance run does not make the bad value its own baseline
    for _ in range(3):
        last = mon.tick()[-1]
    assert last.track.state == "degraded" and last.signals.ledger.reconciliation_baseline > 0.99
    _governed(wh, "run-4", 20, consent_mismatches=10, spend_off=0)  # fixed: agreement back to usual
    mon.tick()
    assert mon.tick()[-1].track.state == "healthy"
    assert [m.kind for m in mon.messages()] == ["post", "reply"]


def test_maintenance_window_records_but_silences_then_announces_what_lasts(wh, sf):
    window = MaintenanceWindow(starts_at=NOW - timedelta(minutes=5), ends_at=NOW + timedelta(hours=1))
    mon = Monitor(wh, sf, policy(maintenance=[window]))
    mon.tick()
    sf.stop()
    last = mon.tick()[-1]
    assert last.track.state == "down" and last.silenced and mon.messages() == []
    assert mon._rows("in_maintenance")[-1][0] is True
    mon.health = policy()  # the window is over
    mon.tick()
    assert [m.payload["text"].split(":")[0] for m in mon.messages()] == ["salesforce is DOWN"]


def test_missing_credential_is_unknown_and_announced_once(wh, sf, monkeypatch):
    mon = Monitor(wh, sf, policy())
    mon.tick()
    monkeypatch.delenv("STEWARD_DEMO_SF_CLIENT_SECRET")
    last = mon.tick()[-1]
    assert (last.track.state, last.track.rule) == ("unknown", "config.invalid")
    assert "STEWARD_DEMO_SF_CLIENT_SECRET" in last.signals.probe.probe_detail
    assert len(mon.messages()) == 1


@pytest.mark.parametrize("detail, status, answered, kind", [
    ("GET /x failed after 2 attempts: timed out after 1 s (ReadTimeout)", None, False, "timeout"),
    ("connection failed (ConnectError: [Errno 111] Connection refused)", None, False, "unreachable"),
    ("HTTP 429 rate limited", 429, True, "rate_limited"),
    ("HTTP 403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.", 403, True, "rate_limited"),
    ("HTTP 503 SERVER_UNAVAILABLE", 503, True, "server_error"),
    ("the API rejected the credentials after one token refresh", 401, True, "auth"),
])
def test_failures_are_classified(detail, status, answered, kind):
    assert classify_failure(detail, status, answered) == kind


def test_headroom_parsing():
    assert headroom_from_headers({"sforce-limit-info": "api-usage=9000/10000"}) == pytest.approx(0.1)
    assert headroom_from_headers({"x-hubspot-ratelimit-remaining": "5", "x-hubspot-ratelimit-max": "100",
                                  "x-hubspot-ratelimit-daily-remaining": "900",
                                  "x-hubspot-ratelimit-daily": "1000"}) == pytest.approx(0.05)
    assert headroom_from_headers({}, "token valid; 45000 of 50000 daily API calls used") == pytest.approx(0.1)
    assert headroom_from_headers({}) is None


def test_recurring_maintenance_window_crossing_midnight():
    w = MaintenanceWindow(days=["sat"], start="23:00", end="02:00")
    sat = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)  # a Saturday
    assert in_maintenance([w], sat) and in_maintenance([w], sat + timedelta(hours=2))  # Sunday 01:30
    assert not in_maintenance([w], sat + timedelta(hours=3)) and not in_maintenance([w], sat - timedelta(days=1))
