"""The ``steward`` command: runs flows and shows what they found. It holds no checks of its own.

One module per command group; every one prints through ``_console`` (one stdout and one stderr console, one error
handler: a ``StewardError`` is one ``error:`` line and exit 2). Modules import only typer and rich at the top: what a
command needs (Prefect, dbt, pandas, DuckDB, the policy) is imported inside it, when it runs, so ``steward --help``
starts fast.

Old spellings kept as hidden aliases for one release: ``steward audit-launch`` (now ``steward audit launch``) and
``steward audit-log verify`` (now ``steward audit log verify``).
"""

from __future__ import annotations

import typer

from ..runtime import apply_defaults

apply_defaults()  # before anything imports Prefect or dbt

from .alerts import alerts_app  # noqa: E402
from .audit import audit_app  # noqa: E402
from .audit.launch import audit_launch  # noqa: E402
from .audit.log import log_app  # noqa: E402
from .campaigns import campaigns_app  # noqa: E402
from .contracts import contracts_app  # noqa: E402
from .deploy import deploy  # noqa: E402
from .evidence import evidence  # noqa: E402
from .health import health  # noqa: E402
from .report import report  # noqa: E402
from .run import approve, demo, run  # noqa: E402
from .serve import serve  # noqa: E402
from .warehouse import warehouse_app  # noqa: E402

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Steward keeps autonomous marketing systems honest: reconcile, audit, alert, pause.")
app.command("demo")(demo)
app.command("run")(run)
app.command("approve")(approve)
app.add_typer(contracts_app, name="contracts")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(audit_app, name="audit")
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


def main() -> None:
    app()
