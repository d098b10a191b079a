"""Posts alert payloads to Slack: the only module in Steward that imports ``slack_sdk``.

Retries belong to slack-sdk's own retry handlers (429 honouring ``Retry-After``, 500/503, dropped connections), so
this module only sorts what is left after them into three outcomes:

* sent: ``SendResult(ok=True, ts=..., channel=<channel id>)``;
* worth trying again later (still rate limited, server down, no connection): ``SendResult(ok=False, error=...)``,
  which the outbox keeps queued;
* wrong for good: a bad token raises ``NotifyError`` (every alert would fail the same way), an unknown or archived
  channel raises its subclass ``ChannelError`` (alerts routed elsewhere can still go), and a payload Slack refuses
  returns ``SendResult(ok=False, retryable=False)`` so one bad message cannot block the rest.

The token never appears in a message, log line or exception raised here; error texts are also scrubbed of anything
shaped like a Slack token in case a library puts one there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import (BackoffRetryIntervalCalculator, ConnectionErrorRetryHandler,
                                  RateLimitErrorRetryHandler, RetryIntervalCalculator)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from ...contracts.errors import ChannelError, ConfigError, NotifyError

__all__ = ["SendResult", "SlackNotifier", "build_client", "DEFAULT_API_URL", "PERMANENT_ERRORS", "CHANNEL_ERRORS",
           "REJECTED_PAYLOAD_ERRORS"]

DEFAULT_API_URL = WebClient.BASE_URL
# Errors that every message to this channel with this token would get: fix the config, do not retry.
PERMANENT_ERRORS = {
    "not_authed": "no bot token was sent; set SLACK_BOT_TOKEN",
    "invalid_auth": "the bot token was rejected; check SLACK_BOT_TOKEN",
    "account_inactive": "the bot token belongs to a deactivated app or workspace",
    "token_revoked": "the bot token was revoked; reinstall the Slack app",
    "token_expired": "the bot token expired; reinstall the Slack app",
    "missing_scope": "the bot token lacks the chat:write scope",
    "channel_not_found": "no such channel for this bot; check the name or invite the bot",
    "not_in_channel": "the bot is not a member; invite it to the channel",
    "is_archived": "the channel is archived",
}
# The subset that concerns one channel only: alerts routed elsewhere can still be delivered.
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
# Errors about this one payload: it will never be accepted as it is, but other alerts may be.
REJECTED_PAYLOAD_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long",
                                     "msg_blocks_too_long", "no_text", "invalid_arguments", "too_many_attachments",
                                     "message_not_found", "cant_update_message", "edit_window_closed"})
_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+|Bearer\s+\S+")


@dataclass(frozen=True)
class SendResult:
    """What one call achieved; ``retryable`` is False when Slack refused this payload for good.

    ``ts`` and ``channel`` (the channel id) identify the message, which is what threads and updates need later.
    """

    ok: bool
    ts: str | None = None
    error: str | None = None
    retryable: bool = True
    channel: str | None = None


def build_client(token: str, base_url: str | None = None, *, rate_limit_retries: int = 3,
                 server_error_retries: int = 2, connection_retries: int = 2, timeout: int = 15,
                 interval: RetryIntervalCalculator | None = None) -> WebClient:
    """A ``WebClient`` whose retry handlers ride out rate limits, 500/503 and dropped connections.

    Args:
        token: The bot token (``xoxb-...``); kept inside the client only.
        base_url: Slack's API root, or the emulator's ``base_url``.
        rate_limit_retries: Retries on HTTP 429; each waits the ``Retry-After`` seconds Slack asks for.
        server_error_retries: Retries on HTTP 500/503, with exponential backoff and jitter.
        connection_retries: Retries when the connection fails or is reset.
        timeout: Seconds per HTTP request.
        interval: Backoff for server and connection retries (tests pass a short fixed one).
    """
    backoff = interval or BackoffRetryIntervalCalculator(backoff_factor=0.5)
    handlers = [RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
                ServerErrorRetryHandler(max_retry_count=server_error_retries, interval_calculator=backoff),
                ConnectionErrorRetryHandler(max_retry_count=connection_retries, interval_calculator=backoff)]
    return WebClient(token=token, base_url=base_url or DEFAULT_API_URL, timeout=timeout, retry_handlers=handlers)


class SlackNotifier:
    """Posts, threads and updates messages through a passed-in ``WebClient``.

    ``channel`` is the default for calls that name none; the outbox names each row's own channel.
    """

    def __init__(self, client: WebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    @classmethod
    def from_env(cls, channel: str, env: Mapping[str, str] | None = None) -> "SlackNotifier":
        """From ``SLACK_BOT_TOKEN`` and optional ``SLACK_API_URL`` (the emulator's URL in the demo)."""
        env = os.environ if env is None else env
        token = env.get("SLACK_BOT_TOKEN", "").strip()
        if not token:
            raise ConfigError("SLACK_BOT_TOKEN is not set: alerts cannot go to Slack (they are printed instead)")
        return cls(build_client(token, env.get("SLACK_API_URL") or DEFAULT_API_URL), channel)

    def send(self, payload: Mapping[str, Any], thread_ts: str | None = None,
             channel: str | None = None) -> SendResult:
        """Post ``payload`` (``text`` and ``blocks``), as a threaded reply when ``thread_ts`` is given.

        Raises NotifyError only when the config is wrong for good (ChannelError when only this channel is).
        """
        channel = channel or self.channel
        return self._call(channel, lambda: self.client.chat_postMessage(
            channel=channel, text=payload.get("text"), blocks=payload.get("blocks"), thread_ts=thread_ts,
            unfurl_links=False, unfurl_media=False))

    def update(self, ts: str, payload: Mapping[str, Any], channel: str | None = None) -> SendResult:
        """Replace the message ``ts`` with ``payload``; ``channel`` must be the id Slack answered the post with."""
        channel = channel or self.channel
        return self._call(channel, lambda: self.client.chat_update(
            channel=channel, ts=ts, text=payload.get("text"), blocks=payload.get("blocks")))

    def ephemeral(self, channel: str, user: str, text: str) -> SendResult:
        """Show ``text`` to ``user`` only, in ``channel`` (a refused approval click says why this way)."""
        return self._call(channel, lambda: self.client.chat_postEphemeral(channel=channel, user=user, text=text))

    def _call(self, channel: str, call: Callable[[], Any]) -> SendResult:
        try:
            response = call()
        except SlackApiError as exc:
            status, error = exc.response.status_code, str(exc.response.get("error") or "")
        except (SlackClientError, OSError) as exc:  # URLError, timeouts and resets are OSErrors
            return SendResult(False, error=f"cannot reach Slack: {_scrub(_reason(exc))}")
        else:
            return SendResult(True, ts=response.get("ts"), channel=response.get("channel"))
        return _failure(channel, status, error)


def _failure(channel: str, status: int, error: str) -> SendResult:
    """Sorts a refused call; raised outside the ``except`` so no exception chain carries the request."""
    if error in CHANNEL_ERRORS:
        raise ChannelError(f"Slack channel {channel}: {error} ({PERMANENT_ERRORS[error]})", channel)
    if error in PERMANENT_ERRORS:
        raise NotifyError(f"Slack channel {channel}: {error} ({PERMANENT_ERRORS[error]})")
    if error in REJECTED_PAYLOAD_ERRORS:
        return SendResult(False, error=f"Slack refused the message: {_scrub(error)}", retryable=False)
    if status == 429:
        return SendResult(False, error="ratelimited: Slack still rate limited after retries")
    detail = _scrub(error) or "no error code"
    return SendResult(False, error=f"Slack answered HTTP {status}: {detail}")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text and text[0] else type(exc).__name__


def _scrub(text: str) -> str:
    return _TOKEN.sub("[token]", text)[:300]
