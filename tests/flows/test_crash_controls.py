"""A pause interrupted by kill -9: written as intent before the platform call, settled by the next run.

The act step runs in a child process against the Google Ads emulator on 127.0.0.1. No hook in Steward's code makes
it crash: the emulator holds its answer back (a ``slow`` fault, logged before the wait), so the test sees the request
arrive, knows exactly how far the child got, and kills it with SIGKILL there. The parent then plays the next run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steward.contracts.actions import PlannedAction
from steward.contracts.finding import Finding, Severity
from steward.flows.cli import app
from steward.flows.config import IntegrationConfig, RetryConfig, StewardConfig, write_config
from steward.flows.steps import act, adapters_for, reconcile_controls
from steward.integrations.warehouse import ledger
from steward.integrations.emulator._platform import Fault
from steward.integrations.emulator.google_ads import GoogleAdsEmulator
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse

CAMPAIGN = "9100000001"
MUTATE, SEARCH = r"campaigns:mutate$", r"googleAds:search$"
CREDENTIALS = {"client_id": "CRASH_GADS_CLIENT_ID", "client_secret": "CRASH_GADS_CLIENT_SECRET",
               "refresh_token": "CRASH_GADS_REFRESH_TOKEN", "developer_token": "CRASH_GADS_DEVELOPER_TOKEN"}

# The child: one governance run's act step with one pause planned, exactly as the flow calls it.
CHILD = textwrap.dedent("""
    import sys
    from steward.contracts.actions import PlannedAction
    from steward.flows.config import load_config
    from steward.flows.steps import act, adapters_for, reconcile_controls
    from steward.integrations.warehouse import Warehouse
    sys.path.insert(0, sys.argv[3])
    from test_crash_controls import pause_plan

    cfg = load_config(sys.argv[1])
    wh = Warehouse(cfg.warehouse)
    act.fn(wh, [pause_plan(sys.argv[2])], {}, adapters_for(cfg, wh), sys.argv[2])
