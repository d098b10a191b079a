"""A failed combined data test, split back into the assertions it stands for, so findings name what failed.

The project tests each key with one ``primary_key`` test (macros/tests/primary_key.sql) instead of dbt's
``not_null`` and ``unique``: half the nodes, one scan. When one fails (rarely: it means a duplicated or missing key in
staged data), its failing rows are counted again per assertion here, with the SQL dbt compiled for it, and the
failure becomes ``not_null_<model>_<column>`` and/or ``unique_<model>_<column>`` with the counts the two tests would
have reported: the same names, and so the same finding fingerprints, as when they were two tests.

A model's key, grain and row-by-row column assertions (``not_null``, ``non_negative``, ``accepted_values``) are one
``columns_hold`` test (macros/tests/columns_hold.sql): its rows name each failing assertion, column and count, and
each becomes the failure of the test it stands for (the key's ``not_null`` and ``unique``, ``unique_combination``, a
column test), named as dbt names that test (``synthesize_generic_test_names``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from ..warehouse import Warehouse
from ..warehouse.target import WarehouseTarget

__all__ = ["PRIMARY_KEY", "COLUMNS_HOLD", "split_failures"]

PRIMARY_KEY = "primary_key_"  # dbt names a column test <test>_<model or source_table>_<column>
COLUMNS_HOLD = "columns_hold_"  # and a model's test <test>_<model>_<its arguments>


def split_failures(warehouse: WarehouseTarget, results: Iterable[Any] | None, failures: list) -> list:
    """``failures`` (``dbt_build.TestFailure``) with each failed ``primary_key`` test replaced by the failures of
    its two assertions, and each failed ``columns_hold`` test by the failures of the column tests it holds. A test
    that errored (its SQL did not run) or whose rows cannot be counted again stays as dbt reported it."""
    if not any(f.test.startswith((PRIMARY_KEY, COLUMNS_HOLD)) for f in failures):
        return failures
    nodes = {r.node.name: r.node for r in results or [] if str(r.status) in ("fail", "warn")}
    out = []
    for failure in failures:
        node = nodes.get(failure.test)
        sql = getattr(node, "compiled_code", None)
        if sql and failure.test.startswith(PRIMARY_KEY):
            split = _key_failures(warehouse, sql, failure)
        elif sql and failure.test.startswith(COLUMNS_HOLD) and failure.model:
            split = _column_failures(warehouse, sql, failure, _kwargs(node))
        else:
            split = None
        out.extend([failure] if split is None else split)
    return out


def _key_failures(warehouse: WarehouseTarget, sql: str, failure) -> list | None:
    counts = _key_counts(warehouse, sql)
    if counts is None:
        return None
    suffix = failure.test[len(PRIMARY_KEY):]
    return [dataclasses.replace(failure, test=f"{assertion}_{suffix}", failures=n)
            for assertion, n in (("not_null", counts[0]), ("unique", counts[1])) if n]


def _key_counts(warehouse: WarehouseTarget, sql: str) -> tuple[int, int] | None:
    """(rows with a null key, duplicated key values) from the test's own rows: one per failing key value."""
    query = ("select coalesce(sum(case when key_value is null then n_records end), 0) as nulls, "
             "count(case when key_value is not null then 1 end) as duplicates "
             f"from ({sql.strip().rstrip(';')}) as failing")
    try:
        row = Warehouse(warehouse).query_df(query).iloc[0]
    except Exception:  # noqa: BLE001 - the failure is still reported, as dbt reported it
        return None
    return int(row["nulls"]), int(row["duplicates"])


def _kwargs(node) -> dict:
    metadata = getattr(node, "test_metadata", None)
    kwargs = dict(getattr(metadata, "kwargs", None) or {})
    return {**kwargs, **(kwargs.get("arguments") or {})}


def _column_failures(warehouse: WarehouseTarget, sql: str, failure, kwargs: dict) -> list | None:
    """One failure per row of the ``columns_hold`` test (assertion, column, count), named as dbt names the test it
    stands for: ``<assertion>_<model>_<column>`` (``accepted_values``: then ``__<each value>``; the key's
    ``unique``: ``unique_<model>_<column>``; a grain: ``unique_combination_<model>_<column>__<column>...``)."""
    from dbt.parser.generic_test_builders import synthesize_generic_test_names

    try:
        rows = Warehouse(warehouse).query_df(
            f"select assertion, column_name, failures from ({sql.strip().rstrip(';')}) as failing "
            "order by column_name, assertion").itertuples(index=False)
        rows = [(str(a), str(c), int(n)) for a, c, n in rows]
    except Exception:  # noqa: BLE001 - the failure is still reported, as dbt reported it
        return None
    out = []
    for assertion, column, n in rows:
        args: dict[str, Any] = {"column_name": column}
        if assertion == "accepted_values":
            args["values"] = list((kwargs.get("accepted_values") or {}).get(column) or [])
        elif assertion == "unique_combination":
            args = {"columns": column.split(",")}
        name = synthesize_generic_test_names(assertion, failure.model, args)[1]
        out.append(dataclasses.replace(failure, test=name, failures=n))
    return out or None
