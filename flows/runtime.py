"""Prefect and dbt settings Steward runs with, applied before either library is imported.

A newcomer's first run must not phone home, must not wait on a heartbeat thread, and must keep the terminal for
Steward's own progress; users who want Prefect's logs set PREFECT_LOGGING_LEVEL themselves.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import IO, Any, Callable, Iterator, NoReturn

from ..contracts.errors import StewardError

__all__ = ["apply_defaults", "loading", "loaded", "flow_settings", "TemporaryServer", "start_temporary_server", "use_temporary_server",
           "stop_temporary_server", "exit_now", "waiting_for"]

_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "PREFECT_LOGGING_LEVEL": "CRITICAL",  # a failed run is reported by the CLI in one line, not a traceback
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    # Prefect gives its temporary server 20 s to start; a busy laptop (or CI runner) can take longer, and a run must
    # not fail because the machine is loaded
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


# Prefect's background queue services log under their bare class names, outside the ``prefect`` logger tree, so
# PREFECT_LOGGING_LEVEL does not reach them. At exit they warn about events still queued for a temporary server
# that is already gone; that line would land after the CLI's own one-line error and bury it.
_SERVICE_LOGGERS = ("EventsWorker", "APILogWorker")


def apply_defaults() -> None:
    user_chose_logging = "PREFECT_LOGGING_LEVEL" in os.environ
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
    if not user_chose_logging:
        for name in _SERVICE_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def flow_settings() -> Iterator[None]:
    """No flow-run heartbeat: our runs are short and its thread costs a second at every exit."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


