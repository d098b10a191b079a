"""``steward warehouse move``: a DuckDB warehouse's landed data and ledgers moved into the PostgreSQL warehouse
steward.yaml now names (see docs/warehouses.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._console import err, one_line_errors

__all__ = ["warehouse_app"]

warehouse_app = typer.Typer(help="The warehouse: moving it from a DuckDB file to PostgreSQL.", no_args_is_help=True)


@warehouse_app.command("move")
def warehouse_move(source: Path = typer.Argument(..., help="The DuckDB warehouse file to move."),
                   config: Path = typer.Option(Path("steward.yaml"), "--config", "-c",
                                               help="steward.yaml whose `warehouse:` is the PostgreSQL URL.")) -> None:
    """Copy raw and ledger from SOURCE into the (empty) PostgreSQL warehouse; dbt's marts are rebuilt by the next
    `steward run`."""
    from ...contracts.errors import ConfigError
    from ...integrations.warehouse.move import move_to_postgres
    from ...integrations.warehouse.target import PostgresTarget
    from ...integrations.warehouse.writer_lock import hold

    from ..config import load_config

    with one_line_errors():
        cfg = load_config(config)
        if not isinstance(cfg.warehouse, PostgresTarget):
            raise ConfigError(f"{config}: warehouse: set it to the PostgreSQL URL to move into "
                              "(postgresql://USER@HOST:PORT/DATABASE)")
        with hold(source, None, cfg.lock_timeout_seconds), hold(cfg.warehouse, None, cfg.lock_timeout_seconds):
            moved = move_to_postgres(source, cfg.warehouse)
        rows = sum(m.rows for m in moved)
        err.print(f"moved {len(moved)} tables, {rows} rows, from {source} to {cfg.warehouse.display}")
