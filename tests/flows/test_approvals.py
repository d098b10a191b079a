"""Guarded actions on a real Prefect flow run: approval, rejection, timeout, kill switch, dry run, resume.

The approved pause is followed through a whole governance run (pause, answer, audit, resume, anchors, report): the
next run of a demo governed once for the module, so it pays for what it asks once a run rebuilds only what changed,
not for a first build. The other cases are decided in the run's act step, so they run the run's own judge, plan,
approval and act tasks in a flow run of their own (``_act_step``) on copies of that governed demo: the same code
decides, pauses the flow run and acts, without rebuilding the demo for each case.
"""

from __future__ import annotations

import contextvars
import getpass
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prefect import flow
from typer.testing import CliRunner

from steward.contracts.policy import load_policy
from steward.flows import steps
from steward.flows.approval import collect_approvals
from steward.flows.cli import app
from steward.flows.config import effective_policy, load_config
from steward.flows.demo import prepare_demo
from steward.flows.governance import RunParams, governance_run
from steward.integrations.transform.dbt_build import BuildOutcome
from steward.integrations.warehouse import ledger
from steward.integrations.warehouse.ledger import verify_audit_log
from steward.integrations.warehouse import Warehouse

from shared_prefect import own_runs

pytestmark = pytest.mark.slow
TARGET = "hubspot:700003"  # the over-optimised campaign of the demo workspace
ME = getpass.getuser()  # `steward approve` answers as the operating-system user; the default policy lists the run's
AUDIT_KEY = "audit-key-of-the-approval-test-7c1d"


def _with_policy(config: Path, action: str = "request_approval", timeout: int = 60,
                 on_timeout: str = "reject") -> Path:
    policy = yaml.safe_load((Path(__file__).parents[2] / "contracts" / "policy.yaml").read_text())
    policy["checks"]["metric_balance.kpi_up_guardrail_down"]["action"] = {"critical": action}
    policy["actions"].update(approval_timeout_seconds=timeout, on_approval_timeout=on_timeout)
    (config.parent / "policy.yaml").write_text(yaml.safe_dump(policy))
    cfg = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**cfg, "policy": "policy.yaml"}))
    return config


@pytest.fixture(scope="module")
def _built(prefect_harness, tmp_path_factory) -> Path:
    """The demo workspace (seed 7, scale 0.3) after one real governance run whose policy only alerts on the
    over-optimised campaign, so the campaign still runs: where the next governance run stands when it reaches its
    act step, before it has acted. Its audit log is keyed with the tests' key, as every later run's is."""
    root = tmp_path_factory.mktemp("approvals")
    config, _ = prepare_demo(root / "ws", scale=0.3)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STEWARD_AUDIT_KEY", AUDIT_KEY)
        result = governance_run(RunParams(config=str(_with_policy(config, action="alert"))))
    assert result.status == "completed", result.status
    assert _state(result) is None  # alerted, not paused
    with Warehouse(result.warehouse).connect() as con:
        con.execute("checkpoint")  # every table in the file, none in a write-ahead log, before it is copied
    return root


@pytest.fixture
def built(_built, tmp_path) -> Path:
    """A private copy of ``_built``: each case acts (or not) on its own warehouse."""
    shutil.copytree(_built, tmp_path / "built")
    return tmp_path / "built" / "ws" / "steward.yaml"


@dataclass(frozen=True)
class Acted:
    actions: list[dict]
    warehouse: str
    status: str


@flow(name="governance-act-step", log_prints=False)
def _act_step(config: str, dry_run: bool = False) -> list[dict]:
    """The governance run's steps from judge to act (``flows/governance.py``), with the run's own policy overrides."""
    cfg = load_config(config)
    policy = effective_policy(load_policy(cfg.policy), dry_run=dry_run)
    wh = Warehouse(cfg.warehouse, cfg.lock_timeout_seconds)
    run_id = f"run-act-{uuid.uuid4().hex[:6]}"
    ledger.start_run(wh, run_id, "on_demand", config)
    findings = steps.judge(wh, policy, BuildOutcome(), run_id)
    plans = steps.plan(findings, policy)
    return steps.act(wh, plans, collect_approvals(plans, policy), steps.adapters_for(cfg, wh), run_id)


def act_step(config: Path, dry_run: bool = False) -> Acted:
    state = _act_step(str(config), dry_run, return_state=True)
    return Acted(state.result(), str(load_config(config).warehouse), "completed" if state.is_completed() else
                 state.type.value)


