"""The tables a command prints, as its ``--html`` page shows them (flows/audit_html.py draws the page).

This lives in the CLI because it reads rich tables, and only flows/cli/ imports rich: the page modules outside it
take plain ``HtmlTable`` rows and never see a console object.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ...audit_html import HtmlTable

__all__ = ["from_rich"]


def from_rich(table: Table, note: str = "") -> HtmlTable:
    """The table a command prints, as the page shows it: same title, columns and cells, rich markup
    (``[red]fails[/]``) reduced to its text. Building the page from the printed table keeps the two from drifting."""
    return HtmlTable(_plain(table.title or ""), [_plain(c.header) for c in table.columns],
                     [list(r) for r in zip(*([_plain(cell) for cell in c.cells] for c in table.columns))], note)


def _plain(cell: Any) -> str:
    from rich.errors import MarkupError
    from rich.text import Text

    if isinstance(cell, Text):
        return cell.plain
    if not isinstance(cell, str):
        return str(cell)
    try:
        return Text.from_markup(cell).plain
    except MarkupError:  # a value that only looks like markup ("[/x]"): shown as it is
        return cell
