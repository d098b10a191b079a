"""tests/cli_in_process.py keeps its promises: a refusal run in the pytest process answers as the ``steward`` process
does (tests/flows/test_unreadable_files.py compares the two), starts no Prefect server and leaves the process as it
found it."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import yaml

from cli_in_process import steward_in_process
from steward.flows import runtime


def _children() -> set[int]:
    """This process's child processes, from /proc (a temporary Prefect server would be one)."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(entry.name))
    return found


def test_a_refused_run_starts_no_server_and_leaves_the_process_as_it_was(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # as a newcomer: `steward run` would start a server
    monkeypatch.delenv("PREFECT_LOGGING_LEVEL", raising=False)
    (tmp_path / "steward.yaml").write_text(yaml.safe_dump({"integrations": [{"name": "x", "platform": "salesfarce",
                                                                             "path": "exports"}]}))
    environ, folder, argv, children = dict(os.environ), os.getcwd(), list(sys.argv), _children()
    servers = dict(runtime._started)  # an earlier test in this worker may have left one: only a new one counts
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    root = (list(logging.getLogger().handlers), logging.getLogger().level)

    proc = steward_in_process("run", "-c", "steward.yaml", "--verbose", cwd=tmp_path)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = proc.stderr.splitlines()  # one line, no traceback
    assert line.startswith("error: steward.yaml: integrations.0.platform: Value error, unknown platform 'salesfarce'")
    assert proc.stdout == "" and "\x1b[" not in proc.stderr  # plain text, as through a pipe
    assert not _children() - children and runtime._started == servers  # no temporary Prefect server
    assert dict(os.environ) == environ  # --verbose's PREFECT_LOGGING_LEVEL and the helper's PREFECT_API_URL undone
    assert (os.getcwd(), sys.argv) == (folder, argv)
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    assert (list(logging.getLogger().handlers), logging.getLogger().level) == root
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steward.yaml"]  # nothing opened or written


def test_a_usage_error_and_help_answer_as_the_command_does(tmp_path):
    servers = dict(runtime._started)
    usage = steward_in_process("run", "--no-such-option", cwd=tmp_path)
    assert usage.returncode == 2 and "No such option: --no-such-option" in usage.stderr, usage.stderr
    helped = steward_in_process("run", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "Run one governance run against a config file." in helped.stdout
    assert runtime._started == servers
