"""Human approval of a risky action, through Prefect's own pause-and-resume with typed input.

A rule whose action is ``request_approval`` pauses the governance flow run until someone answers with
``steward approve FLOW_RUN_ID --target PLATFORM:CAMPAIGN``. Nobody answering within the policy's timeout, or no
Prefect server for anyone to answer on, falls back to the policy's safe choice, and the audit log says which. The
Prefect UI still shows the request as a form, but it cannot sign an answer, so an answer given there is refused.

Prefect's resume endpoint has no authentication of its own, so the flow trusts nothing an answer says until it has
checked it, after the resume, against the request it is waiting on:

- the answer names the same request id and target (a campaign on a platform) as the pending request;
- it is signed (HMAC-SHA256) with a one-time token only the run's operating-system user can read (a 0600 file the
  run writes under ``~/.steward/approvals``), or with a token derived from the audit key (``STEWARD_AUDIT_KEY``) for
  an approver on another machine; an anonymous POST to the resume endpoint has neither;
- its approver is listed in the policy (``approvals``), and whoever typed it is that approver or a listed delegate.

An answer that fails any check is refused: the action is not executed (the run treats it as not approved rather
than waiting on, so a refusal can never turn into an approval later) and the audit row says why.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from uuid import UUID

from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput

from ..contracts.actions import PlannedAction
from ..contracts.policy import Policy
from ..contracts.errors import ApprovalError
from ..integrations.warehouse.ledger import AuditKey, audit_key

from .progress import report

__all__ = ["ApprovalInput", "ApprovalRequest", "Decision", "collect_approvals", "answer", "pending_request",
           "judge_answer", "signature", "APPROVAL_DIR_ENV"]

APPROVAL_DIR_ENV = "STEWARD_APPROVAL_DIR"  # where one-time tokens live (default ~/.steward/approvals)
_REQUEST_KEY = "steward-request-{pause_key}"  # the flow run input that tells `steward approve` what is asked


class ApprovalInput(RunInput):
    """What an approver sends back; the Prefect UI renders it as a form. Every field but ``approved`` is checked
    against the pending request after the resume (module docstring), so defaults only make a forgery fail there."""

    approved: bool
    approver: str = ""
    entered_by: str = ""
    request_id: str = ""
    target: str = ""
    comment: str = ""
    signature: str = ""


@dataclass(frozen=True)
class ApprovalRequest:
    """The one question a paused run asks: may it act on ``target`` for ``check_id``?"""

    request_id: str
    check_id: str
    platform: str
    target: str  # platform:campaign_id
    fingerprint: str


@dataclass(frozen=True)
class Decision:
    approved: bool
    decided_by: str
    how: str  # approved | rejected | refused | timeout | no_server
    comment: str = ""


def collect_approvals(plans: list[PlannedAction], policy: Policy) -> dict[int, Decision]:
    """One human decision per executable ``request_approval`` plan, keyed by the plan's position."""
    return {i: _ask(plan, policy) for i, plan in enumerate(plans)
            if plan.action == "request_approval" and plan.execute}


