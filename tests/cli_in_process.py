"""Test helper: the ``steward`` command run inside the pytest process, for a refusal decided before any run starts.

A ``steward`` subprocess costs about 3 CPU seconds (Python, then steward, typer, pydantic and the policy's imports)
even when all it does is read one YAML file and exit 2. ``steward_in_process`` calls the console script's own entry
point (``steward.flows.cli.main``) with the same command line, in this process: the same dispatch, typer app, error
handler and consoles, and a ``subprocess.CompletedProcess`` with the exit code, stdout and stderr a process would
have given (an uncaught exception is exit 1 with its traceback on stderr, as the interpreter prints it).

What ``main`` would otherwise do to the pytest process, and what this helper does about it:

- ``steward run`` / ``steward demo`` launch Prefect's temporary server first thing when no ``PREFECT_API_URL`` is set
  (``runtime.start_temporary_server``, in ``main`` and again in the command). Here ``PREFECT_API_URL`` is always set
  for the call: to the caller's (``env``), else to ``UNUSED_API``, an address nothing answers on. A refusal never
  talks to Prefect, so no server is started and none is needed.
- A finished ``run`` / ``demo`` ends the process with ``runtime.exit_now`` (``os._exit``, no interpreter teardown);
  here it raises ``SystemExit`` with the same code instead, for the duration of the call.
- ``os.environ`` (``--verbose`` sets two variables), the working folder, ``sys.argv``, the SIGINT/SIGTERM handlers,
  the handlers, level and switches of every logger that existed before the call, and the stderr console's cache are
  put back as they were.
- Past its refusals, ``steward run`` takes the warehouse's writer lock for the rest of the process
  (``writer_lock.hold_until_exit``), which nothing but the process's end gives back. The helper fails the test when
  a call left a writer lock held or a temporary server started: that command line is not a refusal decided before
  the run, and belongs in a real process (``governed.steward_process``).

Not undone, since nothing later depends on it: the modules the command imported stay imported, ``steward.flows.cli``
keeps the typer app it built, and ``steward run`` resets the process's stop request (``interrupt.stop_on_signals``:
``stopping.reset``), as it does at the start of every run.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import steward.flows.cli as cli
from steward.flows import runtime
from steward.flows.cli import _console
from steward.integrations.warehouse import writer_lock

__all__ = ["steward_in_process", "UNUSED_API"]

UNUSED_API = "http://127.0.0.1:9/api"  # the discard port: a refusal never calls Prefect, and no server is started
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_in_process(code: int | str | None) -> None:
    """``runtime.exit_now`` for a command run in this process: the same exit code, as ``SystemExit``."""
    if isinstance(code, str):  # as exit_now (and the interpreter): the message on stderr, exit 1
        sys.stderr.write(code + "\n")
        code = 1
    raise SystemExit(code)


def _logging_state() -> dict[str, tuple[list[logging.Handler], int, bool, bool]]:
    loggers = {name: logger for name, logger in logging.Logger.manager.loggerDict.items()
               if isinstance(logger, logging.Logger)}
    loggers[""] = logging.getLogger()
    return {name: (list(lg.handlers), lg.level, lg.propagate, lg.disabled) for name, lg in loggers.items()}


def _restore_logging(saved: dict[str, tuple[list[logging.Handler], int, bool, bool]], disable: int) -> None:
    """Every logger that existed before the call as it was; a logger first made during the call (a module it
    imported) is left as its module set it up."""
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name or None)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled
    logging.disable(disable)


def _restore_environ(saved: dict[str, str]) -> None:
    for key in set(os.environ) - set(saved):
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _exit_code(code: object, stderr: io.StringIO) -> int:
    """``SystemExit.code`` as the interpreter turns it into a process's exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    stderr.write(f"{code}\n")
    return 1


def steward_in_process(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``steward ARGS`` in this process, in ``cwd``, with this process's environment less its Prefect API and Slack
    settings (as ``governed.steward_process``), plus ``env``. Only for a command line that is refused before any run
    starts (see the module's docstring); anything else fails the test."""
    environ, folder, argv = dict(os.environ), os.getcwd(), sys.argv
    handlers = {s: signal.getsignal(s) for s in _SIGNALS}
    logs, disable = _logging_state(), logging.root.manager.disable
    locks, servers = set(writer_lock._HELD), dict(runtime._started)
    exit_now = runtime.exit_now
    out, err = io.StringIO(), io.StringIO()
    try:
        for key in [k for k in os.environ if k.startswith(("PREFECT_API", "SLACK_"))]:
            del os.environ[key]
        os.environ.update(env or {})
        os.environ.setdefault("PREFECT_API_URL", UNUSED_API)
        os.chdir(cwd)
        sys.argv = ["steward", *args]
        runtime.exit_now = _exit_in_process  # type: ignore[assignment]  # main imports it when it runs
        _console._stderr.cache_clear()  # the stderr console is built on this call's stderr, as in a new process
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli.main()
                code = 0
            except SystemExit as done:
                code = _exit_code(done.code, err)
            except Exception:  # a bug: the interpreter would print the traceback and exit 1
                traceback.print_exc(file=err)
                code = 1
    finally:
        runtime.exit_now = exit_now  # type: ignore[assignment]
        _console._stderr.cache_clear()
        sys.argv = argv
        os.chdir(folder)
        _restore_environ(environ)
        for s, handler in handlers.items():
            signal.signal(s, handler)
        _restore_logging(logs, disable)
    left = [f"the writer lock of {key}" for key in set(writer_lock._HELD) - locks]
    if runtime._started != servers:
        left.append("Prefect's temporary server")
        runtime._started.pop("server").stop()  # this one only: not the session's server (prefect_harness)
    if left:
        raise AssertionError(f"steward {' '.join(args)} took {' and '.join(left)} in the pytest process, which a "
                             "command refused before its run never does (a lock is given back only when the process "
                             "ends): run it in a real process (governed.steward_process), not with steward_in_process")
    return subprocess.CompletedProcess(["steward", *args], code, out.getvalue(), err.getvalue())
