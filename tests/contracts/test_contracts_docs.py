"""docs/contracts.md is generated from the registry; a contract changed without regenerating it fails here."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from steward.contracts.docs import contracts_markdown
from steward.contracts.registry import SOURCE_CONTRACTS
from steward.flows.cli import app

PAGE = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def test_the_checked_in_page_is_current():
    result = CliRunner().invoke(app, ["contracts", "docs", "--check", "-o", str(PAGE)])
    assert result.exit_code == 0, result.output


def test_every_contract_and_column_is_documented_and_staleness_is_caught(tmp_path):
    page = contracts_markdown()
    for contract in SOURCE_CONTRACTS.values():
        assert f"## {contract.stream}\n" in page
        assert all(f"| `{column}` |" in page for column in contract.columns())
    stale = tmp_path / "contracts.md"
    stale.write_text(page.replace("critical", "warn", 1))
    result = CliRunner().invoke(app, ["contracts", "docs", "--check", "-o", str(stale)])
    assert result.exit_code == 1 and "out of date" in result.output
    written = tmp_path / "new" / "contracts.md"
    assert CliRunner().invoke(app, ["contracts", "docs", "-o", str(written)]).exit_code == 0
    assert written.read_text() == page
