"""The CLI's one stdout console, one stderr console and one error handler, shared by every command.

A known error (a bad file, a config, a warehouse or platform that refuses: any ``StewardError``) ends every command the
same way: one ``error: ...`` line on stderr, exit 2, no traceback; a scripted caller tells bad input (2) from a failed
check (1). Anything else is a bug and keeps its traceback. Only this module builds a rich ``Console`` or catches
``StewardError`` for the CLI (tests/flows/test_cli_package.py holds it to that).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn

import typer

from ...contracts.errors import StewardError

from .. import progress

if TYPE_CHECKING:  # rich loads when something prints: a --json audit that succeeds never does
    from rich.console import Console

__all__ = ["err", "stdout", "fail", "one_line_errors", "say_stage", "reporting", "print_action_summary",
           "SEVERITY_STYLE"]

SEVERITY_STYLE = {"critical": "bold red", "warn": "yellow", "info": "cyan"}


@cache
def _stderr() -> Console:
    """The stderr console, built the first time something is printed there (``err``)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)  # an error is one line, however long


def __getattr__(name: str) -> Any:
    """``err``, the stderr console, on first use (PEP 562): importing this module does not import rich."""
    if name == "err":
        return _stderr()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stdout() -> Console:
    """stdout, built when a command prints: the terminal's width, or 160 columns when piped, so a table in a CI log or
    a file is not cut at 80."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def fail(message: str, code: int = 2) -> NoReturn:
    """End the command with one ``error:`` line on stderr (the message is printed as rich markup) and ``code``."""
    _stderr().print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code) from None


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A ``StewardError`` raised in the block becomes one ``error:`` line on stderr and exit 2."""
    try:
        yield
    except StewardError as exc:
        fail(str(exc))


def say_stage(stage: str, detail: str) -> None:
    """One progress line on stderr, as flows report it through ``steward.flows.progress``."""
    _stderr().print(f"  [dim]{stage:>9}[/]  {detail}")


@contextmanager
def reporting(on: bool = True) -> Iterator[None]:
    """Flows' stage-by-stage progress on stderr while the block runs (nothing when ``on`` is false, e.g. ``--json``
    runs that must keep the terminal quiet)."""
    if on:
        progress.set_reporter(say_stage)
    try:
        yield
    finally:
        progress.set_reporter(None)


_KIND = {"paused": "[bold red]PAUSED[/]", "waiting": "[bold yellow]WAITING[/]", "held": "[cyan]NOT PAUSED[/]"}


def print_action_summary(out: Console, read: Callable[[], dict[str, Any]]) -> None:
    """The end of ``steward run`` / ``steward demo``, in the report's top order: what Steward paused or waits on
    (with the command that undoes or answers it), the findings that need a person by owner, what changed since the
    last run. ``read`` returns ``flows.report.action_summary``'s data; when the warehouse cannot be read now, one
    line says so and the run's own result above stands. Data is escaped: a campaign name is text, never markup."""
    from rich.markup import escape

    try:
        top = read()
    except StewardError as exc:
        _stderr().print(f"[yellow]summary unavailable:[/] {escape(str(exc))}")
        return
    out.print("[bold]What Steward did[/]")
    for d in top["did"]:
        when = ("by this run" if d["this_run"] else f"since {d['since']}") if d["kind"] == "paused" else ""
        out.print(f"  {_KIND[d['kind']]} {escape(d['label'])} {when}".rstrip())
        out.print(f"    why: {escape(d['why'])}")
        out.print(f"    {'resume' if d['kind'] == 'paused' else 'next'}: {escape(d['how'])}")
    if not top["did"]:
        out.print("  nothing paused, no approval waiting")
    out.print("[bold]Needs a person, by owner[/]")
    for g in top["owners"]:
        out.print(f"  [bold]{escape(g['owner'])}[/]: {g['critical']} critical, {g['warn']} warn")
        shown = g["items"][:top.get("owner_lines") or len(g["items"])]
        for i in shown:
            out.print(f"    [{SEVERITY_STYLE[i['severity']]}]{i['severity']:<8}[/] {escape(i['check_id'])}  "
                      f"{escape(i['subject'])}: {escape(i['summary'] or '')}".rstrip(": "))
        if len(g["items"]) > len(shown):
            out.print(f"    [dim]… {len(g['items']) - len(shown)} more in the report[/]")
    if not top["owners"]:
        out.print("  no warn or critical finding")
    changes = top["changes"]
    out.print(f"[bold]Since the last run[/]: {escape(changes['summary'])}")
    for kind in ("new", "worse", "resolved"):
        for c in changes[kind]:
            sev = c["severity"] if kind != "resolved" else c["before_severity"]
            out.print(f"  {kind:<8} [{SEVERITY_STYLE.get(sev or 'info', 'cyan')}]{sev}[/] {escape(c['check_id'])}  "
                      f"{escape(c['subject'])}")
