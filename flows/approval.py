"""Human approval of a risky action, through Prefect's own pause-and-resume with typed input.

A rule whose action is ``request_approval`` pauses the governance flow run until someone answers with
``steward approve FLOW_RUN_ID`` (or the Prefect UI's form). Nobody answering within the policy's timeout, or no
Prefect server for anyone to answer on, falls back to the policy's safe choice, and the audit log says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput

from steward.contracts.actions import PlannedAction
from steward.contracts.policy import Policy

from .progress import report

__all__ = ["ApprovalInput", "Decision", "collect_approvals", "answer"]


class ApprovalInput(RunInput):
    """What an approver sends back; the Prefect UI renders it as a form."""

    approved: bool
    approver: str = "unknown"
    comment: str = ""


@dataclass(frozen=True)
class Decision:
    approved: bool
    decided_by: str
    how: str  # approved | rejected | timeout | no_server
    comment: str = ""


def collect_approvals(plans: list[PlannedAction], policy: Policy) -> dict[int, Decision]:
    """One human decision per executable ``request_approval`` plan, keyed by the plan's position."""
    return {i: _ask(plan, policy) for i, plan in enumerate(plans)
            if plan.action == "request_approval" and plan.execute}


def _ask(plan: PlannedAction, policy: Policy) -> Decision:
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    fallback = policy.actions.on_approval_timeout == "approve"
    context = FlowRunContext.get()
    if not PREFECT_API_URL.value() or context is None or context.flow_run is None:
        return Decision(fallback, f"policy:on_approval_timeout={policy.actions.on_approval_timeout}", "no_server",
                        "no Prefect server (PREFECT_API_URL) for an approver to answer on")
    run_id = context.flow_run.id
    report("approve", f"pause {plan.target}? answer with: steward approve {run_id} [--reject] "
                      f"(waits {policy.actions.approval_timeout_seconds}s)")
    timeout = policy.actions.approval_timeout_seconds
    try:
        answer_ = pause_flow_run(wait_for_input=ApprovalInput.with_initial_data(
            description=f"Steward asks to pause {plan.target}: {plan.reason}", approved=False),
            timeout=timeout, poll_interval=max(1, min(5, timeout // 4)), key=f"approve-{plan.finding.fingerprint}")
    except FlowPauseTimeout:
        _resume_self(run_id)
        return Decision(fallback, f"policy:on_approval_timeout={policy.actions.on_approval_timeout}", "timeout",
                        f"nobody answered within {timeout}s")
    return Decision(answer_.approved, f"approver:{answer_.approver}",
                    "approved" if answer_.approved else "rejected", answer_.comment)


def _resume_self(run_id: UUID) -> None:
    """A timed-out pause leaves the run Paused on the server; the run carries on, so it says so."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Running(), force=True)


def answer(flow_run_id: str, approved: bool, approver: str, comment: str) -> None:
    """Resume a waiting governance run with an approval or a rejection (what ``steward approve`` calls)."""
    resume_flow_run(UUID(flow_run_id), run_input={"approved": approved, "approver": approver, "comment": comment})
