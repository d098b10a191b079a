"""Guarded actions on a real Prefect flow run: approval, rejection, timeout, kill switch, dry run, resume."""

from __future__ import annotations

import contextvars
import getpass
import threading
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from steward.flows.cli import app
from steward.flows.demo import prepare_demo
from steward.flows.governance import RunParams, governance_run
from steward.integrations.warehouse.ledger import verify_audit_log
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow
TARGET = "hubspot:700003"  # the over-optimised campaign of the demo workspace
ME = getpass.getuser()  # `steward approve` answers as the operating-system user; the default policy lists the run's
AUDIT_KEY = "audit-key-of-the-approval-test-7c1d"


def _workspace(tmp_path: Path, action: str = "request_approval", timeout: int = 60,
               on_timeout: str = "reject") -> Path:
    config, _ = prepare_demo(tmp_path / "ws", scale=0.3)
    policy = yaml.safe_load((Path(__file__).parents[2] / "contracts" / "policy.yaml").read_text())
    policy["checks"]["metric_balance.kpi_up_guardrail_down"]["action"] = {"critical": action}
    policy["actions"].update(approval_timeout_seconds=timeout, on_approval_timeout=on_timeout)
    (config.parent / "policy.yaml").write_text(yaml.safe_dump(policy))
    cfg = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**cfg, "policy": "policy.yaml"}))
    return config


def _answer_when_paused(*cli_args: str) -> threading.Thread:
    """An approver in another thread: waits for the run to pause, then answers through `steward approve`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    def approver() -> None:
        paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
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


def test_approved_pause_is_executed_and_audited_with_the_approver(prefect_harness, tmp_path, monkeypatch):
    monkeypatch.setenv("STEWARD_AUDIT_KEY", AUDIT_KEY)
    config = _workspace(tmp_path)
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


def test_rejected_pause_leaves_the_campaign_running(prefect_harness, tmp_path):
    config = _workspace(tmp_path)
    approver = _answer_when_paused("--target", TARGET, "--reject", "--comment", "launch week")
    result = governance_run(RunParams(config=str(config)))
    approver.join(timeout=5)
    row = _pause_row(result)
    assert row["outcome"] == "not executed: rejected" and row["decided_by"] == f"approver:{ME}"
    assert _state(result) is None


@pytest.mark.parametrize("on_timeout, outcome, state", [("reject", "not executed: timeout", None),
                                                        ("approve", "paused", "paused")])
def test_nobody_answering_falls_back_to_the_policy_choice(prefect_harness, tmp_path, on_timeout, outcome, state):
    config = _workspace(tmp_path, timeout=3, on_timeout=on_timeout)
    started = time.monotonic()
    result = governance_run(RunParams(config=str(config)))
    assert time.monotonic() - started >= 3
    row = _pause_row(result)
    assert row["outcome"] == outcome and row["decided_by"] == f"policy:on_approval_timeout={on_timeout}"
    assert _state(result) == state and result.status == "completed"


def test_kill_switch_from_the_environment_holds_every_pause(prefect_harness, tmp_path, monkeypatch):
    monkeypatch.setenv("STEWARD_KILL_SWITCH", "1")
    result = governance_run(RunParams(config=str(_workspace(tmp_path, action="pause"))))
    assert _pause_row(result)["outcome"] == "not executed: held by the kill switch"
    assert _state(result) is None


def test_dry_run_decides_but_pauses_nothing(prefect_harness, tmp_path):
    result = governance_run(RunParams(config=str(_workspace(tmp_path, action="pause")), dry_run=True))
    assert _pause_row(result)["outcome"] == "not executed: dry run"
    assert _state(result) is None
