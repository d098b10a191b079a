"""Runs the source contracts in DuckDB: a landed batch (``check_batch``) and a table already in the warehouse
(``validate_table``).

What the checks are, how a batch is conformed to its contract (drift, renames, the zone rule) and how failing rows
become quarantine reasons are ``contracts.source_checks``; this module only runs the checks where the data is. For a
batch, pandas coerces it to the contract's types and DuckDB scans that frame in place (``sql_checks``); pandera
judges only a batch whose values do not coerce (so pandera names them exactly as before) and any check the compiler
leaves to it. ``validate_table`` judges a table the same way, with no pandas copy of it at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import duckdb
import pandas as pd
import pandera.pandas as pa

from ...contracts.batch import Batch
from ...contracts.errors import SourceError
from ...contracts.registry import SourceContract
from ...contracts.schema_types import ColumnType
from ...contracts.source_checks import (ROW, SourceVerdict, TableVerdict, coerce, conform, fallback_labels,
                                       plan_columns, quarantine_rows, split, validate_pandera)
from ...contracts.timestamps import ZONE_LABEL, ZONED, timestamp_columns
from .scratch import scratch
from .sql_checks import (_DUCK_TYPES, WholeBatchFailure, compile_contract, failing_rows, failing_rows_table, lit,
                         python_regex_to_re2, q)

__all__ = ["check_batch", "check_staged", "StagedVerdict", "validate_table"]

_STAGE = "__STAGE__"  # stands for the staging file's schema in ``StagedVerdict.select``
_REASONS = "__reasons"  # the staging file's table of failing rows (__row, reasons)
STAGED_MEMORY = "1GB"


@dataclass
class StagedVerdict:
    """A staged export file judged in SQL: how many rows, how many fail (their reasons stay in the staging file),
    the first failing rows for the quarantine, and the query that selects the valid rows in the contract's types."""

    contract: SourceContract
    drift: dict | None
    rows: int
    failing: int
    by_check: dict[str, int]
    quarantine: pd.DataFrame  # source_row, reasons, record: the first failing rows, as in SourceVerdict
    select: str
    types: dict[str, ColumnType] = field(default_factory=dict)

    def landing_sql(self, schema: str) -> str:
        """The valid rows, read from the staging file attached as ``schema``."""
        return self.select.replace(_STAGE, schema)


def check_staged(batch: Batch, previous_types: Mapping[str, Mapping[str, str]] | None = None,
                 keep: int = 1000) -> StagedVerdict | None:
    """Judge a staged batch (``Batch.staged``: the whole file in a DuckDB file) by its contract, in SQL over every
    row at once; ``keep`` failing rows come back for the quarantine, the rest are counted.

    The checks are the batch path's (``compile_contract`` with the stored types, as ``validate_table``): a value
    that does not cast to its contract type fails ``coerce_dtype``, a timestamp without its zone follows the
    source's zone rule; a column the drift pairs with a rename is read from its new name. None when the file needs
    the batch path instead: a required column lost with no rename, a retype, a check SQL cannot express. Raises ``BreakingDrift`` for a file that is not its entity's export."""
    plan = plan_columns(batch, previous_types)
    if plan is None or batch.staged is None:
        return None
    from ..sources._stage import take_stage  # the staging connection, still open: no second open of the file

    con = take_stage(batch.staged) or duckdb.connect(batch.staged)
    try:
        con.execute(f"SET memory_limit = '{STAGED_MEMORY}'")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET TimeZone = 'UTC'")  # a value without an offset is cast as UTC, not in the machine's zone
        stored = {name: str(dtype) for name, dtype, *_ in con.execute("DESCRIBE rows").fetchall()}
        source = {c: c if c in stored else plan.renamed.get(c) for c in plan.expected}  # None: lands as null
        cols = [f"{q(src)} AS {q(c)}" if src else f"NULL::VARCHAR AS {q(c)}" for c, src in source.items()]
        con.execute(f"CREATE OR REPLACE VIEW __judged AS SELECT {', '.join(cols)}, rowid AS {ROW} FROM rows")
        types = {c: stored[src] if src else "VARCHAR" for c, src in source.items()}
        compiled = compile_contract(plan.schema, "__judged", types)
        if compiled.fallback:  # pragma: no cover - none of the registered contracts has such a check
            return None
        zone = _zone_labels_select("__judged", plan.schema, types, plan.contract)
        try:
            failing, by_check = failing_rows_table(con, compiled, zone, _REASONS)
        except WholeBatchFailure as err:
            raise SourceError(f"{batch.source}: {batch.stream.key} {err} for the whole file") from None
        bad = con.execute(f"SELECT j.*, r.reasons AS _reasons FROM {_REASONS} r JOIN __judged j USING ({ROW}) "
                          f"ORDER BY {ROW} LIMIT {max(0, int(keep))}").df().set_index(ROW)
        casts = []
        for name, col in plan.schema.columns.items():
            want = _DUCK_TYPES.get(str(col.dtype))
            ref = f"j.{q(source[name])}" if source[name] else "NULL::VARCHAR"
            casts.append(f"{ref if want is None or types[name] == want else f'TRY_CAST({ref} AS {want})'} AS {q(name)}")
        unmapped = ("to_json(struct_pack(" + ", ".join(f"{q(e)} := j.{q(e)}" for e in plan.extras) + "))::VARCHAR"
                    if plan.extras else "NULL::VARCHAR")
        select = (f"SELECT {', '.join(casts)}, {unmapped} AS _unmapped FROM {_STAGE}.rows j "
                  f"WHERE NOT EXISTS (SELECT 1 FROM {_STAGE}.{_REASONS} r WHERE r.{ROW} = j.rowid)")
    finally:
        con.close()
    rows = batch.rows
    return StagedVerdict(plan.contract, plan.drift, rows, failing, by_check, quarantine_rows(batch, bad), select,
                         plan.types)


def check_batch(batch: Batch, previous_types: Mapping[str, Mapping[str, str]] | None = None) -> SourceVerdict:
    """Conform, judge and split ``batch``; ``previous_types`` (the entity's last snapshot) reveals retyped columns.

    Raises ``BreakingDrift`` when the batch cannot be landed as its entity at all.
    """
    if batch.staged is not None:  # its frame is the file's first rows only: judging it would land a part
        raise SourceError(f"{batch.source}: a staged batch of {batch.stream.key} is judged by check_staged")
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
    with scratch() as con:
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
    sql = _zone_labels_select(relation, schema, types, contract)
    if sql is None:
        return pd.DataFrame({ROW: pd.Series(dtype="int64"), "label": pd.Series(dtype="object")})
    return con.execute(sql).df()


def _zone_labels_select(relation: str, schema: pa.DataFrameSchema, types: dict[str, str],
                        contract: SourceContract) -> str | None:
    """The query behind ``_zone_labels_sql``; None when no column can break the zone rule."""
    parts = []
    for col in timestamp_columns(schema) if contract.naive_time == "refuse" else []:
        stored = types[col]
        if col in contract.dates or stored == "TIMESTAMP WITH TIME ZONE":
            continue
        naive = (f"{q(col)} IS NOT NULL" if stored != "VARCHAR" else
                 f"TRY_CAST({q(col)} AS TIMESTAMPTZ) IS NOT NULL AND NOT regexp_matches({q(col)}, "
                 f"{lit(python_regex_to_re2(ZONED.pattern))})")
        parts.append(f"SELECT {ROW}, {lit(f'{col}: {ZONE_LABEL}')} AS label FROM {relation} WHERE {naive}")
    return " UNION ALL ".join(parts) if parts else None
