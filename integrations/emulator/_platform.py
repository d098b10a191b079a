"""What every platform emulator shares: a loopback HTTP server, issued tokens, a fault plan, a rate-limit window,
a request log, and the campaign state that pause and resume change.

A platform module (``salesforce.py``, ``hubspot.py``, ...) subclasses ``PlatformEmulator``, declares its routes and
says how its API words an expired token, a rate limit and a server error; the data it serves sits in an in-memory
DuckDB database so handlers page through millions of rows with keyset SQL instead of Python lists.

Faults are consumed in order, each by the next matching requests (``path`` is a regex on the URL path; ``skip`` lets
the first matching requests through so a fault lands mid-pull):

    emu.faults.add(Fault("status", count=3, status=503))          # three 5xx answers, then normal service
    emu.faults.add(Fault("status", count=5, status=429))          # a 429 storm, with the platform's own headers
    emu.faults.add(Fault("slow", count=1, delay=2.0))             # longer than the client's timeout
    emu.faults.add(Fault("truncate", count=1, skip=2))            # the third page is cut in half
    emu.faults.add(Fault("malformed", count=1))                   # a body that is not JSON
    emu.faults.add(Fault("expire_tokens", count=1, skip=4))       # every issued token dies on the fifth request
    emu.rename_field("contacts", "Email", "EmailAddress")         # schema drift in every later page
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Literal
from urllib.parse import parse_qsl, urlsplit

import duckdb

__all__ = ["PlatformEmulator", "Fault", "FaultPlan", "Request", "Reply", "ControlCall", "RateLimit"]

FaultKind = Literal["status", "slow", "truncate", "malformed", "expire_tokens"]


@dataclass
class Fault:
    kind: FaultKind
    count: int = 1
    status: int = 503
    delay: float = 0.0
    path: str | None = None  # regex on the URL path; None matches every API request
    skip: int = 0  # let this many matching requests through first


@dataclass(frozen=True)
class Request:
    """One request as an emulator handler sees it; ``query`` keeps repeated keys as lists only when repeated."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case keys
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:].strip() if value.lower().startswith("bearer ") else None


@dataclass
class Reply:
    status: int = 200
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as is instead of ``payload`` (malformed and truncated bodies)
    delay: float = 0.0  # seconds to hold the answer back (a slow fault), after the request is logged


@dataclass(frozen=True)
class ControlCall:
    """A pause or resume the platform received, with the state it left the campaign in."""

    campaign_id: str
    action: Literal["pause", "resume"]
    changed: bool
    state: str
    at: datetime


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    fault: str | None


@dataclass
class RateLimit:
    """``limit`` requests per ``window`` seconds, counted per token; None disables it (benchmarks)."""

    limit: int
    window: float


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count <= 0 or (fault.path and not re.search(fault.path, path)):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.count -= 1
                return fault
            return None


Route = tuple[str, re.Pattern[str], Callable[..., Reply]]


