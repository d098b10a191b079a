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
- its approver is listed in the policy (``approvals``), and whoever typed it is that approver, a listed delegate,
  or (``slack:U…``) the Slack user the policy's ``approvals.slack_users`` maps to that approver.

With a Slack bot token set up, the request is also posted to Slack with Approve / Reject buttons (in the finding's
incident thread when it has one); ``steward serve`` (``flows/serve.py``) turns a click into the same signed answer
through ``answer_from_slack``, signed with the audit-key-derived token, so the checks above apply to it unchanged.

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
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput

from ..contracts.actions import PlannedAction
from ..contracts.policy import Policy
from ..contracts.errors import ApprovalError, NotifyError
from ..integrations.warehouse.ledger import AuditKey, audit_key

from .progress import report

if TYPE_CHECKING:
    from ..integrations.warehouse import Warehouse
    from .config import StewardConfig

__all__ = ["ApprovalInput", "ApprovalRequest", "Decision", "collect_approvals", "answer", "pending_request",
           "judge_answer", "signature", "APPROVAL_DIR_ENV", "Announce", "answer_from_slack", "slack_entry",
           "slack_approver", "slack_announcer"]

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
    run_user: str = ""  # the operating-system user the run runs as (what ``@run_user`` stands for)


@dataclass(frozen=True)
class Decision:
    approved: bool
    decided_by: str
    how: str  # approved | rejected | refused | timeout | no_server
    comment: str = ""


class Announce(Protocol):
    """Tells people a request is waiting (``slack_announcer`` posts the Approve / Reject buttons); may fail, which
    leaves ``steward approve`` as the way to answer."""

    def __call__(self, request: ApprovalRequest, plan: PlannedAction, flow_run_id: str, timeout: int) -> str: ...


def collect_approvals(plans: list[PlannedAction], policy: Policy,
                      announce: Announce | None = None) -> dict[int, Decision]:
    """One human decision per executable ``request_approval`` plan, keyed by the plan's position."""
    return {i: _ask(plan, policy, announce) for i, plan in enumerate(plans)
            if plan.action == "request_approval" and plan.execute}


def _ask(plan: PlannedAction, policy: Policy, announce: Announce | None = None) -> Decision:
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
                              plan.finding.fingerprint, getpass.getuser())
    pause_key = f"approve-{plan.finding.fingerprint}"
    token = _issue_token(request.request_id)
    timeout = policy.actions.approval_timeout_seconds
    try:
        create_flow_run_input(_REQUEST_KEY.format(pause_key=pause_key), asdict(request), flow_run_id=run_id)
        report("approve", f"pause {plan.target}? answer with: steward approve {run_id} --target {plan.target} "
                          f"[--reject] (request {request.request_id}, waits {timeout}s)")
        if announce is not None:
            report("approve", announce(request, plan, str(run_id), timeout))
        answer_ = pause_flow_run(wait_for_input=ApprovalInput.with_initial_data(
            description=f"Steward asks to pause {plan.target} ({plan.finding.check_id}, request "
                        f"{request.request_id}): {plan.reason}", approved=False, target=request.target,
            request_id=request.request_id),
            # Prefect first sleeps min(timeout / 2, poll_interval), then reads the run every poll_interval: with up
            # to 5 s an approver's answer waited 5 s at least before the run went on; one read of the run a second
            # is nothing to the server and the answer takes effect within a second
            timeout=timeout, poll_interval=1, key=pause_key)
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
    elif answer_.entered_by != answer_.approver and answer_.entered_by not in policy.approvals.delegates \
            and slack_approver(answer_.entered_by, policy) != answer_.approver:
        why = (f"'{_clip(answer_.entered_by)}' may not answer for '{claimed}' (policy approvals.delegates, "
               "approvals.slack_users)")
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


# --- answering from Slack (``steward serve``) --------------------------------------------------------------------
SLACK_ENTRY = "slack:"  # entered_by of an answer given with a Slack button: "slack:U024BE7LH"


def slack_entry(user_id: str) -> str:
    return f"{SLACK_ENTRY}{user_id}"


