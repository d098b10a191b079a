"""The ``steward`` command: runs flows and shows what they found. It holds no checks of its own.

One module per command group; every one prints through ``_console`` (one stdout and one stderr console, one error
handler: a ``StewardError`` is one ``error:`` line and exit 2). Modules import only typer and rich at the top: what a
command needs (Prefect, dbt, pandas, DuckDB, the policy) is imported inside it, when it runs, so ``steward --help``
starts fast.

``app`` (the whole CLI) is built the first time it is asked for. A file audit (``steward audit bias|frequency|quality``)
does not need it: ``main`` reads the command line from that one command's declaration (audit/_argv.py) and runs it;
only a command line that needs typer (--help, a usage error) builds the root, the ``audit`` group and that one
command, and nothing else is imported.

Old spellings kept as hidden aliases for one release: ``steward audit-launch`` (now ``steward audit launch``) and
``steward audit-log verify`` (now ``steward audit log verify``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..runtime import apply_defaults

apply_defaults()  # before anything imports Prefect or dbt

if TYPE_CHECKING:
    import typer

__all__ = ["app", "build_app", "main"]

HELP = "Steward keeps autonomous marketing systems honest: reconcile, audit, alert, pause."


def build_app() -> typer.Typer:
    """The whole ``steward`` command: every group and command, and the old spellings hidden."""
    import typer

    from .alerts import alerts_app
    from .audit import build_audit_app
    from .audit.launch import audit_launch
    from .audit.log import log_app
    from .campaigns import campaigns_app
    from .contracts import contracts_app
    from .deploy import deploy
    from .evidence import evidence
    from .health import health
    from .report import report
    from .run import approve, demo, run
    from .serve import serve
    from .warehouse import warehouse_app

    app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)
    app.command("demo")(demo)
    app.command("run")(run)
    app.command("approve")(approve)
    app.add_typer(contracts_app, name="contracts")
    app.add_typer(campaigns_app, name="campaigns")
    app.add_typer(build_audit_app(), name="audit")
    app.add_typer(alerts_app, name="alerts")
    app.command("deploy")(deploy)
    app.command("report")(report)
    app.command("health")(health)
    app.command("serve")(serve)
    app.command("evidence")(evidence)
    app.add_typer(warehouse_app, name="warehouse")
    # the old spellings, for one release: hidden from --help, same command, same output
    app.command("audit-launch", hidden=True)(audit_launch)
    app.add_typer(log_app, name="audit-log", hidden=True)
    return app


def file_audit_app(name: str) -> typer.Typer:
    """``steward audit NAME`` alone (NAME one of ``audit.FILE_AUDITS``): the same root, group and command as in
    ``build_app``, so usage lines, --help and errors read the same, without the other commands' modules."""
    import typer

    from .audit import build_audit_app

    app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)
    app.add_typer(build_audit_app(only=name), name="audit")
    return app


_built: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``app`` on first use (PEP 562), then the same object every time: importing this package costs no command."""
    if name == "app":
        if name not in _built:
            _built[name] = build_app()
        return _built[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The console script. ``steward audit bias|frequency|quality ...`` is dispatched before the rest of the CLI is
    imported or built (issue #15: a file audit within 2x of a hand-written DuckDB query): its command line is read
    without typer when it can be, else by a typer app of that one command; anything else runs the whole app."""
    from .audit import FILE_AUDITS, run_file_audit

    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "audit" and argv[1] in FILE_AUDITS:
        run_file_audit(argv[1], argv[2:])  # returns only when typer must read the command line
        file_audit_app(argv[1])()
    elif argv[:1] in (["run"], ["demo"]):  # a governance run: no interpreter teardown after it (runtime.exit_now)
        from ..runtime import exit_now, loading, start_temporary_server

        if not {"--help", "-h"} & set(argv):
            # Prefect's temporary server before typer and the CLI are even built: its start-up (4 CPU seconds on
            # the other core) is what the run waits for before its flow starts, so every tenth of a second it
            # starts earlier is one the run saves. The command launches it anyway (the same call, a no-op now);
            # a usage error stops it at exit unused, as a bad config always did.
            start_temporary_server()

        try:
            with loading():  # the collector off until the run has loaded (flows/cli/run.py calls ``loaded``)
                __getattr__("app")()
        except SystemExit as done:
            exit_now(done.code)
    else:
        __getattr__("app")()
