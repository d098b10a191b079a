"""A local, wire-compatible stand-in for the Slack Web API, so the demo and the tests post real HTTP to 127.0.0.1.

It answers the five methods Steward uses the way Slack does, including the parts that bite in production: HTTP 200
with ``{"ok": false, "error": ...}`` for auth and argument errors, Block Kit size limits (``_blockkit``), threads that
must exist, ``chat.update`` taking only the channel id a post was answered with, and a settable fault plan
(429 with ``Retry-After``, 500, 503) to prove that retries and the outbox hold. It is served by the stdlib
``ThreadingHTTPServer`` on a background thread so the real ``slack_sdk.WebClient`` can talk to it over a socket.
It also plays Slack's side of interactivity: ``interaction`` builds the signed ``block_actions`` request a click on a
posted message's button sends to an app's request URL, and ``deliver`` posts it there.

Example:
    >>> with SlackEmulator(channels={"#alerts": "C0ALERTS"}) as slack:  # doctest: +SKIP
    ...     WebClient(token="xoxb-test", base_url=slack.base_url).chat_postMessage(channel="#alerts", text="hi")
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ._blockkit import MAX_BLOCKS, MAX_TEXT, block_errors, content_error

__all__ = ["SlackEmulator", "SlackMessage", "SlackRequest", "SlackEphemeral", "block_errors", "MAX_BLOCKS",
           "MAX_TEXT"]

TEAM = {"team": "Steward Demo", "team_id": "T0STEWARD", "user": "steward", "user_id": "U0STEWARD",
        "bot_id": "B0STEWARD", "url": "https://steward-demo.slack.com/"}

Reply = tuple[int, dict[str, str], dict[str, Any]]


@dataclass
class SlackMessage:
    """A message the emulator accepted; ``chat.update`` edits it in place and counts the edit."""

    channel: str
    ts: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    edits: int = 0


@dataclass(frozen=True)
class SlackRequest:
    """One request as the emulator saw it; whether a token came in the header, never the token itself."""

    method: str
    path: str
    has_auth_header: bool
    status: int
    error: str | None = None


@dataclass(frozen=True)
class SlackEphemeral:
    """A ``chat.postEphemeral``: text only ``user`` sees, in ``channel``."""

    channel: str
    user: str
    text: str


@dataclass
class _Fault:
    remaining: int
    status: int
    retry_after: int


@dataclass
class _State:
    messages: list[SlackMessage] = field(default_factory=list)
    requests: list[SlackRequest] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    last_ts: int = 0
    ephemerals: list[SlackEphemeral] = field(default_factory=list)


class SlackEmulator:
    """Slack Web API on 127.0.0.1: ``auth.test``, ``chat.postMessage``, ``chat.update``, ``conversations.list``,
    ``chat.postEphemeral``; and, for an app's interactivity, the signed request a button click sends
    (``interaction``, ``deliver``).

    Args:
        token: The one bot token it accepts.
        channels: Channel name (with or without ``#``) to channel id.
        host: Interface to bind; keep the default so nothing leaves the machine.
        port: 0 picks a free port.
    """

    def __init__(self, token: str = "xoxb-test", channels: dict[str, str] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self._token = token
        self._channels = {name.lstrip("#"): cid for name, cid in
                          (channels or {"#marketing-ops-alerts": "C0ALERTS"}).items()}
        self._host, self._port = host, port
        self._state = _State()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> "SlackEmulator":
        if self._server is None:
            self._server = ThreadingHTTPServer((self._host, self._port), _handler_for(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                            name="slack-emulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> "SlackEmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The ``base_url`` for ``WebClient``; raises if the server is not running."""
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    # -- what tests look at ----------------------------------------------------------------------------------------
    @property
    def messages(self) -> list[SlackMessage]:
        with self._lock:
            return list(self._state.messages)

    @property
    def requests(self) -> list[SlackRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def ephemerals(self) -> list[SlackEphemeral]:
        with self._lock:
            return list(self._state.ephemerals)

    # -- interactivity: what Slack sends an app's request URL when someone clicks a button -------------------------
    def interaction(self, message: SlackMessage, action_id: str, user_id: str, user_name: str,
                    signing_secret: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and headers Slack posts for a click on button ``action_id`` of ``message``: a form field
        ``payload`` with the ``block_actions`` JSON, signed ``v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``."""
        button, block_id = next(((e, b.get("block_id")) for b in message.blocks or [] if b.get("type") == "actions"
                                 for e in b.get("elements", []) if e.get("action_id") == action_id), (None, None))
        if button is None:
            raise KeyError(f"message {message.ts} has no button {action_id!r}")
        ts = str(int(time.time()) if timestamp is None else timestamp)
        payload = {
            "type": "block_actions", "team": {"id": TEAM["team_id"], "domain": "steward-demo"},
            "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM["team_id"]},
            "api_app_id": "A0STEWARD", "token": "verification-token-deprecated", "trigger_id": f"{ts}.trigger",
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                          "is_ephemeral": False},
            "channel": {"id": message.channel, "name": next((n for n, c in self._channels.items()
                                                             if c == message.channel), "")},
            "message": _message_json(message), "response_url": f"{self.base_url}response/{message.ts}",
            "actions": [{"type": "button", "action_id": action_id, "block_id": block_id,
                         "value": button.get("value"), "text": button.get("text"), "action_ts": f"{ts}.000001"}]}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        digest = hmac.new(signing_secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                      "X-Slack-Signature": f"v0={digest}"}

    @staticmethod
    def deliver(url: str, body: bytes, headers: dict[str, str], timeout: float = 120) -> tuple[int, bytes]:
        """POST an interaction to the app's request URL, as Slack does; returns the status and body it answered."""
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def fail_next(self, n: int, status: int = 429, retry_after: int = 1) -> None:
        """Answer the next ``n`` API requests with ``status`` (429 carries ``Retry-After: retry_after``)."""
        if status not in (429, 500, 503):
            raise ValueError(f"fault status must be 429, 500 or 503, not {status}")
        with self._lock:
            self._state.faults.append(_Fault(n, status, retry_after))

    def clear_faults(self) -> None:
        """End the outage: later requests are answered normally."""
        with self._lock:
            self._state.faults.clear()

    # -- dispatch (pure apart from the state; the HTTP handler only parses and writes) -----------------------------
    def handle(self, http_method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request; ``headers`` keys are lower-case."""
        has_auth = headers.get("authorization", "").startswith("Bearer ")
        with self._lock:
            status, extra, payload = self._answer(path, headers, body)
            self._state.requests.append(SlackRequest(http_method, urlsplit(path).path, has_auth, status,
                                                     None if payload.get("ok") else payload.get("error")))
        return status, extra, payload

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        fault = self._take_fault()
        if fault is not None:
            return fault
        route = urlsplit(path).path
        handlers = {"auth.test": self._auth_test, "chat.postMessage": self._post_message,
                    "chat.update": self._update, "conversations.list": self._conversations_list,
                    "chat.postEphemeral": self._post_ephemeral}
        handler = handlers.get(route.removeprefix("/api/")) if route.startswith("/api/") else None
        if handler is None:
            return 404, {}, {"ok": False, "error": "unknown_method"}
        try:
            args, token_in_body = _parse_args(path, headers, body)
        except ValueError as exc:
            return 200, {}, {"ok": False, "error": str(exc)}
        auth_error = self._auth_error(headers, token_in_body)
        if auth_error:
            return 200, {}, {"ok": False, "error": auth_error}
        return 200, {}, handler(args)

    def _take_fault(self) -> Reply | None:
        faults = self._state.faults
        while faults and faults[0].remaining <= 0:
            faults.pop(0)
        if not faults:
            return None
        fault = faults[0]
        fault.remaining -= 1
        if fault.status == 429:
            return 429, {"Retry-After": str(fault.retry_after)}, {"ok": False, "error": "ratelimited"}
        return fault.status, {}, {"ok": False, "error": "fatal_error" if fault.status == 500 else "service_unavailable"}

    def _auth_error(self, headers: dict[str, str], token_in_body: str | None) -> str | None:
        header = headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else token_in_body
        if not token:
            return "not_authed"
        return None if token == self._token else "invalid_auth"

    def _channel_id(self, channel: Any) -> str | None:
        if not isinstance(channel, str) or not channel:
            return None
        if channel in self._channels.values():
            return channel
        return self._channels.get(channel.lstrip("#"))

    def _next_ts(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._state.last_ts + 1)
        self._state.last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # -- methods ---------------------------------------------------------------------------------------------------
    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, **TEAM}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        channels = [{"id": cid, "name": name, "is_channel": True, "is_member": True, "is_archived": False}
                    for name, cid in self._channels.items()]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(args.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        problem = content_error(args)
        if problem:
            return problem
        thread_ts = args.get("thread_ts") or None
        if thread_ts and self._find(channel, thread_ts) is None:
            return {"ok": False, "error": "thread_not_found"}
        message = SlackMessage(channel, self._next_ts(), args.get("text"), args.get("blocks"), thread_ts)
        self._state.messages.append(message)
        return {"ok": True, "channel": channel, "ts": message.ts, "message": _message_json(message)}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(args.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        problem = content_error(args)
        if problem:
            return problem
        self._state.ephemerals.append(SlackEphemeral(channel, str(args["user"]), str(args.get("text") or "")))
        return {"ok": True, "message_ts": self._next_ts()}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")  # like Slack, chat.update wants the channel id the post was answered with
        if channel not in self._channels.values():
            return {"ok": False, "error": "channel_not_found"}
        message = self._find(channel, args.get("ts"))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        problem = content_error(args)
        if problem:
            return problem
        message.text, message.blocks, message.edits = args.get("text"), args.get("blocks"), message.edits + 1
        return {"ok": True, "channel": channel, "ts": message.ts, "text": message.text or "",
                "message": _message_json(message)}

    def _find(self, channel: str, ts: Any) -> SlackMessage | None:
        return next((m for m in self._state.messages if m.channel == channel and m.ts == ts), None)


def _handler_for(emulator: SlackEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY: the headers and the body go out in two writes, and with Nagle on the body waits for the
        # client's delayed ACK of the headers, 40 ms on Linux, on every answer of a kept-alive connection
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = emulator.handle(self.command, self.path, headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the test output quiet
            return

    return Handler


def _parse_args(path: str, headers: dict[str, str], body: bytes) -> tuple[dict[str, Any], str | None]:
    """Query string plus body; a ``token`` is honoured only in a form body, as Slack does for JSON bodies."""
    args: dict[str, Any] = dict(parse_qsl(urlsplit(path).query))
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    token: str | None = None
    if content_type == "application/json" and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            raise ValueError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise ValueError("invalid_json")
        args.update(parsed)
    elif body:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        token = form.pop("token", None)
        args.update(form)
    if isinstance(args.get("blocks"), str):
        try:
            args["blocks"] = json.loads(args["blocks"])
        except ValueError:
            raise ValueError("invalid_blocks_format") from None
    args.pop("token", None)  # Slack does not honour a token in the query string or a JSON body
    return args, token


def _message_json(message: SlackMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "message", "user": TEAM["user_id"], "bot_id": TEAM["bot_id"],
                           "ts": message.ts, "text": message.text or ""}
    if message.blocks is not None:
        out["blocks"] = message.blocks
    if message.thread_ts:
        out["thread_ts"] = message.thread_ts
    if message.edits:
        out["edited"] = {"user": TEAM["user_id"], "ts": message.ts}
    return out
