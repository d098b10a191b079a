"""Who may answer an approval, about what: checked inside the paused flow run after it resumes.

Each test pauses a real Prefect flow run (the temporary server of the session) on one approval request and answers it
from another thread, through `steward approve` or straight through Prefect's resume endpoint as an anonymous client
would. The decisions then go through the governance run's own `act` step into a real audit log.
"""

from __future__ import annotations

import contextvars
import getpass
import threading
import time
from pathlib import Path
from uuid import UUID

import pytest
import yaml
from prefect import flow
from typer.testing import CliRunner

from steward.contracts.actions import PlannedAction
from steward.contracts.finding import Finding
from steward.contracts.policy import Approvals, load_policy
from steward.flows import steps
from steward.flows.approval import ApprovalInput, ApprovalRequest, collect_approvals, judge_answer, pending_request, \
    signature
from steward.flows.cli import app
from steward.flows.config import IntegrationConfig, StewardConfig, write_config
from steward.integrations.warehouse import Warehouse

from shared_prefect import own_runs

pytestmark = pytest.mark.slow
CHECK = "metric_balance.kpi_up_guardrail_down"
TARGET = "hubspot:700003"
ME = getpass.getuser()


def _plan() -> PlannedAction:
    finding = Finding(run_id="r-1", check_id=CHECK, family="metric_balance", severity="critical",
                      subject_type="campaign", subject="700003", metric="ctr_lift", observed=0.4, threshold=0.2,
                      explanation="clicks up, complaints up")
    return PlannedAction(finding, "request_approval", "hubspot", "700003", "kpi up, guardrail down", True)


@flow(name="approval-under-test")
def _ask(approvers: list[str], delegates: list[str]) -> dict:
    policy = load_policy()
    policy = policy.model_copy(update={
        "approvals": Approvals(approvers=approvers, delegates=delegates),
        "actions": policy.actions.model_copy(update={"approval_timeout_seconds": 120})})
    return collect_approvals([_plan()], policy)


