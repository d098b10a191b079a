"""Finds the columns that hold personal data, by name and by content, and records them in ``ledger.pii_columns``.

Data minimisation needs the warehouse's own catalogue: which tables hold emails, phones, names, addresses or IP
addresses, whatever their columns are called. dbt cannot loop over a catalogue portably, so this step reads
``information_schema`` and, for every text column, runs one aggregate query over a sample of its non-null values with
one regex per kind: the warehouse does the scanning and only counts come back, never a value. Columns a batch could
not map (kept as JSON in ``_unmapped``) are scanned key by key, so a new column carrying emails is named as such.

Whether a table may hold PII is policy (``scope.pii_allowed_tables``), judged in the ``gov_privacy__pii_columns``
mart; this module only measures. Run it after landing and before ``dbt build``.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from typing import Sequence

import duckdb

from .warehouse import Warehouse

__all__ = ["PiiColumn", "NAME_PATTERNS", "CONTENT_PATTERNS", "name_kind", "scan_pii"]

# What a column name says it holds (lower-cased, matched at the end of the name or after a `_`/`.`), first match wins.
NAME_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"(^|[_.])e_?mail(_?address)?$"),
    "phone": re.compile(r"(^|[_.])(phone|mobile_?phone|mobile|telephone|phone_?number|fax)$"),
    "person_name": re.compile(r"(^|[_.])(first_?name|last_?name|full_?name|given_?name|family_?name|middle_?name"
                              r"|surname|contact_?name)$"),
    "ip_address": re.compile(r"(^|[_.])(ip|ip_?address|ipv4|ipv6|client_?ip|remote_?addr)$"),
    "address": re.compile(r"(^|[_.])(street|street_?address|mailing_?street|billing_?street|address(_?line_?\d)?"
                          r"|postal_?code|zip_?code|zip)$"),
}
# Pseudonymised identifiers are named like this; the consent and erasure checks judge them, not minimisation.
_PSEUDONYMOUS = re.compile(r"(hash|sha\d*|md5|token)")

# What a value looks like (RE2 syntax, run by the warehouse). Emails are found inside text (JSON, free text); the
# others must be the whole value, so ids made of digits or dotted version numbers do not pass for phones or IPs.
_HEX = "[0-9A-Fa-f]{1,4}"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
CONTENT_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": r"^\s*(\+[1-9][0-9 ().-]{6,18}[0-9]|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4})\s*$",
    "ip_address": rf"^\s*({_OCTET}\.){{3}}{_OCTET}\s*$|^\s*(({_HEX}:){{7}}{_HEX}|({_HEX}:){{1,7}}:"
                  rf"|({_HEX}:){{1,6}}(:{_HEX}){{1,6}}|:(:{_HEX}){{1,7}})\s*$",
}
_TEXT_TYPES = ("VARCHAR", "TEXT", "JSON", "CHARACTER VARYING", "STRING")
_UNMAPPED = "_unmapped"  # where landing keeps columns a contract does not know (contracts/source_checks.py)
_LANDING_COLUMNS = frozenset({"_batch_id", "_integration", "_loaded_at"})


@dataclass(frozen=True)
class PiiColumn:
    """One column that looks like personal data by its name, its content, or both; counts only."""

    table_schema: str
    table_name: str
    column_name: str
    data_type: str
    name_kind: str | None
    content_kind: str | None
    values_sampled: int
    values_matching: int  # sampled values matching content_kind's pattern


def name_kind(column: str) -> str | None:
    """The PII kind a column's name announces, if any (the part after the last ``.`` for JSON keys and dotted names)."""
    name = column.lower()
    if _PSEUDONYMOUS.search(name):
        return None
    return next((kind for kind, pattern in NAME_PATTERNS.items() if pattern.search(name)), None)


def scan_pii(wh: Warehouse, schemas: Sequence[str] = ("raw",), sample_rows: int = 1000) -> list[PiiColumn]:
    """Scan every text column of every table and view in ``schemas``; replace ``ledger.pii_columns`` with the result.

    At most ``sample_rows`` non-null values are read per column (the first ones, so repeated scans agree).
    """
    found: list[PiiColumn] = []
    with wh.connect() as con:
        for schema, table, columns in _catalogue(con, schemas):
            found += _scan_table(con, schema, table, columns, sample_rows)
        _record(con, found)
    return found


def _catalogue(con: duckdb.DuckDBPyConnection, schemas: Sequence[str]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    if not schemas:
        return []
    rows = con.execute(
        "select table_schema, table_name, column_name, upper(data_type) from information_schema.columns "
        f"where table_schema in ({', '.join('?' for _ in schemas)}) "
        "order by table_schema, table_name, ordinal_position", list(schemas)).fetchall()
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, dtype in rows:
        if column not in _LANDING_COLUMNS and dtype.startswith(_TEXT_TYPES):
            tables.setdefault((schema, table), []).append((column, dtype))
    return [(s, t, cols) for (s, t), cols in tables.items()]


def _scan_table(con: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[tuple[str, str]],
                sample_rows: int) -> list[PiiColumn]:
    """One query per table: per candidate column, how many sampled values match each content pattern."""
    relation = f"{_q(schema)}.{_q(table)}"
    candidates = []  # (reported name, SQL expression, data type)
    for column, dtype in columns:
        if column == _UNMAPPED:
            candidates += [(f"{column}.{key}", f"json_extract_string({_q(column)}, {_lit('$.' + _q(key))})", "JSON")
                           for key in _unmapped_keys(con, relation, sample_rows)]
        else:
            candidates.append((column, _q(column), dtype))
    if not candidates:
        return []
    counts = ", ".join(f"count(*) filter (where regexp_matches(v, {_lit(p)})) as {k}"
                       for k, p in CONTENT_PATTERNS.items())
    sql = " union all ".join(
        f"select {i} as i, count(v) as sampled, {counts} from (select cast({expr} as varchar) as v from {relation} "
        f"where {expr} is not null limit {int(sample_rows)}) as sample"
        for i, (_, expr, _) in enumerate(candidates))
    out = []
    for i, sampled, *matches in con.execute(sql).fetchall():
        name, _, dtype = candidates[i]
        best = max(range(len(matches)), key=lambda j: matches[j])
        content = list(CONTENT_PATTERNS)[best] if matches[best] else None
        by_name = name_kind(name.rsplit(".", 1)[-1])
        if by_name or content:
            out.append(PiiColumn(schema, table, name, dtype, by_name, content, int(sampled),
                                 int(matches[best]) if content else 0))
    return out


def _unmapped_keys(con: duckdb.DuckDBPyConnection, relation: str, sample_rows: int) -> list[str]:
    """The keys of the JSON kept in ``_unmapped``: the export's columns that no contract knows."""
    rows = con.execute(
        f"select distinct unnest(json_keys(cast({_q(_UNMAPPED)} as json))) as k from (select {_q(_UNMAPPED)} "
        f"from {relation} where {_q(_UNMAPPED)} is not null limit {int(sample_rows)}) as sample order by k").fetchall()
    return [r[0] for r in rows]


def _record(con: duckdb.DuckDBPyConnection, found: list[PiiColumn]) -> None:
    """Replace the previous scan in one transaction, so a reader never sees half of two scans."""
    now = datetime.now(timezone.utc)
    con.execute("begin")
    try:
        con.execute("delete from ledger.pii_columns")
        if found:
            con.executemany("insert into ledger.pii_columns values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [[now, *astuple(c)] for c in found])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
