"""Runs the source contracts in DuckDB: a landed batch (``check_batch``) and a table already in the warehouse
(``validate_table``).

What the checks are, how a batch is conformed to its contract (drift, renames, the zone rule) and how failing rows
become quarantine reasons are ``contracts.source_checks``; this module only runs the checks where the data is. For a
batch, pandas coerces it to the contract's types and DuckDB scans that frame in place (``sql_checks``); pandera
judges only a batch whose values do not coerce (so pandera names them exactly as before) and any check the compiler
leaves to it. ``validate_table`` judges a table the same way, with no pandas copy of it at all.
"""

from __future__ import annotations

from typing import Mapping

import duckdb
import pandas as pd
import pandera.pandas as pa

from ...contracts.batch import Batch
from ...contracts.errors import SourceError
from ...contracts.registry import SourceContract
from ...contracts.source_checks import (ROW, SourceVerdict, TableVerdict, coerce, conform, fallback_labels, split,
                                       validate_pandera)
from ...contracts.timestamps import ZONE_LABEL, ZONED, timestamp_columns
from .sql_checks import WholeBatchFailure, compile_contract, failing_rows, lit, python_regex_to_re2, q

__all__ = ["check_batch", "validate_table"]


def check_batch(batch: Batch, previous_types: Mapping[str, Mapping[str, str]] | None = None) -> SourceVerdict:
    """Conform, judge and split ``batch``; ``previous_types`` (the entity's last snapshot) reveals retyped columns.

    Raises ``BreakingDrift`` when the batch cannot be landed as its entity at all.
    """
    conformed = conform(batch, previous_types)
    valid, bad, by_check = _validate(conformed.schema, conformed.instants, batch, conformed.zone_labels)
    return split(batch, conformed, valid, bad, by_check)


def _validate(schema: pa.DataFrameSchema, frame: pd.DataFrame, batch: Batch, found: pd.DataFrame | None = None):
    """(valid rows, failing rows with ``_reasons``, failures per label). ``found``: (__row, label) failures judged
    before the contract ran (a timestamp without its zone), merged with the contract's own."""
    coerced = coerce(schema, frame)
    if coerced is None:  # values that do not fit their type: pandera names those exactly, and judges the batch
        return validate_pandera(schema, frame, batch, found)
    compiled = compile_contract(schema, "__batch")
    with duckdb.connect() as con:
        con.register("__frame", coerced)
        con.execute(f"CREATE TEMP VIEW __batch AS SELECT * FROM __frame POSITIONAL JOIN "
                    f"(SELECT range AS {ROW} FROM range({len(coerced)}))")
        extra = fallback_labels(compiled.fallback, coerced.reset_index(drop=True), batch)
        if found is not None and len(found):
            extra = pd.concat([e for e in (extra, found) if e is not None], ignore_index=True)
        try:
            reasons, by_check = failing_rows(con, compiled, extra)
        except WholeBatchFailure as err:
            raise SourceError(f"{batch.source}: {batch.stream.key} {err} for the whole file") from None
    if not len(reasons):
        return coerced, pd.DataFrame(), {}
    bad_idx = coerced.index[reasons[ROW].to_numpy()]
    bad = frame.loc[bad_idx].assign(_reasons=reasons["reasons"].to_numpy())
    return coerced.drop(index=bad_idx), bad, by_check


def validate_table(con: duckdb.DuckDBPyConnection, table: str, contract: SourceContract,
                   where: str | None = None) -> TableVerdict:
    """Judge ``table`` (a name DuckDB resolves, quoted as needed) in place: no row leaves the warehouse unless a
    check falls back to pandera (none of the registered contracts do; see ``sql_checks``). ``where`` narrows the
    judged rows (one integration's rows of a raw table two Salesforce orgs share: their keys are unique per org).
    Timestamps stored without a zone follow the contract's zone rule, as in ``check_batch``: read as UTC whatever
    the session's time zone, or refused."""
    types = {name: str(dtype) for name, dtype, *_ in con.execute(f"DESCRIBE {table}").fetchall()}
    schema = contract.schema()
    schema = schema.remove_columns([c for c, col in schema.columns.items() if not col.required and c not in types])
    for col in [c for c in schema.columns if c not in types]:  # conform drift before landing, not here
        raise SourceError(f"{table}: column '{col}' of {contract.stream} is missing")
    relation = f"(SELECT *, rowid AS {ROW} FROM {table}{f' WHERE {where}' if where else ''})"
    compiled = compile_contract(schema, relation, types)
    zone = con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
    con.execute("SET TimeZone = 'UTC'")  # a value without an offset is cast as UTC, not in the machine's zone
    try:
        extra = _zone_labels_sql(con, relation, schema, types, contract)
        if compiled.fallback:  # pragma: no cover - only a contract with a check SQL cannot express
            extra = pd.concat([extra, fallback_labels(
                compiled.fallback, con.execute(f"SELECT * FROM {relation}").df().set_index(ROW), None)], ignore_index=True)
        reasons, by_check = failing_rows(con, compiled, extra)
    finally:
        con.execute(f"SET TimeZone = {lit(zone)}")
    rows = con.execute(f"SELECT count(*) FROM {table}{f' WHERE {where}' if where else ''}").fetchall()[0][0]
    return TableVerdict(int(rows), reasons, by_check)


def _zone_labels_sql(con: duckdb.DuckDBPyConnection, relation: str, schema: pa.DataFrameSchema,
                     types: dict[str, str], contract: SourceContract) -> pd.DataFrame:
    """(__row, label) for timestamps stored without a zone, where the contract refuses them (``timestamps``)."""
    parts = []
    for col in timestamp_columns(schema) if contract.naive_time == "refuse" else []:
        stored = types[col]
        if col in contract.dates or stored == "TIMESTAMP WITH TIME ZONE":
            continue
        naive = (f"{q(col)} IS NOT NULL" if stored != "VARCHAR" else
                 f"TRY_CAST({q(col)} AS TIMESTAMPTZ) IS NOT NULL AND NOT regexp_matches({q(col)}, "
                 f"{lit(python_regex_to_re2(ZONED.pattern))})")
        parts.append(f"SELECT {ROW}, {lit(f'{col}: {ZONE_LABEL}')} AS label FROM {relation} WHERE {naive}")
    if not parts:
        return pd.DataFrame({ROW: pd.Series(dtype="int64"), "label": pd.Series(dtype="object")})
    return con.execute(" UNION ALL ".join(parts)).df()
