"""Test helper: run the same test on a DuckDB warehouse and on a PostgreSQL warehouse.

A test that takes the ``any_warehouse`` fixture runs twice, once per kind (ids ``duckdb`` and ``postgres``), each
time with a fresh, empty :class:`Warehouse` (a new file; a new database on the session's server, ``pg_server``).
Use it in a module with ``from both_warehouses import any_warehouse  # noqa: F401`` (the fixture is then defined
there), or call :func:`both` to get one warehouse of each kind for a comparison.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from steward.integrations.warehouse import Warehouse

__all__ = ["any_warehouse", "duckdb_warehouse", "postgres_warehouse", "both", "KINDS"]

KINDS = ("duckdb", "postgres")


def duckdb_warehouse(folder: Path, name: str = "steward") -> Warehouse:
    return Warehouse(Path(folder) / f"{name}.duckdb")


def postgres_warehouse(pg_server) -> Warehouse:
    return Warehouse(pg_server.fresh_database("wh"))


def both(folder: Path, pg_server) -> tuple[Warehouse, Warehouse]:
    """A fresh DuckDB warehouse and a fresh PostgreSQL warehouse."""
    return duckdb_warehouse(folder), postgres_warehouse(pg_server)


@pytest.fixture(params=KINDS)
def any_warehouse(request, tmp_path) -> Warehouse:
    """A fresh, empty warehouse of each kind in turn."""
    if request.param == "duckdb":
        return duckdb_warehouse(tmp_path)
    return postgres_warehouse(request.getfixturevalue("pg_server"))
