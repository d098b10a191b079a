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

Nothing here runs a query: ``conform`` readies a batch, ``integrations/warehouse/validation.py`` runs the checks in DuckDB
(``check_batch``, ``validate_table``), and ``split`` turns the judged rows into the verdict. pandera itself judges
only a batch whose values do not coerce (``validate_pandera``) and any check SQL cannot express
(``fallback_labels``).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd
import pandera.pandas as pa

from .batch import Batch
from .errors import BreakingDrift, SourceError
from .registry import SourceContract, contract_for
from .schema_types import ColumnType, column_types, detect_retyped
from .timestamps import apply_zone_rule, timestamp_columns

__all__ = ["SourceVerdict", "TableVerdict", "Conformed", "ColumnPlan", "conform", "plan_columns", "split",
           "detect_drift", "coerce", "fallback_labels", "validate_pandera", "label_failure_cases",
           "quarantine_rows", "ROW", "drifted_column_count"]

ROW = "__row"  # the row-number column failures are keyed by: a position in the batch, or a table's rowid


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


@dataclass
class Conformed:
    """A batch conformed to its contract, ready to be judged: ``frame`` holds the values as the source sent them,
    ``instants`` the same rows with timestamps read under the zone rule, ``zone_labels`` the (__row, label) failures
    the zone rule found."""

    contract: SourceContract
    schema: pa.DataFrameSchema
    frame: pd.DataFrame
    instants: pd.DataFrame
    zone_labels: pd.DataFrame
    drift: dict | None
    unmapped: pd.Series
    types: dict[str, ColumnType]


def conform(batch: Batch, previous_types: Mapping[str, Mapping[str, str]] | None = None) -> Conformed:
    """Conform ``batch`` to its contract; ``previous_types`` (the entity's last snapshot) reveals retyped columns.

    Raises ``BreakingDrift`` when the batch cannot be landed as its entity at all.
    """
    contract, expected, present, types, drift = _columns_judged(batch, previous_types)
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
    return Conformed(contract, schema, frame, instants, zone_labels, drift, unmapped, types)


def _columns_judged(batch: Batch, previous_types: Mapping[str, Mapping[str, str]] | None):
    """The batch's columns against its contract: (contract, expected, present, types, drift). The frame path
    (``conform``) and the staged path (``plan_columns``) judge drift the same way, here. Raises ``BreakingDrift``."""
    contract = contract_for(batch.stream.key)
    expected, required = contract.columns(), contract.required_columns()
    present = [str(c) for c in batch.frame.columns]
    types = column_types(batch.frame)
    drift = _with_retyped(detect_drift(expected, present, contract.optional_columns()),
                          detect_retyped(previous_types, types))
    _refuse_unrecognisable(batch, contract, required, present, drift)
    return contract, expected, present, types, drift


@dataclass(frozen=True)
class ColumnPlan:
    """How a staged batch (a whole export file judged in SQL) maps onto its contract: the contract's columns in
    order (those it lacks are optional, and land as null; ``renamed`` ones are read from the column the drift paired
    them with), and the columns it does not know (kept in ``_unmapped``, a renamed one too)."""

    contract: SourceContract
    schema: pa.DataFrameSchema
    expected: list[str]
    present: list[str]
    extras: list[str]
    drift: dict | None
    types: dict[str, ColumnType]
    renamed: dict[str, str] = field(default_factory=dict)


def plan_columns(batch: Batch, previous_types: Mapping[str, Mapping[str, str]] | None = None) -> ColumnPlan | None:
    """``conform`` for the columns alone: the drift judged on ``batch.frame`` (a staged file's first rows, which is
    what the batch path judges first). None when the drift needs the row-level conform (a required column missing
    with no rename to pair it with, a retyped column): the file then takes the batch path. Raises ``BreakingDrift`` as ``conform``
    does."""
    contract, expected, present, types, drift = _columns_judged(batch, previous_types)
    renamed = {old: new for old, new in ((drift or {}).get("renamed") or {}).items() if old not in present}
    lost = [c for c in (drift or {}).get("missing", []) if c not in renamed]
    if lost or (drift or {}).get("retyped") or len(set(present)) < len(present):
        return None
    schema = contract.schema()
    for col in [c for c in expected if c not in present and c not in renamed]:
        schema = schema.update_column(col, nullable=True)
    return ColumnPlan(contract, schema, expected, present, list((drift or {}).get("added", [])), drift, types,
                      renamed)