class PlatformEmulator:
    """Base of the platform emulators. Subclasses set ``platform``, fill ``routes`` and the three error renderers."""

    platform = "platform"
    public_paths: tuple[str, ...] = ()  # regexes of paths that need no token (token endpoints)

    def __init__(self, host: str = "127.0.0.1", port: int = 0, rate_limit: RateLimit | None = None) -> None:
        self._host, self._port = host, port
        self.db = duckdb.connect()
        self.faults = FaultPlan()
        self.rate_limit = rate_limit
        self.tokens: set[str] = set()
        self.campaign_state: dict[str, str] = {}
        self.controls: list[ControlCall] = []
        self.requests: list[LoggedRequest] = []
        self.renamed: dict[str, dict[str, str]] = {}
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.routes: list[Route] = []

    # -- subclass hooks --------------------------------------------------------------------------------------------
    def auth_error(self, request: Request) -> Reply:
        return Reply(401, {"message": "invalid token"})

    def rate_limited(self, request: Request, retry_after: float) -> Reply:
        return Reply(429, {"message": "rate limited"}, {"Retry-After": f"{max(1, round(retry_after))}"})

    def server_error(self, request: Request, status: int) -> Reply:
        return Reply(status, {"message": "server error"})

    def rate_headers(self, token: str, used: int) -> dict[str, str]:
        """Headers every answer carries about the rate-limit window (the platform's own names)."""
        return {}

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> "PlatformEmulator":
        if self._server is None:
            self._server = ThreadingHTTPServer((self._host, self._port), _handler_for(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                            name=f"{self.platform}-emulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None and getattr(self, "_in_process_url", None):
            return self._in_process_url
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def transport(self, base_url: str | None = None) -> Any:
        """The emulator in-process, without a socket: an ``httpx.MockTransport`` over ``handle`` (fast unit tests).
        Until ``start()``, ``base_url`` is ``base_url`` (default ``http://<platform>.emulator``)."""
        import httpx

        self._in_process_url = base_url or f"http://{self.platform.replace('_', '-')}.emulator"

        def send(request: httpx.Request) -> httpx.Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            reply = self.handle(request.method, request.url.raw_path.decode("ascii"), headers, request.read())
            data = reply.raw if reply.raw is not None else (
                b"" if reply.payload is None and reply.status == 204 else
                json.dumps(reply.payload, default=str).encode())
            return httpx.Response(reply.status, content=data,
                                  headers={"Content-Type": "application/json;charset=UTF-8", **reply.headers})

        return httpx.MockTransport(send)

    # -- helpers for subclasses and tests --------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Callable[..., Reply]) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return token

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def rename_field(self, entity: str, old: str, new: str) -> None:
        """Serve ``old`` as ``new`` in every later record of ``entity`` (the platform renamed a field)."""
        with self._lock:
            self.renamed.setdefault(entity, {})[old] = new

    def renamed_record(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        mapping = self.renamed.get(entity)
        if not mapping:
            return record
        return {mapping.get(k, k): v for k, v in record.items()}

    def set_campaign(self, campaign_id: str, action: Literal["pause", "resume"], state: str) -> ControlCall:
        """Move a campaign to ``state`` and log the call; ``changed`` is False when it already was there."""
        with self._lock:
            changed = self.campaign_state.get(campaign_id) != state
            self.campaign_state[campaign_id] = state
            call = ControlCall(campaign_id, action, changed, state, datetime.now(timezone.utc))
            self.controls.append(call)
            return call

    def query(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        cur = self.db.cursor()
        try:
            rel = cur.execute(sql, params or [])
            names = [d[0] for d in rel.description]
            return [dict(zip(names, row)) for row in rel.fetchall()]
        finally:
            cur.close()

    # -- dispatch --------------------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        request = Request(method, parts.path, _query(parts.query), headers, body)
        reply, fault_name = self._answer(request)
        with self._lock:
            self.requests.append(LoggedRequest(method, parts.path, reply.status, fault_name))
        if reply.delay:  # logged first: a test may look for the fault while the client has already given up
            time.sleep(reply.delay)
        return reply

    def _answer(self, request: Request) -> tuple[Reply, str | None]:
        match = self._match(request)
        if match is None:
            return Reply(404, {"message": f"no route for {request.method} {request.path}"}), None
        handler, groups = match
        public = any(re.search(p, request.path) for p in self.public_paths)
        fault = None if public else self.faults.take(request.path)
        if fault is not None and fault.kind == "expire_tokens":
            self.expire_tokens()
            fault = None
        if fault is not None and fault.kind == "status":
            if fault.status == 429:
                return self.rate_limited(request, 1.0), "429"
            return self.server_error(request, fault.status), str(fault.status)
        if not public:
            token = request.bearer() or self.token_from(request)
            if token is None or token not in self.tokens:
                return self.auth_error(request), None
            limited = self._over_limit(token)
            if limited is not None:
                return self.rate_limited(request, limited), None
        reply = handler(request, *groups)
        if not public and self.rate_limit is not None:
            reply.headers = {**self.rate_headers(token, len(self._hits.get(token, ()))), **reply.headers}
        if fault is not None and fault.kind == "slow":
            reply.delay = fault.delay
        if fault is not None and fault.kind in ("truncate", "malformed"):
            data = reply.raw if reply.raw is not None else json.dumps(reply.payload).encode()
            reply.raw = data[: max(1, len(data) // 2)] if fault.kind == "truncate" else b"<html>502 Bad Gateway</html>"
            return reply, fault.kind
        return reply, fault.kind if fault else None

    def token_from(self, request: Request) -> str | None:
        """Where else than the Authorization header this API accepts a token (Marketo: ``access_token``)."""
        return None

    def _match(self, request: Request) -> tuple[Callable[..., Reply], tuple[str, ...]] | None:
        for method, pattern, handler in self.routes:
            found = pattern.match(request.path)
            if found and method == request.method:
                return handler, found.groups()
        return None

    def _over_limit(self, token: str) -> float | None:
        """Seconds until the window frees a slot, or None when the request may go."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(token, deque())
            while hits and now - hits[0] >= self.rate_limit.window:
                hits.popleft()
            if len(hits) >= self.rate_limit.limit:
                return self.rate_limit.window - (now - hits[0])
            hits.append(now)
            return None


def _query(text: str) -> dict[str, Any]:
    """Query parameters; a key sent more than once (``properties=a&properties=b``, as official clients send lists)
    keeps every value as a list instead of only the last one."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in out:
            out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
        else:
            out[key] = value
    return out


def _handler_for(emulator: PlatformEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY: the headers and the body go out in two writes, and with Nagle on the body waits for the
        # client's delayed ACK of the headers, 40 ms on Linux, on every answer of a kept-alive connection
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            if emulator._server is None:  # stopped: a kept-alive connection must not outlive the server
                self.close_connection = True
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                reply = emulator.handle(self.command, self.path, headers, body)
            except Exception as exc:  # an emulator bug must show up as a 500 the client sees, not a hung socket
                reply = Reply(500, {"message": f"emulator error: {type(exc).__name__}: {exc}"})
            data = reply.raw if reply.raw is not None else (
                b"" if reply.payload is None and reply.status == 204 else
                json.dumps(reply.payload, default=str).encode())
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client stopped waiting (a slow-answer fault's
                self.close_connection = True  # timeout did its job): nothing to tell it, and no traceback to print

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            return

    return Handler