def _ask(plan: PlannedAction, policy: Policy) -> Decision:
    from prefect.context import FlowRunContext
    from prefect.input.actions import create_flow_run_input
    from prefect.settings import PREFECT_API_URL

    fallback = policy.actions.on_approval_timeout == "approve"
    context = FlowRunContext.get()
    if not PREFECT_API_URL.value() or context is None or context.flow_run is None:
        return Decision(fallback, f"policy:on_approval_timeout={policy.actions.on_approval_timeout}", "no_server",
                        "no Prefect server (PREFECT_API_URL) for an approver to answer on")
    run_id = context.flow_run.id
    request = ApprovalRequest(secrets.token_hex(8), plan.finding.check_id, plan.platform or "", plan.target or "",
                              plan.finding.fingerprint)
    pause_key = f"approve-{plan.finding.fingerprint}"
    token = _issue_token(request.request_id)
    timeout = policy.actions.approval_timeout_seconds
    try:
        create_flow_run_input(_REQUEST_KEY.format(pause_key=pause_key), asdict(request), flow_run_id=run_id)
        report("approve", f"pause {plan.target}? answer with: steward approve {run_id} --target {plan.target} "
                          f"[--reject] (request {request.request_id}, waits {timeout}s)")
        answer_ = pause_flow_run(wait_for_input=ApprovalInput.with_initial_data(
            description=f"Steward asks to pause {plan.target} ({plan.finding.check_id}, request "
                        f"{request.request_id}): {plan.reason}", approved=False, target=request.target,
            request_id=request.request_id),
            timeout=timeout, poll_interval=max(1, min(5, timeout // 4)), key=pause_key)
    except FlowPauseTimeout:
        _resume_self(run_id)
        return Decision(fallback, f"policy:on_approval_timeout={policy.actions.on_approval_timeout}", "timeout",
                        f"nobody answered within {timeout}s")
    finally:
        _token_path(request.request_id).unlink(missing_ok=True)
    return judge_answer(answer_, request, policy, [token, *_derived(request.request_id)], getpass.getuser())


def judge_answer(answer_: ApprovalInput, request: ApprovalRequest, policy: Policy, tokens: list[bytes],
                 run_user: str) -> Decision:
    """The decision an answer stands for, or a refusal naming the first check it fails (module docstring)."""
    claimed = _clip(answer_.approver)
    if answer_.request_id != request.request_id or answer_.target != request.target:
        why = (f"the answer names request '{_clip(answer_.request_id)}' for '{_clip(answer_.target)}', but the run "
               f"asks request {request.request_id} for {request.target}")
    elif not any(hmac.compare_digest(signature(t, answer_), answer_.signature) for t in tokens):
        why = "the answer is not signed with the request's token (not sent by `steward approve` for this request)"
    elif answer_.approver not in policy.approvals.approvers_for(request.check_id, run_user):
        why = f"'{claimed}' is not an approver of {request.check_id} (policy approvals)"
    elif answer_.entered_by != answer_.approver and answer_.entered_by not in policy.approvals.delegates:
        why = f"'{_clip(answer_.entered_by)}' may not answer for '{claimed}' (policy approvals.delegates)"
    else:
        who = f"approver:{claimed}" + (f" (entered by {_clip(answer_.entered_by)})"
                                       if answer_.entered_by != answer_.approver else "")
        return Decision(answer_.approved, who, "approved" if answer_.approved else "rejected", answer_.comment)
    return Decision(False, "policy:approvals", "refused", f"answer claiming approver '{claimed}' refused: {why}")


def signature(token: bytes, answer_: ApprovalInput | dict) -> str:
    """HMAC-SHA256 over everything the answer says, so no field can be changed on the way."""
    data = answer_ if isinstance(answer_, dict) else answer_.model_dump()
    body = json.dumps({k: data.get(k) for k in ("approved", "approver", "entered_by", "request_id", "target",
                                                "comment")}, sort_keys=True)
    return hmac.new(token, body.encode(), hashlib.sha256).hexdigest()


def _clip(text: str, limit: int = 80) -> str:
    """Whatever an answer claims goes into the audit log as short, single-line text."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _approval_dir() -> Path:
    return Path(os.environ.get(APPROVAL_DIR_ENV) or Path.home() / ".steward" / "approvals")


def _token_path(request_id: str) -> Path:
    if not request_id.isalnum():
        raise ApprovalError(f"request id '{_clip(request_id)}' is not a request id")
    return _approval_dir() / f"{request_id}.token"


def _issue_token(request_id: str) -> bytes:
    """A one-time token in a file only this operating-system user can read: proof that an answer came from them."""
    folder = _approval_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    token = secrets.token_hex(32).encode()
    fd = os.open(_token_path(request_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(token)
    return token


def _derived(request_id: str, key: AuditKey | None = None) -> list[bytes]:
    """The token an approver holding the audit key can compute for a request without reading the run's file."""
    key = key or audit_key()
    return [hmac.new(key.secret, f"steward-approval:{request_id}".encode(), hashlib.sha256).hexdigest().encode()] \
        if key else []


def _resume_self(run_id: UUID) -> None:
    """A timed-out pause leaves the run Paused on the server; the run carries on, so it says so."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Running(), force=True)


def pending_request(flow_run_id: str) -> ApprovalRequest:
    """The request a paused governance run waits on, as the run published it."""
    from prefect.client.orchestration import get_client
    from prefect.input.actions import read_flow_run_input

    try:
        run_uuid = UUID(flow_run_id)
    except ValueError:
        raise ApprovalError(f"flow run '{_clip(flow_run_id)}' is not a flow run id") from None
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_uuid).state
    if state is None or not state.is_paused() or not state.state_details.pause_key:
        raise ApprovalError(f"flow run {flow_run_id} is not waiting for an approval "
                            f"(state: {state.name if state else 'none'})")
    data = read_flow_run_input(_REQUEST_KEY.format(pause_key=state.state_details.pause_key), flow_run_id=run_uuid)
    if not isinstance(data, dict):
        raise ApprovalError(f"flow run {flow_run_id} is paused but published no Steward approval request")
    return ApprovalRequest(**{k: str(data.get(k, "")) for k in ApprovalRequest.__dataclass_fields__})


def answer(flow_run_id: str, target: str | None, approved: bool, by: str | None, comment: str,
           policy: Policy) -> ApprovalRequest:
    """Resume a waiting governance run with a signed approval or rejection (what ``steward approve`` calls).

    The approver is the operating-system user; ``by`` names someone else only when the policy lists that user as a
    delegate. The run checks all of it again after the resume; these checks only refuse early and say why.
    """
    request = pending_request(flow_run_id)
    if target != request.target:
        asked = f"flow run {flow_run_id} asks to pause {request.target} ({request.check_id}, request " \
                f"{request.request_id})"
        raise ApprovalError(f"{asked}: name it with --target {request.target}" if target is None else
                            f"{asked}, not {_clip(target)}")
    user = getpass.getuser()
    approver = by or user
    if approver != user and user not in policy.approvals.delegates:
        raise ApprovalError(f"--by {_clip(approver)}: {user} may not answer for someone else "
                            "(only users in the policy's approvals.delegates may)")
    token = _read_token(request.request_id)
    payload = {"approved": approved, "approver": approver, "entered_by": user, "request_id": request.request_id,
               "target": request.target, "comment": comment}
    resume_flow_run(UUID(flow_run_id), run_input={**payload, "signature": signature(token, payload)})
    return request


def _read_token(request_id: str) -> bytes:
    path = _token_path(request_id)
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    except PermissionError:
        raise ApprovalError(f"{path}: not readable by {getpass.getuser()}; answer as the user the run runs as, "
                            "or set STEWARD_AUDIT_KEY") from None
    derived = _derived(request_id)
    if not derived:
        raise ApprovalError(f"no token for request {request_id} here ({path}); answer on the machine and as the "
                            "user the run runs as, or set STEWARD_AUDIT_KEY to the run's audit key")
    return derived[0]
