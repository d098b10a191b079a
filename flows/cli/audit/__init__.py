"""``steward audit ...``: audits a team runs from a terminal or a CI job, each with an exit code a pipeline gates on.

One module per audit, each holding one typer command function: ``bias``, ``frequency`` and ``quality`` (any table or
file), ``launch`` (a launch spec's go / no-go against the warehouse). A new audit is a module here and one line in
``COMMANDS``. ``log`` is the audit log's own group (``steward audit log verify``; see log.py for why it lives here).

``audit_app`` (the whole group) is built the first time it is asked for; ``build_audit_app(only="bias")`` builds the
group with one command and imports only that command's module: what ``steward audit bias FILE`` runs (see
``steward.flows.cli.main``), so a file audit does not import the launch audit or the audit log.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = ["audit_app", "build_audit_app", "run_file_audit", "COMMANDS", "FILE_AUDITS"]

# command -> (module in this package, its command function), in the order --help lists them
COMMANDS = {"bias": ("bias", "bias"), "frequency": ("frequency", "frequency"), "launch": ("launch", "audit_launch"),
            "quality": ("quality", "quality")}
FILE_AUDITS = ("bias", "frequency", "quality")  # the audits of a team's own file or table
HELP = ("Audits with an exit code to gate on: bias across groups, a launch's go / no-go, the audit log's "
        "integrity.")


def build_audit_app(only: str | None = None) -> typer.Typer:
    """The ``audit`` group: every command and the ``log`` group, or (``only``) one command, its module alone
    imported."""
    import typer

    app = typer.Typer(help=HELP, no_args_is_help=True)
    for name, (module, function) in COMMANDS.items():
        if only in (None, name):
            app.command(name)(getattr(import_module(f".{module}", __name__), function))
    if only is None:
        from .log import log_app

        app.add_typer(log_app, name="log")
    return app


def run_file_audit(name: str, args: list[str]) -> None:
    """Run ``steward audit NAME ARGS`` (NAME one of ``FILE_AUDITS``) when its command line can be read from the
    command's declaration without typer (_argv.py), ending the process with the command's exit code; return when
    typer must read it (help, a usage error, an unusual spelling), having run nothing."""
    from ._argv import parse_command_line, run_parsed

    module, function = COMMANDS[name]
    command = getattr(import_module(f".{module}", __name__), function)
    kwargs = parse_command_line(command, args)
    if kwargs is not None:
        run_parsed(command, kwargs)


_built: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``audit_app`` on first use (PEP 562), then the same object every time."""
    if name == "audit_app":
        if name not in _built:
            _built[name] = build_audit_app()
        return _built[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