def slack_approver(entered_by: str, policy: Policy) -> str | None:
    """The approver ``approvals.slack_users`` maps the Slack user behind ``entered_by`` to, if any."""
    if not entered_by.startswith(SLACK_ENTRY):
        return None
    return policy.approvals.slack_users.get(entered_by.removeprefix(SLACK_ENTRY))


def answer_from_slack(flow_run_id: str, request_id: str, target: str, approved: bool, user_id: str,
                      user_name: str, policy: Policy) -> tuple[ApprovalRequest, str]:
    """Resume a waiting run with the answer a Slack click stands for; returns the request and the approver.

    The click only refuses early: the approver is the one ``approvals.slack_users`` maps the Slack user to, it must
    be an approver of the request's check, and the answer is signed with the token derived from the audit key
    (the server holds no run's token file). Raises ApprovalError, and resumes nothing, when any of that fails.
    """
    request = pending_request(flow_run_id)
    if (request.request_id, request.target) != (request_id, target):
        raise ApprovalError(f"flow run {flow_run_id} now asks request {request.request_id} for {request.target}, "
                            f"not request {_clip(request_id)} for {_clip(target)}")
    approver = policy.approvals.slack_users.get(user_id)
    if approver is None:
        raise ApprovalError(f"Slack user {_clip(user_id)} is not mapped to an approver (policy approvals.slack_users)")
    if approver not in policy.approvals.approvers_for(request.check_id, request.run_user):
        raise ApprovalError(f"'{approver}' (Slack user {_clip(user_id)}) is not an approver of {request.check_id} "
                            "(policy approvals)")
    derived = _derived(request.request_id)
    if not derived:
        raise ApprovalError("answering from Slack needs the run's audit key: set STEWARD_AUDIT_KEY (or "
                            "STEWARD_AUDIT_KEY_BLOCK) for `steward serve` as for the run")
    payload = {"approved": approved, "approver": approver, "entered_by": slack_entry(user_id),
               "request_id": request.request_id, "target": request.target,
               "comment": f"answered in Slack by @{_clip(user_name or user_id, 40)}"}
    resume_flow_run(UUID(flow_run_id), run_input={**payload, "signature": signature(derived[0], payload)})
    return request, approver


def slack_announcer(cfg: "StewardConfig", wh: "Warehouse", policy: Policy) -> Announce | None:
    """Posts each approval request to Slack with Approve / Reject buttons, or None when no bot token is set up.

    The post goes into the finding's incident thread (the run alerts before it acts, so even a first sighting has
    one), else to the channel the finding's alerts go to; either way it is sent at once, not through the outbox,
    because the run waits on it.
    """
    from ..contracts.routing import route
    from ..integrations.notify.incidents import incidents
    from ..integrations.notify.interactions import approval_payload
    from .alerts import alert_policy, slack_sender

    routed = alert_policy(policy, cfg)
    sender = slack_sender(cfg, routed.alerts.channel)
    if sender is None:
        return None

    def announce(request: ApprovalRequest, plan: PlannedAction, flow_run_id: str, timeout: int) -> str:
        thread = next((i for i in incidents(wh, "open") if i.fingerprint == request.fingerprint and i.thread_ts),
                      None)
        channel = thread.channel if thread else route(plan.finding, routed).channel
        payload = approval_payload(flow_run_id=flow_run_id, request_id=request.request_id, target=request.target,
                                   label=_campaign_label(wh, request), check_id=request.check_id, reason=plan.reason,
                                   timeout_seconds=timeout)
        try:
            sent = sender.send(payload, thread_ts=thread.thread_ts if thread else None, channel=channel)
        except NotifyError as exc:
            return f"approval buttons not posted to Slack: {exc}"
        where = f"{channel}" + (" (incident thread)" if thread else "")
        return f"approval buttons posted to {where}" if sent.ok else \
            f"approval buttons not posted to Slack: {sent.error}"

    return announce


def _campaign_label(wh: "Warehouse", request: ApprovalRequest) -> str:
    """The campaign's name and id (the campaign directory, ``reads.campaign_refs``) when the warehouse knows it,
    else the target (``platform:id``) alone."""
    from ..integrations.warehouse.reads import campaign_refs

    ref = campaign_refs(wh).get(request.target)
    return ref.label if ref is not None else request.target
