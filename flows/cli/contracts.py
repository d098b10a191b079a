"""``steward contracts ...``: the source contracts as a table or a Markdown page, and re-judging landed data."""

from __future__ import annotations

from pathlib import Path

import typer

from ._console import err, one_line_errors, stdout

__all__ = ["contracts_app"]

contracts_app = typer.Typer(help="Data contracts.", no_args_is_help=True)


@contracts_app.command("list")
def contracts_list() -> None:
    """Every source contract: entity, owner, severity, version, columns."""
    from rich.table import Table

    from ...contracts.registry import SOURCE_CONTRACTS

    table = Table("entity", "owner", "severity", "version", "columns")
    for c in SOURCE_CONTRACTS.values():
        table.add_row(c.stream, c.owner, c.severity, c.version, str(len(c.columns())))
    stdout().print(table)


@contracts_app.command("docs")
def contracts_docs(output: Path = typer.Option(Path("docs/contracts.md"), "--output", "-o",
                                              help="Where to write the page."),
                   check: bool = typer.Option(False, "--check", help="Exit 1 if the page on disk is out of date.")
                   ) -> None:
    """Write the source contracts as Markdown (generated from the registry)."""
    from ...contracts.docs import contracts_markdown

    page = contracts_markdown()
    if check:
        current = output.read_text(encoding="utf-8") if output.is_file() else ""
        if current != page:
            err.print(f"[bold red]{output} is out of date:[/] run `steward contracts docs -o {output}`")
            raise typer.Exit(1)
        err.print(f"[green]{output} is up to date[/]")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    err.print(f"wrote {output} ({page.count(chr(10) + '## ')} contracts)")


@contracts_app.command("validate")
def contracts_validate(config: Path = typer.Option(Path("steward.yaml"), "--config", "-c"),
                       entity: list[str] = typer.Option(None, "--entity", "-e",
                                                        help="Only this entity (<platform>.<entity>); repeatable."),
                       quarantine: bool = typer.Option(False, "--quarantine",
                                                       help="Move failing rows from raw to ledger.quarantine."),
                       as_json: bool = typer.Option(False, "--json", help="One JSON object per entity and "
                                                                           "integration instead of a table.")
                       ) -> None:
    """Re-judge what is already landed against the contracts in force now, in the warehouse; exit 1 if rows fail
    and stay in raw."""
    import json

    from rich.table import Table

    from ...contracts.errors import ConfigError
    from ...integrations.warehouse.revalidation import revalidate
    from ...integrations.warehouse import Warehouse

    from ..config import load_config

    with one_line_errors():
        wh = Warehouse(load_config(config).warehouse)
        try:
            results = revalidate(wh, entity or None, quarantine,
                                 progress=None if as_json else lambda what: err.print(f"judging {what}"))
        except KeyError as exc:
            raise ConfigError(str(exc.args[0])) from None
        if as_json:
            for r in results:
                print(json.dumps(r.__dict__, sort_keys=True))
        else:
            table = Table("entity", "integration", "contract", "rows", "failing", "quarantined", "checks broken")
            for r in results:
                broken = ", ".join(f"{k} ({v})" for k, v in sorted(r.by_check.items(), key=lambda kv: -kv[1]))
                table.add_row(r.entity, r.integration, r.contract_version, f"{r.rows:,}", f"{r.failing_rows:,}",
                              f"{r.quarantined:,}", broken or "-")
            stdout().print(table)
        if any(r.failing_rows > r.quarantined for r in results):
            raise typer.Exit(1)


@contracts_app.command("entities")
def contracts_entities(page: Path = typer.Option(Path("docs/your-own-stack.md"), "--output", "-o",
                                                 help="The page holding the entity tables."),
                       check: bool = typer.Option(False, "--check", help="Exit 1 if the tables on disk are out of "
                                                                         "date.")
                       ) -> None:
    """Rewrite the canonical entities' column tables (platform: custom) inside a page, from the contracts."""
    from ...contracts.docs import with_entities

    with one_line_errors():
        current = page.read_text(encoding="utf-8") if page.is_file() else ""
        try:
            updated = with_entities(current)
        except ValueError as exc:
            from ...contracts.errors import ConfigError
            raise ConfigError(f"{page}: {exc}") from None
    if check:
        if current != updated:
            err.print(f"[bold red]{page} is out of date:[/] run `steward contracts entities -o {page}`")
            raise typer.Exit(1)
        err.print(f"[green]{page} is up to date[/]")
        return
    page.write_text(updated, encoding="utf-8")
    err.print(f"wrote the entity tables in {page}")