class TemporaryServer:
    """Prefect's temporary API server, launched by Steward at the very start of a run instead of by Prefect's client at
    the flow's first API call.

    Left to Prefect, ``get_client`` starts the server (``SubprocessASGIServer``: ``python -m uvicorn --factory
    prefect.server.api.server:create_app``) only when the flow starts, after Steward has loaded its config, policy,
    pandas and dbt, and then waits for it: 5 CPU seconds of imports and migrations in the server process, paid in
    series with the run. Launched first, the server comes up on the other core while this process loads; and as the
    client then talks to it through PREFECT_API_URL, it never imports Prefect's server package (a further 3 CPU
    seconds). The process is the same one Prefect would start (same module, environment, flags and database), so the
    flow and task runs, logs and artifacts land exactly where they did."""

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._env: dict[str, str] = {}
        self._launched_at = ""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def launch(self) -> None:
        """Start the server process and return at once; ``wait_ready`` waits for it. Prefect is not imported: the
        server reads its settings (environment, profile, prefect.toml) itself, as this process will."""
        self._env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                     "PREFECT__SERVER_FINAL": "1"}
        self._launched_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        self._log = tempfile.TemporaryFile()  # the server's own output: read back only if it fails to start
        self._spawn()

    def _spawn(self) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", _prefect_parent(), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env=self._env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)

    def wait_ready(self, timeout: float) -> str:
        """Wait until the server answers its health check; its API URL, or one ``StewardError`` line saying why not."""
        import httpx

        deadline, respawns = time.monotonic() + timeout, 0
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                code = self.process.poll() if self.process else -1
                if code == 3 and respawns < 3 and not _bindable(self.port):  # the port was taken after we chose it
                    self._spawn()
                    respawns += 1
                    continue
                if code is not None:
                    raise StewardError(f"Prefect's temporary server did not start (exit code {code}): "
                                       f"{self._last_line()}; set PREFECT_API_URL to use a running Prefect server")
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return self.api_url
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop(wait=1.0)
        raise StewardError(f"Prefect's temporary server did not answer within {timeout:g} s "
                           "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); set PREFECT_API_URL to use a running "
                           "Prefect server")

    def _last_line(self) -> str:
        if self._log is None:
            return "no output"
        self._log.seek(0)
        lines = [line.strip() for line in self._log.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return _URL_CREDENTIALS.sub("://***@", lines[-1][:300]) if lines else "no output"

    def settle(self, timeout: float = 30.0) -> None:
        """Before a normal stop: let Prefect's events reach the server and the server record them.

        A task run's final state travels as an event, recorded by the server in the background; stopped at once, the
        server would keep the run's task runs ``RUNNING``. Waits (at most ``timeout`` seconds) until no task run
        started since the launch is pending or running on the server; any error ends the wait, never the exit. The
        wait ends as soon as they are recorded (a fraction of a second); 10 s was too short on a machine loaded 10x
        its cores, where a task run was left ``RUNNING``."""
        import httpx

        events = sys.modules.get("prefect.events.worker")
        if events is not None:
            try:
                events.EventsWorker.drain_all(timeout=timeout)
            except Exception:  # Prefect's own exit hooks may have stopped its workers already
                pass
        body = {"task_runs": {"start_time": {"after_": self._launched_at},
                              "state": {"type": {"any_": ["PENDING", "RUNNING", "SCHEDULED"]}}}}
        deadline = time.monotonic() + timeout
        try:
            with httpx.Client(timeout=5.0) as client:
                while time.monotonic() < deadline and client.post(f"{self.api_url}/task_runs/count", json=body).json():
                    time.sleep(0.1)
        except (httpx.HTTPError, ValueError):
            return

    def stop(self, wait: float = 5.0, reap: bool = True) -> None:
        """SIGTERM (uvicorn finishes its open requests and exits); killed when it takes longer than ``wait``.
        ``reap=False`` (a process on its way out, the run's events already recorded: ``settle``) does not wait for
        the server's own shutdown (a quarter of a second of uvicorn and Prefect's services stopping), which then
        ends on its own after this process."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
        if process is not None and not reap:
            _unreaped.append(process)  # kept: nothing of this process waits for it or warns about it any more
        elif process is not None and process.returncode is None:
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


_started: dict[str, TemporaryServer] = {}
_unreaped: list[subprocess.Popen[bytes]] = []  # servers told to stop at exit and not waited for
_URL_CREDENTIALS = re.compile(r"://[^/@\s]+@")  # a database URL's user:password in the server's last words


def start_temporary_server() -> TemporaryServer | None:
    """Launch Prefect's temporary server now, in the background, unless PREFECT_API_URL is set.

    The first thing a run does, before it imports Prefect (a few seconds on a loaded machine): whether a Prefect
    profile or prefect.toml names a server is only known once Prefect's settings load, in ``use_temporary_server``,
    which stops this one unused if so. Stopped at exit (after Prefect has flushed its logs and events), or by
    ``stop_temporary_server``."""
    if os.environ.get("PREFECT_API_URL") or "server" in _started:
        return _started.get("server")
    server = _started["server"] = TemporaryServer()
    server.launch()
    atexit.register(_stop_at_exit)  # registered before Prefect's own exit hooks, so it runs after they flush
    return server


def use_temporary_server() -> None:
    """Point Prefect at the server ``start_temporary_server`` launched, once it answers (waiting up to Prefect's
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS). A no-op when none was launched; when Prefect's settings name a
    server after all (a profile, prefect.toml) or allow no temporary one, the launched server is stopped unused and
    Prefect goes on exactly as it would have."""
    server = _started.get("server")
    if server is None or os.environ.get("PREFECT_API_URL") == server.api_url:
        return
    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        _started.pop("server", None)
        server.stop(wait=1.0)
        return
    os.environ["PREFECT_API_URL"] = server.wait_ready(float(settings.server.ephemeral.startup_timeout_seconds))
    refresh_global_settings_context()  # Prefect's settings (every thread's) now name this server


def _stop_at_exit() -> None:
    server = _started.pop("server", None)
    if server is not None:
        if os.environ.get("PREFECT_API_URL") == server.api_url:  # it was used: what the run sent is recorded first
            server.settle()
            server.stop(reap=False)  # the process ends now; the server's orderly shutdown need not hold it up
            return
        server.stop()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prefect_parent() -> str:
    """The folder holding the ``prefect`` package (uvicorn's --app-dir, as Prefect passes it), found without
    importing it."""
    import importlib.util

    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise StewardError("Prefect is not installed in this environment: pip install steward")
    return os.path.dirname(os.path.dirname(spec.origin))


def stop_temporary_server(wait: float = 5.0) -> None:
    """Stop the temporary Prefect server this process started, now rather than at exit.

    With no PREFECT_API_URL, Prefect 3 starts its API as a uvicorn subprocess on a random local port
    (``prefect.server.api.server.SubprocessASGIServer``, one per process) and stops it from an ``atexit`` hook; a run
    started by the CLI launches that server itself (``start_temporary_server``). A process ended by a signal never
    reaches the exit hooks, so the server would outlive it; the CLI calls this on its way out of an interrupted run.
    A no-op when no temporary server was started.
    """
    ours = _started.pop("server", None)
    if ours is not None:
        ours.stop(wait)
    module = sys.modules.get("prefect.server.api.server")
    if module is None:
        return
    for server in list(module.SubprocessASGIServer._instances.values()):
        process = server.server_process
        if process is None:
            continue
        process.terminate()  # uvicorn shuts down on SIGTERM; killed when it takes longer than ``wait``
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.stop()  # now only Prefect's own bookkeeping: the process is gone


@contextmanager
def loading() -> Iterator[None]:
    """Python's cyclic garbage collector off while a command loads what it runs with, until :func:`loaded`.

    A governance run imports Prefect, dbt, pandas, pandera and DuckDB before its flow starts: ~390,000 objects that
    live as long as the process. The collector walks every one of them at each full collection, and the imports
    themselves trigger several (with CPython's default thresholds): ~0.8 of a run's ~11 CPU seconds went to it, in
    the main thread, before anything ran (docs/benchmarks.md). The objects made while loading are not garbage, so
    nothing is lost by not collecting them; :func:`loaded` then freezes them out of later collections and turns the
    collector back on. On leaving, the collector is on again whatever happened (a refused config ends the command
    before :func:`loaded`; a caller in its own process, a test, gets its collector back)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


# The collector's thresholds for the rest of a run once it has loaded: the youngest generation collected every 10,000
# allocations rather than 700, the older ones half as often as CPython's (700, 10, 10). A replayed 1M daily run made
# 271 young, 23 middle and 1 full collection (0.25 s) around its dbt build at the defaults, 55 and 2 (0.17 s) at these;
# what a run drops is still collected, a little later.
RUN_THRESHOLDS = (10_000, 20, 20)


def loaded() -> None:
    """What the command loaded so far is kept out of every later collection (``gc.freeze``: the objects stay, only
    the collector stops walking them), and the collector is on again for what the run itself makes, at
    ``RUN_THRESHOLDS``. The process ends after its run, so what it holds when its dbt build starts (the parse among
    it) is frozen then too (``lighter.freeze_before_builds``)."""
    from ..integrations.transform import lighter

    gc.freeze()
    gc.set_threshold(*RUN_THRESHOLDS)
    gc.enable()
    lighter.freeze_before_builds()


def exit_now(code: int | str | None) -> NoReturn:
    """End a finished command the way the interpreter would, without its final teardown.

    After the exit hooks (dbt closes its DuckDB handles, Prefect flushes its logs and events, the temporary server is
    stopped, logging is flushed), CPython would still free every object the run loaded (dbt's manifest, pandas,
    Prefect's models, one by one): a second or more of a 1M run's wall time, six under load, that changes nothing on
    disk. Here the hooks run, the streams are flushed, and the process ends with the same exit code.
    """
    if isinstance(code, str):  # SystemExit("message"): printed on stderr, exit 1, as the interpreter does
        sys.stderr.write(code + "\n")
        code = 1
    import threading

    threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter: wait for the non-daemon threads,
    atexit._run_exitfuncs()  # then every exit hook, in its own order (last registered first)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code or 0)


def waiting_for(timeout: float, say: Callable[[str, str], None]) -> Callable[[Any], None]:
    """What a run or health check says, once, when another run holds the warehouse and it has to wait."""
    def told(holder: Any) -> None:
        who = holder.describe() if holder is not None else "another Steward process"
        say("wait", f"{who} is writing to the warehouse; waiting up to {timeout:g} s (lock_timeout_seconds)")

    return told
