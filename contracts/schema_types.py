"""What type each column of a batch arrived as, and which columns changed type since the entity's last snapshot.

A column's *family* is what matters to the models downstream, not its exact storage type: a number column that
arrives as text (``"$1,200"``), a timestamp that arrives as text, a flag that arrives as 0/1 breaks the casts and
comparisons built on it, while ``int32`` -> ``int64``, ``int64`` -> ``float64`` or ``date`` -> ``timestamp`` are
widenings every reader takes in its stride. So the rule is:

    a column is *retyped* when both the previous snapshot and this batch have it with values, and its family
    (``FAMILIES`` below) differs.

A column that is empty (all null) on either side says nothing about its type and is never called retyped; neither
is a column whose kind has no family (``mixed`` values, categoricals). The family table is data, not branching code:
pandas' own inferred kind (``pandas.api.types.infer_dtype``, which also looks inside ``object`` columns) maps to
one family.

Text whose every value reads as a boolean, a number or an ISO timestamp (``TEXT_READS``, tried in that order) has
that family: export readers sniff such text into typed columns while platform APIs send the same field as a JSON
string, so an integration moving from its export files to its API (or back) is not a retype. One value that does
not read (``"n/a"`` among amounts) makes the column text.
"""

from __future__ import annotations

from typing import Mapping, TypedDict

import pandas as pd
from pandas.api.types import infer_dtype

__all__ = ["FAMILIES", "TEXT_READS", "ColumnType", "column_types", "detect_retyped"]

# pandas' inferred kind -> type family. Kinds in one family are interchangeable for the models; anything absent
# (mixed, categorical, period, interval, unknown-array) has no family and is not compared.
FAMILIES: dict[str, str] = {
    "boolean": "boolean",
    "integer": "number", "floating": "number", "mixed-integer-float": "number", "decimal": "number",
    "complex": "number",
    "datetime64": "temporal", "datetime": "temporal", "date": "temporal",
    "timedelta64": "duration", "timedelta": "duration", "time": "time",
    "string": "text",
    "bytes": "binary",
}
EMPTY = "empty"  # no value to judge the type by
_PROBE = 64  # values of a text column tried first (see ``_family``)


def _reads_as_boolean(values: pd.Series) -> bool:
    return bool(values.str.lower().isin(("true", "false")).all())


def _reads_as_number(values: pd.Series) -> bool:
    try:
        pd.to_numeric(values, errors="raise")
    except (ValueError, TypeError):
        return False
    return True


def _reads_as_timestamp(values: pd.Series) -> bool:
    try:
        pd.to_datetime(values, format="ISO8601", utc=True, errors="raise")
    except (ValueError, TypeError, OverflowError):
        return False
    return True


# family a text column has when every one of its values reads as it, in the order tried
TEXT_READS = (("boolean", _reads_as_boolean), ("number", _reads_as_number), ("temporal", _reads_as_timestamp))


class ColumnType(TypedDict):
    dtype: str  # as landed: the pandas/arrow dtype of the incoming frame (``float64``, ``object``, ``Int64``...)
    family: str  # one of FAMILIES' values, ``empty``, or the inferred kind when it has no family


def column_types(frame: pd.DataFrame) -> dict[str, ColumnType]:
    """Every column of ``frame`` with its dtype and family, for the schema snapshot and the retype comparison."""
    out: dict[str, ColumnType] = {}
    for name in frame.columns:
        series = frame[name]
        if isinstance(series, pd.DataFrame):  # a duplicated header: judge its first occurrence
            series = series.iloc[:, 0]
        out[str(name)] = {"dtype": str(series.dtype), "family": _family(series)}
    return out


def detect_retyped(previous: Mapping[str, Mapping[str, str]] | None,
                   current: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """``{column: {"from": family, "to": family}}`` for the columns whose family changed (see the module rule)."""
    if not previous:
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, now in current.items():
        before = previous.get(name)
        if before is None:
            continue
        was, is_ = before.get("family"), now.get("family")
        if _comparable(was) and _comparable(is_) and was != is_:
            out[name] = {"from": str(was), "to": str(is_)}
    return out


def _family(series: pd.Series) -> str:
    values = series.dropna()
    if values.empty:
        return EMPTY
    try:
        kind = infer_dtype(values, skipna=True)
    except (TypeError, ValueError):  # pragma: no cover - an extension array pandas cannot inspect
        return "unknown"
    if kind == "string":
        # every value must read, so a family the first values already refuse is out without reading them all:
        # plain text (ids, addresses, names) costs a look at ``_PROBE`` values, not three passes over the batch
        head = values.iloc[:_PROBE].astype(str).str.strip()
        reading = [(family, reads) for family, reads in TEXT_READS if reads(head)]
        if not reading or len(values) <= _PROBE:
            return reading[0][0] if reading else "text"
        values = values.astype(str).str.strip()
        return next((family for family, reads in reading if reads(values)), "text")
    return FAMILIES.get(kind, kind)


def _comparable(family: str | None) -> bool:
    return family in set(FAMILIES.values())
