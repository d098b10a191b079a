"""``steward audit ...``: audits a team runs from a terminal or a CI job, each with an exit code a pipeline gates on.

One module per audit, each holding one typer command function: ``bias`` (any table or file), ``launch`` (a launch
spec's go / no-go against the warehouse). A new audit (frequency, quality) is a module here and one line below.
``log`` is the audit log's own group (``steward audit log verify``; see log.py for why it lives here).
"""

from __future__ import annotations

import typer

from .bias import bias
from .frequency import frequency
from .launch import audit_launch
from .log import log_app
from .quality import quality

__all__ = ["audit_app"]

audit_app = typer.Typer(help="Audits with an exit code to gate on: bias across groups, a launch's go / no-go, the "
                             "audit log's integrity.", no_args_is_help=True)
audit_app.command("bias")(bias)
audit_app.command("frequency")(frequency)
audit_app.command("launch")(audit_launch)
audit_app.command("quality")(quality)
audit_app.add_typer(log_app, name="log")
