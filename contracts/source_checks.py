"""Judges one landed batch against its source contract: schema drift first, then row by row.

A drifted export is conformed rather than refused: a column the drift pairs with a rename (``LastName`` ~
``Last_Name``) lands under the contract's name, so a merge by key never replaces stored values with null because of
a rename; columns the contract expects but the file lacks arrive as nulls (and their checks are relaxed), columns
the contract does not know (renamed ones too) are kept verbatim in ``_unmapped`` so no data is lost, columns whose
type family changed since the entity's last snapshot are ``retyped`` (``schema_types``), and the drift itself is
reported as data for a finding. A column the contract marks optional (``required=False``) is
not drift when absent: it lands as nulls. Timestamps are read as UTC instants under the source's zone rule
(``timestamps``) before any check. Rows that break the contract are quarantined, as they came, with the checks they
broke; the rest flow on.

Only *breaking* drift refuses the batch, with ``BreakingDrift`` carrying the diff: a batch that does not look like
its entity at all, one that lost its primary key column, or one where a retyped column makes every row fail. The
pull records the refusal and goes on with the other entities (``integrations/pull.py``).

The checks run in DuckDB (``sql_checks``): pandas only coerces the batch to the contract's types, DuckDB scans that
frame in place, and pandera itself judges only a batch whose values do not coerce (so pandera names them exactly as
before) and any check the compiler leaves to it. ``validate_table`` judges a table already in the warehouse the same
way, with no pandas copy of it at all.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Mapping

import duckdb
import pandas as pd
import pandera.pandas as pa

from .errors import BreakingDrift, SourceError
from .batch import Batch
from .registry import SourceContract, contract_for
from .schema_types import ColumnType, column_types, detect_retyped
from .sql_checks import (ROW, CompiledContract, WholeBatchFailure, compile_contract, failing_rows,
                         label_failure_cases, lit, python_regex_to_re2, q)
from .timestamps import ZONE_LABEL, ZONED, apply_zone_rule, timestamp_columns

__all__ = ["SourceVerdict", "TableVerdict", "check_batch", "detect_drift", "validate_table"]


@dataclass
class SourceVerdict:
    valid: pd.DataFrame
    quarantined: pd.DataFrame  # source_row, reasons, record (JSON text)
    drift: dict | None
    contract: SourceContract
    failures_by_check: dict[str, int] = field(default_factory=dict)
    types: dict[str, ColumnType] = field(default_factory=dict)  # every incoming column as landed, for the snapshot


@dataclass(frozen=True)
class TableVerdict:
    """A warehouse table judged by its contract: which rows fail (``__row`` is DuckDB's ``rowid``) and why."""

    rows: int
    failing: pd.DataFrame  # __row, reasons ("; "-joined labels, as in the quarantine)
    by_check: dict[str, int]


def detect_drift(expected: list[str], present: list[str], optional: list[str] | tuple[str, ...] = ()) -> dict | None:
    """Missing and added columns, with likely renames paired by name similarity (``LeadSource``~``Lead_Source__c``).

    An ``optional`` column the export lacks is not drift: older exports predate it and some teams never fill it.
    It counts only when an added column looks like its rename, because then the platform did change the name.
    """
    missing = [c for c in expected if c not in present]
    added = [c for c in present if c not in expected]
    renamed: dict[str, str] = {}
    pool = {_norm(c): c for c in added}
    for col in missing:
        match = difflib.get_close_matches(_norm(col), list(pool), n=1, cutoff=0.8)
        if match:
            renamed[col] = pool.pop(match[0])
    missing = [c for c in missing if c not in optional or c in renamed]
    if not missing and not added:
        return None
    return {"missing": missing, "added": added, "renamed": renamed}


def check_batch(batch: Batch, previous_types: Mapping[str, Mapping[str, str]] | None = None) -> SourceVerdict:
    """Conform, judge and split ``batch``; ``previous_types`` (the entity's last snapshot) reveals retyped columns.

    Raises ``BreakingDrift`` when the batch cannot be landed as its entity at all.
    """
    contract = contract_for(batch.stream.key)
    expected, required = contract.columns(), contract.required_columns()
    present = [str(c) for c in batch.frame.columns]
    types = column_types(batch.frame)
    drift = _with_retyped(detect_drift(expected, present, contract.optional_columns()),
                          detect_retyped(previous_types, types))
    _refuse_unrecognisable(batch, contract, required, present, drift)
    schema = contract.schema()
    frame = batch.frame.copy()
    frame.columns = present
    renamed = {old: new for old, new in ((drift or {}).get("renamed") or {}).items() if old not in present}
    for old, new in renamed.items():  # a paired rename keeps its stored column: its values land there, not null
        frame[old] = frame[new]
    for col in [c for c in expected if c not in present and c not in renamed]:  # drifted away, or optional: nulls
        frame[col] = None
        schema = schema.update_column(col, nullable=True)
    extras = (drift or {}).get("added", [])
    unmapped = _unmapped(frame, extras)
    frame = frame[expected]
    instants, zone_labels = apply_zone_rule(frame, timestamp_columns(schema), contract.naive_time, contract.dates)
    valid, bad, by_check = _validate(schema, instants, batch, zone_labels)
    _refuse_fatal_retype(batch, drift, len(frame), len(valid))
    valid = valid.assign(_unmapped=unmapped.loc[valid.index].astype("string"))
    if len(bad):  # the quarantine keeps each value as the source sent it, not as it was read
        bad = frame.loc[bad.index].assign(_reasons=bad["_reasons"])
    quarantined = _quarantine_rows(batch, bad)
    return SourceVerdict(valid.reset_index(drop=True), quarantined, drift, contract, by_check, types)


def _with_retyped(drift: dict | None, retyped: dict[str, dict[str, str]]) -> dict | None:
    """The drift record with ``retyped`` added only when some column changed family (older records lack the key)."""
    if not retyped:
        return drift
    return {**(drift or {"missing": [], "added": [], "renamed": {}}), "retyped": retyped}


def _refuse_unrecognisable(batch: Batch, contract: SourceContract, expected: list[str], present: list[str],
                           drift: dict | None) -> None:
    overlap = len(set(expected) & set(present))
    if overlap < max(1, len(expected) // 2):
        shown = ", ".join(present[:6]) or "no columns"
        raise BreakingDrift(f"{batch.source}: does not look like a {batch.stream.key} export "
                            f"(found {shown}; expected columns such as {', '.join(expected[:5])})",
                            "unrecognisable", drift)
    keys = batch.stream.primary_key.split(",")
    lost = [k for k in keys if k not in present]
    if lost:
        raise BreakingDrift(f"{batch.source}: primary key column '{lost[0]}' of {batch.stream.key} is missing; "
                            f"cannot land without it", "primary_key_missing", drift)


def _refuse_fatal_retype(batch: Batch, drift: dict | None, rows: int, valid: int) -> None:
    """A retype that leaves no row valid is refused rather than quarantined whole: the watermark then stays put,
    so once the mapping is fixed the same records are pulled again instead of sitting in quarantine."""
    retyped = (drift or {}).get("retyped") or {}
    if retyped and rows and not valid:
        cols = ", ".join(f"'{c}' ({t['from']} -> {t['to']})" for c, t in retyped.items())
        raise BreakingDrift(f"{batch.source}: every row of {batch.stream.key} fails its contract after "
                            f"{cols} changed type; cannot land it", "retype_fails_every_row", drift)


def _unmapped(frame: pd.DataFrame, extras: list[str]) -> pd.Series:
    if not extras:
        return pd.Series([None] * len(frame), index=frame.index, dtype="object")
    sub = frame[extras]
    values = sub.to_numpy(dtype=object, copy=True)  # one block, not a pandas operation per column (10,000 wide)
    values[sub.isna().to_numpy()] = None
    return pd.Series([json.dumps(dict(zip(extras, row)), default=str) for row in values.tolist()], index=frame.index)


def _validate(schema: pa.DataFrameSchema, frame: pd.DataFrame, batch: Batch, found: pd.DataFrame | None = None):
    """(valid rows, failing rows with ``_reasons``, failures per label). ``found``: (__row, label) failures judged
    before the contract ran (a timestamp without its zone), merged with the contract's own."""
    coerced = _coerce(schema, frame)
    if coerced is None:  # values that do not fit their type: pandera names those exactly, and judges the batch
        return _validate_pandera(schema, frame, batch, found)
    compiled = compile_contract(schema, "__batch")
    with duckdb.connect() as con:
        con.register("__frame", coerced)
        con.execute(f"CREATE TEMP VIEW __batch AS SELECT * FROM __frame POSITIONAL JOIN "
                    f"(SELECT range AS {ROW} FROM range({len(coerced)}))")
        extra = _fallback_labels(compiled, coerced.reset_index(drop=True), batch)
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
            extra = pd.concat([extra, _fallback_labels(
                compiled, con.execute(f"SELECT * FROM {relation}").df().set_index(ROW), None)], ignore_index=True)
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


def _coerce(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame | None:
    """The frame in its contract's types, or None when some value does not coerce."""
    types = pa.DataFrameSchema({n: pa.Column(c.dtype, nullable=True, coerce=True) for n, c in schema.columns.items()})
    try:
        return types.validate(frame, lazy=True)
    except pa.errors.SchemaErrors:
        return None


def _fallback_labels(compiled: CompiledContract, frame: pd.DataFrame, batch: Batch | None) -> pd.DataFrame | None:
    """The checks SQL could not express, judged by pandera over the (already coerced) frame."""
    if not compiled.fallback:
        return None
    columns = {n: pa.Column(checks=[c for col, c in compiled.fallback if col == n], nullable=True)
               for n in {col for col, _ in compiled.fallback if col is not None}}
    schema = pa.DataFrameSchema(columns, checks=[c for col, c in compiled.fallback if col is None])
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        _refuse_table_cases(cases, batch)
        return label_failure_cases(cases)  # __row: the frame's index (a position, or the table's rowid)
    return None


def _refuse_table_cases(cases: pd.DataFrame, batch: Batch | None) -> None:
    table_cases = cases[cases["index"].isna()]
    if len(table_cases):
        first = table_cases.iloc[0]
        where = f"{batch.source}: {batch.stream.key}" if batch else "table"
        raise SourceError(f"{where} column '{first['column']}' fails {first['check']} for the whole file")


def _validate_pandera(schema: pa.DataFrameSchema, frame: pd.DataFrame, batch: Batch,
                      found: pd.DataFrame | None = None):
    cases = None
    try:
        valid = schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    if cases is None and (found is None or not len(found)):
        return valid, pd.DataFrame(), {}
    if cases is not None:
        uncoercible = _uncoercible_rows(cases)
        if len(uncoercible) and cases["index"].isna().any():
            # a column still holding text where a number belongs cannot be range-checked as a whole (a retyped
            # column): its values that do not coerce are quarantined, and the rows that do are judged on their own
            mine = [label_failure_cases(cases[cases["index"].isin(uncoercible)])]
            rest_found = None
            if found is not None and len(found):
                mine.append(found[found[ROW].isin(uncoercible)])
                rest_found = found[~found[ROW].isin(uncoercible)]
            bad, by_check = _labelled(frame, pd.concat(mine, ignore_index=True))
            valid, rest, rest_by_check = _validate_pandera(schema, frame.drop(index=uncoercible), batch, rest_found)
            for label, count in rest_by_check.items():
                by_check[label] = by_check.get(label, 0) + count
            return valid, (pd.concat([bad, rest]).sort_index() if len(rest) else bad), by_check
    labelled = found if found is not None else pd.DataFrame({ROW: [], "label": []})
    if cases is not None:
        _refuse_table_cases(cases, batch)
        labelled = pd.concat([label_failure_cases(cases), labelled], ignore_index=True)
    bad, by_check = _labelled(frame, labelled)
    try:
        valid = schema.validate(frame.drop(index=bad.index), lazy=True)
    except pa.errors.SchemaErrors as err:  # pragma: no cover - a contract that fails its own clean rows
        raise SourceError(f"{batch.source}: {batch.stream.key} fails its contract after quarantine: "
                          f"{err.failure_cases.iloc[0]['check']}") from err
    return valid, bad, by_check


def _uncoercible_rows(cases: pd.DataFrame) -> list:
    """Index labels of the rows holding a value that does not coerce to its contract type."""
    hit = cases[cases["index"].notna() & cases["check"].astype(str).str.startswith("coerce_dtype")]
    return list(pd.unique(hit["index"]))


def _labelled(frame: pd.DataFrame, labelled: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The failing rows of ``frame`` with their ``_reasons``, and failures per label."""
    reasons = labelled.groupby(ROW)["label"].agg(lambda s: "; ".join(sorted(set(s))))
    by_check = {str(k): int(v) for k, v in labelled["label"].value_counts().to_dict().items()}
    return frame.loc[reasons.index].assign(_reasons=reasons), by_check


def _quarantine_rows(batch: Batch, bad: pd.DataFrame) -> pd.DataFrame:
    rows = []
    if len(bad):
        records = bad.drop(columns="_reasons").astype("object").where(bad.drop(columns="_reasons").notna(), None)
        for idx, rec, why in zip(bad.index, records.to_dict("records"), bad["_reasons"]):
            rows.append({"source_row": int(idx) + 1, "reasons": why, "record": json.dumps(rec, default=str)})
    for rej in batch.rejected:
        rows.append({"source_row": rej.source_row, "reasons": rej.reason, "record": json.dumps({"raw": rej.raw})})
    return pd.DataFrame(rows, columns=["source_row", "reasons", "record"])


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", re.sub(r"__c$", "", name.lower()))