def _answer_when_paused(*cli_args: str) -> threading.Thread:
    """An approver in another thread: waits for the run to pause, then answers through `steward approve`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    def approver() -> None:
        paused = own_runs([StateType.PAUSED])  # this worker's: the session's server is shared (shared_prefect.py)
        with get_client(sync_client=True) as client:
            for _ in range(2400):  # the run may take minutes to reach its pause on a loaded machine
                runs = client.read_flow_runs(flow_run_filter=paused)
                if runs:
                    result = CliRunner().invoke(app, ["approve", str(runs[0].id), *cli_args])
                    assert result.exit_code == 0, result.output
                    return
                time.sleep(0.25)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(approver,), daemon=True)
    thread.start()
    return thread


def _pause_row(result) -> dict:
    [row] = [a for a in result.actions if a["target"] == TARGET]
    return row


def _state(result) -> str | None:
    rows = Warehouse(result.warehouse).query_df(
        "select state from ledger.campaign_controls where campaign_id = '700003'")
    return rows["state"].iloc[0] if len(rows) else None


def test_approved_pause_is_executed_and_audited_with_the_approver(prefect_harness, built, monkeypatch):
    monkeypatch.setenv("STEWARD_AUDIT_KEY", AUDIT_KEY)
    config = _with_policy(built)
    approver = _answer_when_paused("--target", TARGET, "--comment", "clicks bought with complaints")
    result = governance_run(RunParams(config=str(config)))
    approver.join(timeout=5)
    row = _pause_row(result)
    assert row["action"] == "request_approval" and row["outcome"] == "paused"
    assert row["decided_by"] == f"approver:{ME}" and _state(result) == "paused"
    audit = Warehouse(result.warehouse).query_df("select decided_by, reason from ledger.audit_log "
                                                 "where action = 'request_approval'")
    assert audit["decided_by"].tolist() == [f"approver:{ME}"]
    assert "approved: clicks bought with complaints" in audit["reason"].iloc[0]

    resumed = CliRunner().invoke(app, ["campaigns", "resume", "hubspot", "700003", "--reason", "guardrails fixed",
                                       "--by", "bob", "-c", str(config)])
    assert resumed.exit_code == 0, resumed.output
    assert _state(result) == "active"
    assert verify_audit_log(Warehouse(result.warehouse)) is None
    verified = CliRunner().invoke(app, ["audit-log", "verify", "-c", str(config)])
    assert verified.exit_code == 0 and "keyed (key id" in verified.output and "matches anchor" in verified.output
    outputs = [Path(result.report).read_text(), (config.parent / "audit-anchors.jsonl").read_text(),
               verified.output, resumed.output, str(result.model_dump())]
    with Warehouse(result.warehouse).connect() as con:
        outputs += [str(con.execute(f"select * from ledger.{table}").fetchall())
                    for table in ("audit_log", "alert_outbox", "runs")]
    assert not [text for text in outputs if AUDIT_KEY in text]  # the key is never written anywhere


def test_rejected_pause_leaves_the_campaign_running(prefect_harness, built):
    config = _with_policy(built)
    approver = _answer_when_paused("--target", TARGET, "--reject", "--comment", "launch week")
    result = act_step(config)
    approver.join(timeout=5)
    row = _pause_row(result)
    assert row["outcome"] == "not executed: rejected" and row["decided_by"] == f"approver:{ME}"
    assert _state(result) is None


@pytest.mark.parametrize("on_timeout, outcome, state", [("reject", "not executed: timeout", None),
                                                        ("approve", "paused", "paused")])
def test_nobody_answering_falls_back_to_the_policy_choice(prefect_harness, built, on_timeout, outcome, state):
    # nobody answers, so how long the wait is changes nothing but the seconds the case idles: the policy's least
    config = _with_policy(built, timeout=1, on_timeout=on_timeout)
    started = time.monotonic()
    result = act_step(config)
    assert time.monotonic() - started >= 1
    row = _pause_row(result)
    assert row["outcome"] == outcome and row["decided_by"] == f"policy:on_approval_timeout={on_timeout}"
    assert _state(result) == state and result.status == "completed"


def test_kill_switch_from_the_environment_holds_every_pause(prefect_harness, built, monkeypatch):
    monkeypatch.setenv("STEWARD_KILL_SWITCH", "1")
    result = act_step(_with_policy(built, action="pause"))
    assert _pause_row(result)["outcome"] == "not executed: held by the kill switch"
    assert _state(result) is None


def test_dry_run_decides_but_pauses_nothing(prefect_harness, built):
    result = act_step(_with_policy(built, action="pause"), dry_run=True)
    assert _pause_row(result)["outcome"] == "not executed: dry run"
    assert _state(result) is None