""")


def pause_plan(run_id: str) -> PlannedAction:
    """What policy plans for an ad campaign still spending after its CRM end date."""
    finding = Finding(run_id=run_id, check_id="reconciliation.spend_after_crm_end", family="reconciliation",
                      severity=Severity.critical, subject_type="campaign", subject=CAMPAIGN, metric="spend_after_end",
                      observed=120.0, threshold=0.0, explanation="Spend after the campaign's CRM end date.",
                      action="pause", target={"platform": "google_ads", "campaign_id": CAMPAIGN})
    return PlannedAction(finding, "pause", "google_ads", CAMPAIGN, "spend after CRM end; policy: pause", True)


@pytest.fixture
def emu(monkeypatch):
    emulator = GoogleAdsEmulator()
    emulator.load_synthetic(campaigns=3, days=2)
    secrets = emulator.credentials()
    for field, variable in CREDENTIALS.items():
        monkeypatch.setenv(variable, secrets[field])
    with emulator:
        yield emulator


@pytest.fixture
def config(emu, tmp_path) -> Path:
    # a long timeout: the child must still be waiting for the held answer when it is killed, however slow the box
    cfg = StewardConfig(
        warehouse=tmp_path / "w.duckdb", policy=Path(str(resources.files("steward.contracts") / "policy.yaml")),
        report_dir=tmp_path / "reports",
        integrations=[IntegrationConfig(name="ads", platform="google_ads", kind="api", base_url=emu.base_url,
                                        credentials=CREDENTIALS, options={"customer_id": emu.customer_id},
                                        retry=RetryConfig(attempts=2, initial_wait=0.01, timeout=900))])
    path = tmp_path / "steward.yaml"
    write_config(cfg, path)
    return path


def kill_when_held(emu: GoogleAdsEmulator, config: Path, run_id: str, path: str, nth: int = 1) -> None:
    """Run the act step in a child process; SIGKILL it once the emulator has logged its ``nth`` request to ``path``
    (the one a fault holds)."""
    until = sum(bool(re.search(path, r.path)) for r in emu.requests) + nth
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(config), run_id, str(Path(__file__).parent)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    try:
        while sum(bool(re.search(path, r.path)) for r in emu.requests) < until:
            if child.poll() is not None:
                pytest.fail(f"the child ended before reaching the platform: {child.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def mutates(emu: GoogleAdsEmulator) -> int:
    return sum(r.path.endswith("campaigns:mutate") for r in emu.requests)


def cli(*args: str, config: Path):
    return CliRunner().invoke(app, [*args, "-c", str(config)])


def audit(wh: Warehouse) -> list[tuple[str, str]]:
    return [tuple(r) for r in wh.query_df("select action, outcome from ledger.audit_log order by seq")
            .itertuples(index=False)]


def test_a_pause_killed_after_the_platform_applied_it_is_reconciled_and_never_sent_twice(emu, config):
    emu.faults.add(Fault("slow", count=1, delay=600.0, path=MUTATE))  # applied and logged, the answer held back
    kill_when_held(emu, config, "run-a", MUTATE)
    wh = Warehouse(Path(config).parent / "w.duckdb")

    # the platform paused it, and the warehouse knows Steward was doing so
    assert emu.campaign_state[CAMPAIGN] == "PAUSED" and mutates(emu) == 1
    [intent] = ledger.open_intents(wh)
    assert (intent.integration, intent.campaign_id, intent.action, intent.run_id) == ("ads", CAMPAIGN, "pause", "run-a")
    assert audit(wh) == [("pause-intent", "pausing: about to call ads")]
    listed = cli("campaigns", "list", config=config)
    assert listed.exit_code == 0, listed.output
    assert "pausing (unconfirmed)" in listed.output and "steward campaigns reconcile" in listed.output
    assert f"steward campaigns resume ads {CAMPAIGN}" in listed.output

    # the next run plans the same pause: it settles the old intent first, then finds nothing to change
    emu.faults.clear()
    cfg_wh = Warehouse(wh.path)
    from steward.flows.config import load_config

    done = act.fn(cfg_wh, [pause_plan("run-b")], {}, adapters_for(load_config(config), cfg_wh), "run-b")
    assert [(d["action"], d["outcome"].split(":")[0]) for d in done] == [("pause-reconcile", "reconciled"),
                                                                         ("pause", "unchanged")]
    assert mutates(emu) == 1  # the emulator's request log: paused once, never twice
    assert ledger.open_intents(wh) == []
    controls = ledger.campaign_controls(wh)
    assert controls[["integration", "campaign_id", "state"]].values.tolist() == [["ads", CAMPAIGN, "paused"]]
    actions = [a for a, _ in audit(wh)]
    # the step's one status read, after the reconcile, finds it paused: no intent and no call of its own
    assert actions == ["pause-intent", "pause-reconcile", "pause"]
    assert audit(wh)[-1][1] == "unchanged: already paused"
    assert ledger.verify_audit_log(wh) is None
    listed = cli("campaigns", "list", config=config)
    assert "paused" in listed.output and "unconfirmed" not in listed.output

    resumed = cli("campaigns", "resume", "ads", CAMPAIGN, "--reason", "end date fixed", "--by", "dana",
                  config=config)
    assert resumed.exit_code == 0, resumed.output
    assert emu.campaign_state[CAMPAIGN] == "ENABLED"
    assert ledger.campaign_controls(wh)["state"].tolist() == ["active"]


def test_a_pause_killed_before_the_platform_call_is_abandoned_by_reconcile(emu, config):
    # the step's status read of every campaign it pauses goes through; the pause's own read, before the mutate, is held
    emu.faults.add(Fault("slow", count=1, delay=600.0, path=SEARCH, skip=1))
    kill_when_held(emu, config, "run-a", SEARCH, nth=2)
    wh = Warehouse(Path(config).parent / "w.duckdb")
    assert emu.campaign_state[CAMPAIGN] == "ENABLED" and mutates(emu) == 0
    assert [i.run_id for i in ledger.open_intents(wh)] == ["run-a"]

    emu.faults.clear()
    settled = cli("campaigns", "reconcile", config=config)
    assert settled.exit_code == 0, settled.output
    assert f"google_ads:{CAMPAIGN}: abandoned: found active on ads" in settled.output
    assert ledger.open_intents(wh) == [] and ledger.campaign_controls(wh).empty  # no row said paused before
    assert audit(wh)[-1][0] == "pause-reconcile" and mutates(emu) == 0
    assert ledger.verify_audit_log(wh) is None


def test_an_unreadable_platform_leaves_the_intent_open_and_reconcile_exits_1(emu, config):
    emu.faults.add(Fault("slow", count=1, delay=600.0, path=SEARCH, skip=1))  # the pause's own status read
    kill_when_held(emu, config, "run-a", SEARCH, nth=2)
    emu.faults.clear()
    emu.faults.add(Fault("status", count=100, status=503, path=SEARCH))
    result = cli("campaigns", "reconcile", config=config)
    assert result.exit_code == 1 and "still unconfirmed" in result.output
    assert len(ledger.open_intents(Warehouse(Path(config).parent / "w.duckdb"))) == 1


def test_an_export_files_pause_and_resume_go_through_intent_to_their_final_state(tmp_path):
    """A files integration's campaign ledger is its platform: the intent row must not read as a pause there."""
    cfg = StewardConfig(warehouse=tmp_path / "w.duckdb",
                        policy=Path(str(resources.files("steward.contracts") / "policy.yaml")),
                        report_dir=tmp_path / "reports",
                        integrations=[IntegrationConfig(name="hubspot", platform="hubspot", path=tmp_path)])
    write_config(cfg, tmp_path / "steward.yaml")
    wh = Warehouse(cfg.warehouse)
    plan = pause_plan("run-a")
    plan = PlannedAction(plan.finding, "pause", "hubspot", "700003", plan.reason, True)
    [done] = act.fn(wh, [plan], {}, adapters_for(cfg, wh), "run-a")
    assert done["outcome"] == "paused" and ledger.campaign_controls(wh)["state"].tolist() == ["paused"]
    assert [a for a, _ in audit(wh)] == ["pause-intent", "pause"]
    [again] = act.fn(wh, [plan], {}, adapters_for(cfg, wh), "run-b")  # its own intent row does not hide the pause
    assert again["outcome"] == "unchanged: already paused"
    assert [a for a, _ in audit(wh)] == ["pause-intent", "pause", "pause"]  # read with the others: no intent again
    assert adapters_for(cfg, wh)["hubspot"].campaign_states(["700003", "700009"]) == {"700003": "paused",
                                                                                      "700009": "active"}
    assert ledger.campaign_controls(wh)["state"].tolist() == ["paused"] and ledger.open_intents(wh) == []
    resumed = cli("campaigns", "resume", "hubspot", "700003", "--reason", "fixed", "--by", "eve",
                  config=tmp_path / "steward.yaml")
    assert resumed.exit_code == 0 and "hubspot:700003: resumed" in resumed.output
    assert ledger.campaign_controls(wh)["state"].tolist() == ["active"] and ledger.open_intents(wh) == []
    assert [a for a, _ in audit(wh)][-2:] == ["resume-intent", "resume"]


