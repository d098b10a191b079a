"""``steward serve``: answer approval requests from Slack's Approve / Reject buttons (``flows/serve.py``).

It needs what an approver on another machine needs (docs/approvals.md): the Prefect server the runs wait on
(``PREFECT_API_URL``), the runs' audit key (``STEWARD_AUDIT_KEY``) to sign answers with, the Slack app's signing secret
to check Slack's requests with, and the bot token to update the message. Missing ones stop it before it listens,
with one ``error:`` line and exit 2.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._console import err, one_line_errors

__all__ = ["serve"]


def serve(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c", help="Path to steward.yaml."),
          host: str = typer.Option(None, "--host", help="Interface to listen on (default: serve.host, "
                                                        "127.0.0.1)."),
          port: int = typer.Option(None, "--port", min=1, max=65535,
                                   help="Port to listen on (default: serve.port, 3000).")) -> None:
    """Receive Slack's approval clicks on POST /slack/interactions and resume the waiting governance run."""
    from ...contracts.errors import ConfigError
    from ...contracts.policy import load_policy
    from ...integrations.warehouse.ledger import audit_key

    from ..alerts import slack_sender
    from ..config import load_config
    from ..serve import INTERACTIONS_PATH, create_app, signing_secret

    with one_line_errors():
        cfg = load_config(config)
        policy = load_policy(cfg.policy)
        secret = signing_secret(cfg)
        if audit_key() is None:
            raise ConfigError("no audit key: set STEWARD_AUDIT_KEY (or STEWARD_AUDIT_KEY_BLOCK) to the runs' key; "
                              "answers from Slack are signed with it")
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():
            raise ConfigError("PREFECT_API_URL is not set: no Prefect server whose waiting runs Slack could answer")
        slack = slack_sender(cfg, policy.alerts.channel)
        if slack is None:
            err.print(f"[yellow]warning:[/] {cfg.slack.token_env} is not set: answered messages keep their buttons")
        app = create_app(cfg, policy, secret, slack)
    host, port = host or cfg.serve.host, port or cfg.serve.port
    err.print(f"steward serve: Slack request URL http://{host}:{port}{INTERACTIONS_PATH} (Ctrl-C stops)")
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