def _answer(how) -> threading.Thread:
    """``how(flow_run_id)`` runs in another thread as soon as a flow run is paused."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    def approver() -> None:
        paused = own_runs([StateType.PAUSED])  # this worker's: the session's server is shared (shared_prefect.py)
        with get_client(sync_client=True) as client:
            for _ in range(480):
                runs = client.read_flow_runs(flow_run_filter=paused)
                if runs:
                    how(str(runs[0].id))
                    return
                time.sleep(0.25)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(approver,), daemon=True)
    thread.start()
    return thread


def _config_with(tmp_path: Path, **approvals) -> Path:
    policy = yaml.safe_load((Path(__file__).parents[2] / "contracts" / "policy.yaml").read_text())
    policy["approvals"] = approvals
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    cfg = StewardConfig(policy=Path("policy.yaml"), integrations=[
        IntegrationConfig(name="hubspot", platform="hubspot", path=tmp_path)])
    return write_config(cfg, tmp_path / "steward.yaml")


def _cli(*args: str):
    return CliRunner().invoke(app, ["approve", *args])


def _run(tmp_path: Path, how, approvers=("@run_user",), delegates=()) -> tuple[dict, list[tuple]]:
    """Pause, let ``how`` answer, then act on the decision as the governance run does; returns the action and the
    audit rows."""
    answered = _answer(how)
    decisions = _ask(list(approvers), list(delegates))
    answered.join(timeout=30)
    wh = Warehouse(tmp_path / "w.duckdb")
    [done] = steps.act.fn(wh, [_plan()], decisions, {}, "r-1")
    with wh.connect() as con:
        audit = con.execute("select decided_by, reason, outcome from ledger.audit_log").fetchall()
    return done, audit


def _executed(done: dict) -> bool:
    # no adapter is wired in these tests, so an approved pause gets as far as looking for the platform's adapter
    return done["outcome"] == "not executed: no integration for platform hubspot"


@pytest.fixture(autouse=True)
def _tokens_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("STEWARD_APPROVAL_DIR", str(tmp_path / "tokens"))
    monkeypatch.delenv("STEWARD_AUDIT_KEY", raising=False)


def test_a_listed_approver_is_recorded_as_the_os_user(prefect_harness, tmp_path):
    results, modes = [], []

    def how(run: str) -> None:
        request = pending_request(run)
        token = tmp_path / "tokens" / f"{request.request_id}.token"
        modes.append((token.stat().st_mode & 0o777, (tmp_path / "tokens").stat().st_mode & 0o777))
        results.append(_cli(run, "--target", TARGET, "--comment", "ok"))

    done, audit = _run(tmp_path, how)
    assert results[0].exit_code == 0, results[0].output
    assert modes == [(0o600, 0o700)] and not list((tmp_path / "tokens").iterdir())  # one-time: gone once answered
    assert _executed(done) and done["decided_by"] == f"approver:{ME}"
    assert audit[0][0] == f"approver:{ME}" and "approved: ok" in audit[0][1]


def test_an_approver_elsewhere_signs_with_the_audit_key(prefect_harness, tmp_path, monkeypatch):
    monkeypatch.setenv("STEWARD_AUDIT_KEY", "shared-audit-key-for-approvers-01")
    results = []

    def how(run: str) -> None:  # another machine: the run's token file is not there
        (tmp_path / "tokens" / f"{pending_request(run).request_id}.token").unlink()
        results.append(_cli(run, "--target", TARGET))

    done, audit = _run(tmp_path, how)
    assert results[0].exit_code == 0, results[0].output
    assert _executed(done) and done["decided_by"] == f"approver:{ME}"


def test_an_approver_the_policy_does_not_list_is_refused(prefect_harness, tmp_path):
    done, audit = _run(tmp_path, lambda run: _cli(run, "--target", TARGET), approvers=["dana"])
    assert done["outcome"] == "not executed: refused" and done["decided_by"] == "policy:approvals"
    assert f"'{ME}' is not an approver of {CHECK}" in audit[0][1]


def test_answering_for_someone_else_needs_delegation(prefect_harness, tmp_path):
    tries = []

    def how(run: str) -> None:
        tries.append(_cli(run, "--target", TARGET, "--by", "alice"))
        tries.append(_cli(run, "--target", TARGET, "--reject"))

    done, _ = _run(tmp_path, how, approvers=["alice", "@run_user"])
    assert tries[0].exit_code == 2 and f"{ME} may not answer for someone else" in tries[0].output
    assert done["outcome"] == "not executed: rejected" and done["decided_by"] == f"approver:{ME}"

    config = _config_with(tmp_path, approvers=["alice"], delegates=[ME])  # the CLI reads delegates from it
    delegated = []
    done, audit = _run(tmp_path / "d", lambda run: delegated.append(
        _cli(run, "--target", TARGET, "--by", "alice", "-c", str(config))), approvers=["alice"], delegates=[ME])
    assert delegated[0].exit_code == 0, delegated[0].output
    assert _executed(done) and done["decided_by"] == f"approver:alice (entered by {ME})"


def test_naming_another_target_is_refused_before_anything_is_sent(prefect_harness, tmp_path):
    tries = []

    def how(run: str) -> None:
        tries.append(_cli(run))
        tries.append(_cli(run, "--target", "google_ads:9000000008"))
        tries.append(_cli(run, "--target", TARGET, "--reject"))

    done, _ = _run(tmp_path, how)
    assert tries[0].exit_code == 2 and f"name it with --target {TARGET}" in tries[0].output
    assert tries[1].exit_code == 2 and "not google_ads:9000000008" in tries[1].output
    assert done["outcome"] == "not executed: rejected"


def _forged(kind: str):
    """An anonymous client on Prefect's resume endpoint: it can read the pending request, not the run's token."""
    from prefect.flow_runs import resume_flow_run

    def how(run: str) -> None:
        request = pending_request(run)
        payload = {"approved": True, "approver": ME, "entered_by": ME, "request_id": request.request_id,
                   "target": request.target, "comment": "forged"}
        if kind == "wrong_target":
            payload["target"] = "hubspot:700009"
        if kind == "guessed_token":
            payload["signature"] = signature(b"0" * 64, payload)
        resume_flow_run(UUID(run), run_input=payload)

    return how


@pytest.mark.parametrize("kind, why", [("unsigned", "not signed with the request's token"),
                                       ("guessed_token", "not signed with the request's token"),
                                       ("wrong_target", "but the run asks request")])
def test_a_raw_resume_with_a_forged_answer_executes_nothing(prefect_harness, tmp_path, kind, why):
    done, audit = _run(tmp_path, _forged(kind))
    assert done["outcome"] == "not executed: refused"
    [(decided_by, reason, outcome)] = audit
    assert decided_by == "policy:approvals" and outcome == "not executed: refused" and why in reason


# --- the same checks as a pure function, for the cases a thread cannot easily reach --------------------------------

REQUEST = ApprovalRequest("abc123", CHECK, "hubspot", TARGET, "fp")
TOKEN = b"t" * 64


def _signed(**fields) -> ApprovalInput:
    data = {"approved": True, "approver": "ann", "entered_by": "ann", "request_id": "abc123", "target": TARGET,
            "comment": "", **fields}
    return ApprovalInput(**data, signature=signature(TOKEN, data))


def _policy(**approvals):
    return load_policy().model_copy(update={"approvals": Approvals(**approvals)})


def test_judging_answers():
    policy = _policy(approvers=["ann", "@run_user"], checks={"bias.other": ["zed"]}, delegates=["relay"])
    assert judge_answer(_signed(), REQUEST, policy, [TOKEN], "svc").decided_by == "approver:ann"
    assert judge_answer(_signed(approver="svc", entered_by="svc"), REQUEST, policy, [TOKEN], "svc").approved
    assert judge_answer(_signed(entered_by="relay"), REQUEST, policy, [TOKEN], "svc").decided_by \
        == "approver:ann (entered by relay)"
    refused = judge_answer(_signed(entered_by="bob"), REQUEST, policy, [TOKEN], "svc")
    assert refused.how == "refused" and "'bob' may not answer for 'ann'" in refused.comment
    tampered = _signed().model_copy(update={"approved": False})  # a field changed after signing
    assert judge_answer(tampered, REQUEST, policy, [TOKEN], "svc").how == "refused"
    per_check = ApprovalRequest("abc123", "bias.other", "hubspot", TARGET, "fp")
    assert judge_answer(_signed(), per_check, policy, [TOKEN], "svc").how == "refused"
    long_name = judge_answer(_signed(approver="x" * 500 + "\nforged line"), REQUEST, policy, [TOKEN], "svc")
    assert "\n" not in long_name.comment and len(long_name.comment) < 400