def test_an_export_files_intent_cut_short_is_abandoned_and_the_earlier_row_comes_back(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    adapters = {"hubspot": ExportFilesAdapter("hubspot", "hubspot", tmp_path, wh)}
    adapters["hubspot"].resume("700003", "running")
    ledger.begin_control(wh, ledger.ControlIntent("hubspot", "700003", "pause", "run-a", "policy:x", "why"))
    # killed here: the adapter was never called
    [row] = reconcile_controls(wh, adapters, "run-b")
    assert row["outcome"].startswith("abandoned: found active on hubspot")
    assert ledger.campaign_controls(wh)[["state", "reason"]].values.tolist() == [["active", "running"]]


def test_an_outcome_row_is_committed_with_the_close_of_its_intent_or_not_at_all(tmp_path):
    """The act step writes an action's outcome audit row and closes its intent in one transaction (one commit of the
    warehouse file per action, not two): a close that cannot be written leaves no outcome row behind, only the
    open intent, which reconciliation settles with the one row it writes."""
    import duckdb

    wh = Warehouse(tmp_path / "w.duckdb")
    intent = ledger.begin_control(wh, ledger.ControlIntent("hubspot", "700003", "pause", "run-a", "policy:x", "why"))
    assert audit(wh) == [("pause-intent", "pausing: about to call hubspot")]
    outcome = {"run_id": "run-a", "fingerprint": None, "check_id": "x", "action": "pause",
               "target": "hubspot:700003", "decided_by": "policy:x", "reason": "why", "outcome": "paused"}
    with wh.connect() as con:  # the close cannot be written: its table is gone
        con.execute("alter table ledger.campaign_controls rename to controls_away")
    with pytest.raises(duckdb.Error):
        ledger.end_control(wh, intent, "paused", audit=outcome)
    assert audit(wh) == [("pause-intent", "pausing: about to call hubspot")]  # the outcome did not land alone
    with wh.connect() as con:
        con.execute("alter table ledger.controls_away rename to campaign_controls")
    ledger.end_control(wh, intent, "paused", audit=outcome)
    assert audit(wh) == [("pause-intent", "pausing: about to call hubspot"), ("pause", "paused")]
    assert ledger.open_intents(wh) == [] and ledger.campaign_controls(wh)["state"].tolist() == ["paused"]
    assert ledger.verify_audit_log(wh) is None


def test_the_step_reads_every_campaign_it_pauses_at_once_and_leaves_the_paused_ones_alone(emu, config):
    """A scheduled run plans again the pause of every open finding: the campaigns still paused since an earlier run
    cost one status query between them, no intent row and no request of their own."""
    from steward.flows.config import load_config

    campaigns = sorted(emu.campaign_state)
    assert len(campaigns) == 3
    wh = Warehouse(Path(config).parent / "w.duckdb")
    adapters = adapters_for(load_config(config), wh)
    adapters["ads"].pause(campaigns[0], "paused by hand earlier")
    adapters["ads"].pause(campaigns[1], "paused by hand earlier")
    base = pause_plan("run-a")
    plans = [PlannedAction(base.finding, "pause", "google_ads", cid, base.reason, True) for cid in campaigns]
    before = len(emu.requests)

    done = act.fn(wh, plans, {}, adapters, "run-a")

    assert [d["outcome"] for d in done] == ["unchanged: already paused"] * 2 + ["paused"]
    # one query for the three, then the active one's own read before its mutate (one each would be three reads)
    assert sum(bool(re.search(SEARCH, r.path)) for r in emu.requests[before:]) == 2
    assert mutates(emu) == 3 and emu.campaign_state[campaigns[2]] == "PAUSED"
    assert audit(wh) == [("pause", "unchanged: already paused"), ("pause", "unchanged: already paused"),
                         ("pause-intent", "pausing: about to call ads"), ("pause", "paused")]
    assert ledger.open_intents(wh) == [] and ledger.verify_audit_log(wh) is None
    assert ledger.campaign_controls(wh)["campaign_id"].tolist() == [campaigns[2]]  # Steward paused only that one


def test_the_status_query_takes_a_few_hundred_campaigns_at_a_time(emu, config, monkeypatch):
    from steward.flows.config import load_config
    from steward.integrations.sources import google_ads

    campaigns = sorted(emu.campaign_state)
    adapter = adapters_for(load_config(config), Warehouse(Path(config).parent / "w.duckdb"))["ads"]
    adapter.pause(campaigns[1], "paused by hand")
    monkeypatch.setattr(google_ads, "_STATES_PER_QUERY", 2)
    before = len(emu.requests)
    asked = [campaigns[0], campaigns[1], campaigns[2], "not-a-campaign", "404"]
    # keyed as asked; an id with no digits is never sent, one the customer does not have is not in the answer
    assert adapter.campaign_states(asked) == {campaigns[0]: "active", campaigns[1]: "paused", campaigns[2]: "active"}
    assert len(emu.requests) - before == 2  # four ids with digits, two to a query


def test_a_status_query_that_fails_only_costs_the_saving(emu, config):
    from steward.flows.config import load_config

    wh = Warehouse(Path(config).parent / "w.duckdb")
    adapters = adapters_for(load_config(config), wh)
    emu.faults.add(Fault("status", count=1, status=400, path=SEARCH))  # the step's status query, refused
    [done] = act.fn(wh, [pause_plan("run-a")], {}, adapters, "run-a")
    assert done["outcome"] == "paused" and emu.campaign_state[CAMPAIGN] == "PAUSED"
    assert [a for a, _ in audit(wh)] == ["pause-intent", "pause"]
