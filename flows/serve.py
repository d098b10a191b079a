"""``steward serve``: the ASGI app Slack's Approve / Reject buttons call (``POST /slack/interactions``).

Slack posts every click to the app's request URL as a form field ``payload`` (JSON, ``block_actions``), signed with
the app's signing secret. The app answers:

* 401 and one log line (never the secret) when the signature is missing or wrong, the timestamp is more than five
  minutes off, or the same signed request was already accepted (a replay); nothing else happens;
* 200 and an ephemeral "not recorded: why" to the clicking user when the click is Slack's but cannot be an answer:
  the Slack user maps to no approver of the check (``approvals.slack_users``), the run no longer waits for that
  request, or the server holds no audit key to sign with; the run stays paused, and the refusal is appended to the
  audit log (after the paused run lets go of the warehouse: it holds the writer lock for its whole length);
* 200 otherwise, after resuming the run with the signed answer (``approval.answer_from_slack``; the run checks it
  again and audits the decision itself) and replacing the buttons with "Approved by @x at ...".

The app decides nothing itself: who may approve what is the policy's, and what an answer means is the flow's.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..contracts.errors import ApprovalError, ConfigError, NotifyError, StewardError
from ..contracts.policy import Policy
from ..integrations.notify.interactions import ApprovalClick, InteractionVerifier, decided_payload, parse_click

from .approval import answer_from_slack, slack_entry

if TYPE_CHECKING:
    from ..integrations.notify.slack import SlackNotifier
    from .config import StewardConfig

__all__ = ["create_app", "signing_secret", "INTERACTIONS_PATH", "MAX_BODY_BYTES"]

INTERACTIONS_PATH = "/slack/interactions"
MAX_BODY_BYTES = 1_000_000  # a click carries the clicked message; Slack's own messages stay far below this
SERVE_RUN_ID = "steward-serve"  # the audit log's run id for what the server itself refused
log = logging.getLogger("steward.serve")


def signing_secret(cfg: "StewardConfig") -> str:
    """The Slack app's signing secret: the environment variable ``serve.signing_secret_env`` names, else the Prefect
    Secret block ``serve.signing_secret_block``. Raises ConfigError (naming where it looked, not the value)."""
    secret = os.environ.get(cfg.serve.signing_secret_env, "").strip()
    if not secret and cfg.serve.signing_secret_block:
        from prefect.blocks.system import Secret

        try:
            secret = str(Secret.load(cfg.serve.signing_secret_block).get()).strip()
        except ValueError as exc:  # Prefect's "no block document named ..." error
            raise ConfigError(f"serve.signing_secret_block: no Prefect Secret block named "
                              f"'{cfg.serve.signing_secret_block}' ({exc})") from None
    if not secret:
        raise ConfigError(f"no Slack signing secret: set {cfg.serve.signing_secret_env} (the Slack app's Basic "
                          "Information > Signing Secret) or serve.signing_secret_block in steward.yaml")
    return secret


@dataclass
class _Approvals:
    cfg: "StewardConfig"
    policy: Policy
    verifier: InteractionVerifier
    slack: "SlackNotifier | None"

    async def interactions(self, request: Request) -> Response:
        body = await _bounded_body(request)
        if body is None:
            return PlainTextResponse("request too large", 413)
        why = self.verifier.check(body, request.headers)
        if why is not None:
            log.warning("refused a Slack interaction from %s: %s", _peer(request), why)
            return PlainTextResponse("invalid request signature", 401)
        try:
            click = parse_click(body)
        except ValueError as exc:
            log.warning("refused a signed Slack interaction: %s", exc)
            return PlainTextResponse(str(exc), 400)
        if click is None:
            return Response(status_code=200)  # another kind of interaction: nothing of Steward's to do
        return await run_in_threadpool(self._decide, click)

    def _decide(self, click: ApprovalClick) -> Response:
        from prefect.exceptions import FlowPauseTimeout, NotPausedError, ObjectNotFound

        verb = "approval" if click.approved else "rejection"
        try:
            request, approver = answer_from_slack(click.flow_run_id, click.request_id, click.target, click.approved,
                                                  click.user_id, click.user_name, self.policy)
        except (ApprovalError, NotPausedError, FlowPauseTimeout, ObjectNotFound, RuntimeError) as exc:
            why = str(exc) or type(exc).__name__
            log.warning("Slack %s of %s by %s refused: %s", verb, click.target, click.user_id, why)
            self._tell(click, f"Not recorded: {why}")
            return Response(status_code=200, background=BackgroundTask(self._audit_refusal, click, why))
        outcome = "Approved" if click.approved else "Rejected"
        log.info("Slack %s of %s (request %s) by %s as approver %s: run %s resumed", verb, request.target,
                 request.request_id, click.user_id, approver, click.flow_run_id)
        if self.slack is not None:  # the run is answered already: a message Slack will not update is only logged
            try:
                sent = self.slack.update(click.message_ts, decided_payload(click, outcome,
                                                                           datetime.now(timezone.utc)),
                                         channel=click.channel_id)
                error = sent.error
            except NotifyError as exc:
                error = str(exc)
            if error:
                log.warning("the approval message was not updated: %s", error)
        return Response(status_code=200)

    def _tell(self, click: ApprovalClick, text: str) -> None:
        if self.slack is None:
            return
        try:
            error = self.slack.ephemeral(click.channel_id, click.user_id, text).error
        except NotifyError as exc:
            error = str(exc)
        if error:
            log.warning("could not tell %s why the click was refused: %s", click.user_id, error)

    def _audit_refusal(self, click: ApprovalClick, why: str) -> None:
        """Waits for the warehouse's writer lock (the paused run holds it until it ends), then appends the row."""
        from ..integrations.warehouse import Warehouse
        from ..integrations.warehouse.ledger import append_audit

        try:
            wh = Warehouse(self.cfg.warehouse, self.cfg.lock_timeout_seconds,
                           self.cfg.duckdb.settings(self.cfg.warehouse))
            append_audit(wh, run_id=SERVE_RUN_ID, fingerprint=None, check_id=None, action="request_approval",
                         target=click.target, decided_by=slack_entry(click.user_id),
                         reason=f"Slack {'approval' if click.approved else 'rejection'} for flow run "
                                f"{click.flow_run_id} (request {click.request_id}) refused: {why}",
                         outcome="refused")
        except StewardError as exc:  # a warehouse still busy after lock_timeout_seconds, say: the log line stays
            log.warning("the refusal of %s's click is not in the audit log: %s", click.user_id, exc)


def create_app(cfg: "StewardConfig", policy: Policy, secret: str, slack: "SlackNotifier | None") -> Starlette:
    """The app: ``POST /slack/interactions`` and ``GET /healthz``; ``slack`` updates messages (None: it cannot)."""
    handler = _Approvals(cfg, policy, InteractionVerifier(secret), slack)
    return Starlette(routes=[Route(INTERACTIONS_PATH, handler.interactions, methods=["POST"]),
                             Route("/healthz", lambda _: PlainTextResponse("ok"), methods=["GET"])])


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or None once it passes ``MAX_BODY_BYTES`` (read in chunks: memory stays bounded on any input)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "an unknown peer"