def split(batch: Batch, conformed: Conformed, valid: pd.DataFrame, bad: pd.DataFrame,
          by_check: dict[str, int]) -> SourceVerdict:
    """The verdict once the checks have judged the rows (``valid``; ``bad`` with ``_reasons``): a retype that
    leaves no row valid refuses the batch; failing rows are quarantined as the source sent them."""
    c = conformed
    _refuse_fatal_retype(batch, c.drift, len(c.frame), len(valid))
    valid = valid.assign(_unmapped=c.unmapped.loc[valid.index].astype("string"))
    if len(bad):  # the quarantine keeps each value as the source sent it, not as it was read
        bad = c.frame.loc[bad.index].assign(_reasons=bad["_reasons"])
    quarantined = _quarantine_rows(batch, bad)
    return SourceVerdict(valid.reset_index(drop=True), quarantined, c.drift, c.contract, by_check, c.types)


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


def coerce(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame | None:
    """The frame in its contract's types, or None when some value does not coerce."""
    types = pa.DataFrameSchema({n: pa.Column(c.dtype, nullable=True, coerce=True) for n, c in schema.columns.items()})
    try:
        return types.validate(frame, lazy=True)
    except pa.errors.SchemaErrors:
        return None


def fallback_labels(fallback: list[tuple[str | None, pa.Check]], frame: pd.DataFrame,
                    batch: Batch | None) -> pd.DataFrame | None:
    """The checks SQL could not express (``fallback``: column or None, check), judged by pandera over the (already
    coerced) frame."""
    if not fallback:
        return None
    columns = {n: pa.Column(checks=[c for col, c in fallback if col == n], nullable=True)
               for n in {col for col, _ in fallback if col is not None}}
    schema = pa.DataFrameSchema(columns, checks=[c for col, c in fallback if col is None])
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


def validate_pandera(schema: pa.DataFrameSchema, frame: pd.DataFrame, batch: Batch,
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
            valid, rest, rest_by_check = validate_pandera(schema, frame.drop(index=uncoercible), batch, rest_found)
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


def label_failure_cases(cases: pd.DataFrame) -> pd.DataFrame:
    """pandera failure cases as (__row, label) rows, labelled as ``check_batch`` has always labelled them."""
    rows = cases[cases["index"].notna()]
    labels = rows.apply(lambda r: f"{r['column'] or 'row'}: {r['check']}", axis=1) if len(rows) else []
    return pd.DataFrame({ROW: rows["index"].astype(int).to_numpy(), "label": list(labels)})


def _uncoercible_rows(cases: pd.DataFrame) -> list:
    """Index labels of the rows holding a value that does not coerce to its contract type."""
    hit = cases[cases["index"].notna() & cases["check"].astype(str).str.startswith("coerce_dtype")]
    return list(pd.unique(hit["index"]))


def _labelled(frame: pd.DataFrame, labelled: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The failing rows of ``frame`` with their ``_reasons``, and failures per label."""
    reasons = labelled.groupby(ROW)["label"].agg(lambda s: "; ".join(sorted(set(s))))
    by_check = {str(k): int(v) for k, v in labelled["label"].value_counts().to_dict().items()}
    return frame.loc[reasons.index].assign(_reasons=reasons), by_check


def quarantine_rows(batch: Batch, bad: pd.DataFrame) -> pd.DataFrame:
    """(source_row, reasons, record) for ``bad`` (the rows as the source sent them, indexed by position, with
    ``_reasons``) and the records the reader set aside."""
    return _quarantine_rows(batch, bad)


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


def drifted_column_count(drift: dict | None) -> int:
    """Drifted columns of one batch: missing + added + retyped. A rename is already one missing and one added column
    (``renamed`` only pairs them), so it is not counted again. The landing mart's ``drifted_columns`` counts the
    same way, so the health monitor and the schema-drift finding give one number."""
    d = drift or {}
    return len(d.get("missing") or []) + len(d.get("added") or []) + len(d.get("retyped") or {})
