"""Test helper: run the same test on a DuckDB warehouse and on a PostgreSQL warehouse.

A test that takes the ``any_warehouse`` fixture runs twice, once per kind (ids ``duckdb`` and ``postgres``), each
time with a fresh, empty :class:`Warehouse` (a new file; a new database on the session's server, ``pg_server``).
Use it in a module with ``from both_warehouses import any_warehouse  # noqa: F401`` (the fixture is then defined
there), or call :func:`both` to get one warehouse of each kind for a comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ContextManager

import pytest

from steward.integrations.warehouse import Warehouse

__all__ = ["any_warehouse", "duckdb_warehouse", "postgres_warehouse", "both", "equals_full_refresh",
           "full_refresh_differences", "KINDS"]

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


def equals_full_refresh(connect: Callable[[], ContextManager[Any]], compared: list[str], kept_schema: str,
                        rebuild: Callable[[], None]) -> None:
    """The daily-run tests' proof: each of ``compared`` (``schema.table``) as the incremental builds left it is kept
    aside in ``kept_schema``, ``rebuild()`` rebuilds it with ``--full-refresh``, and the two must hold the same rows
    (EXCEPT ALL both ways, duplicates counted). ``connect`` opens either warehouse (a DuckDB ``Warehouse.connect`` or
    a psycopg connection in autocommit): the SQL is the same on both."""
    for name, differences in full_refresh_differences(connect, compared, kept_schema, rebuild).items():
        assert differences == 0, name


def full_refresh_differences(connect: Callable[[], ContextManager[Any]], compared: list[str], kept_schema: str,
                             rebuild: Callable[[], None]) -> dict[str, int]:
    """What :func:`equals_full_refresh` asserts, as numbers: for each of ``compared``, the rows in one build and not
    (as often) in the other. For a module fixture whose daily build several tests share, each asserting it."""
    def kept(name: str) -> str:
        return f"{kept_schema}.inc_{name.split('.')[1]}"

    with connect() as con:
        for name in compared:
            con.execute(f"drop table if exists {kept(name)}")
            con.execute(f"create table {kept(name)} as select * from {name}")
    rebuild()
    with connect() as con:
        return {name: con.execute(
            f"select (select count(*) from (select * from {kept(name)} except all select * from {name}) as a) + "
            f"(select count(*) from (select * from {name} except all select * from {kept(name)}) as b)"
        ).fetchone()[0] for name in compared}
