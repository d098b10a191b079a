"""A failed combined data test, split back into the assertions it stands for, so findings name what failed.

The project tests each key with one ``primary_key`` test (macros/tests/primary_key.sql) instead of dbt's
``not_null`` and ``unique``: half the nodes, one scan. When one fails (rarely: it means a duplicated or missing key in
staged data), its failing rows are counted again per assertion here, with the SQL dbt compiled for it, and the
failure becomes ``not_null_<model>_<column>`` and/or ``unique_<model>_<column>`` with the counts the two tests would
have reported: the same names, and so the same finding fingerprints, as when they were two tests.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from ..warehouse import Warehouse
from ..warehouse.target import WarehouseTarget

__all__ = ["PRIMARY_KEY", "split_failures"]

PRIMARY_KEY = "primary_key_"  # dbt names a column test <test>_<model or source_table>_<column>


def split_failures(warehouse: WarehouseTarget, results: Iterable[Any] | None, failures: list) -> list:
    """``failures`` (``dbt_build.TestFailure``) with each failed ``primary_key`` test replaced by the failures of
    its two assertions. A test that errored (its SQL did not run) or whose rows cannot be counted again stays as
    dbt reported it."""
    if not any(f.test.startswith(PRIMARY_KEY) for f in failures):
        return failures
    compiled = {r.node.name: getattr(r.node, "compiled_code", None) for r in results or []
                if str(r.status) in ("fail", "warn")}
    out = []
    for failure in failures:
        sql = compiled.get(failure.test) if failure.test.startswith(PRIMARY_KEY) else None
        counts = _key_counts(warehouse, sql) if sql else None
        if counts is None:
            out.append(failure)
            continue
        suffix = failure.test[len(PRIMARY_KEY):]
        for assertion, n in (("not_null", counts[0]), ("unique", counts[1])):
            if n:
                out.append(dataclasses.replace(failure, test=f"{assertion}_{suffix}", failures=n))
    return out


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
