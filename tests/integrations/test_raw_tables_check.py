"""The transform step's look at the raw tables (``_raw_tables_complete``): every run after the first is one query,
read against the contracts' column lists rather than an empty frame built and validated per contract."""

from __future__ import annotations

import pandas as pd

from steward.contracts.registry import SOURCE_CONTRACTS
from steward.integrations.transform.dbt_build import _raw_tables_complete
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.landing import ensure_raw_tables


def test_a_landed_tables_shape_is_the_contracts_columns_and_unmapped():
    for key, contract in SOURCE_CONTRACTS.items():
        assert list(contract.empty_frame().columns) == [*contract.columns(), "_unmapped"], key


def test_the_column_lists_read_off_the_fields_are_the_schemas_columns():
    """``columns()`` reads the model's fields (no pandera schema built); aliased fields (Google Ads' dotted names)
    must come out under the names the schema gives them, in the same order."""
    aliased = 0
    for key, contract in SOURCE_CONTRACTS.items():
        assert contract.columns() == list(contract.schema().columns), key
        aliased += sum("." in column for column in contract.columns())
    assert aliased  # the check above covered an aliased field


def test_an_empty_frame_is_built_once_and_each_caller_gets_its_own_copy():
    contract = SOURCE_CONTRACTS["salesforce.contacts"]
    first, second = contract.empty_frame(), contract.empty_frame()
    assert first is not second and first.dtypes.to_dict() == second.dtypes.to_dict() and first.empty
    first["extra"] = pd.Series(dtype="string")
    assert "extra" not in contract.empty_frame().columns


def test_the_raw_tables_are_complete_only_with_every_table_and_column(tmp_path):
    wh = Warehouse(str(tmp_path / "w.duckdb"))
    assert not _raw_tables_complete(wh)
    with wh.pinned():  # as the transform step does: one open of the file for every table
        ensure_raw_tables(wh)
    assert _raw_tables_complete(wh)
    key, contract = next(iter(SOURCE_CONTRACTS.items()))
    table = key.replace(".", "__")
    with wh.connect() as con:
        con.execute(f'alter table raw."{table}" drop column "{contract.columns()[-1]}"')
    assert not _raw_tables_complete(wh)  # a column added to a contract since: ensure_raw_tables adds it
    with wh.connect() as con:
        con.execute(f'drop table raw."{table}"')
    assert not _raw_tables_complete(wh)
