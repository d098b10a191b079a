"""Finds the columns that hold personal data, by name and by content, and records them in ``ledger.pii_columns``.

Data minimisation needs the warehouse's own catalogue: which tables hold emails, phones, names, addresses or IP
addresses, whatever their columns are called. dbt cannot loop over a catalogue portably, so this step reads
``information_schema`` and, for every text column, runs one aggregate query over a sample of its non-null values with
one regex per kind: the warehouse does the scanning and only counts come back, never a value. Columns a batch could
not map (kept as JSON in ``_unmapped``) are unnested into (key, value) pairs and counted per key in one query, so a
new column carrying emails is named as such, and an export of 10,000 unknown columns costs one bounded scan rather
than one query per column. No identifier or JSON path is built from a column's name without quoting it.

Whether a table may hold PII is policy (``scope.pii_allowed_tables``), judged in the ``gov_privacy__pii_columns``
mart; this module only measures. Run it after landing and before ``dbt build``.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from typing import Sequence

import duckdb

from .connection import Warehouse

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
_CHUNK = 256  # columns per content query of a wide table


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
    """Per candidate column (and per key of ``_unmapped``), how many sampled values match each content pattern."""
    relation = f"{_q(schema)}.{_q(table)}"
    plain = [(column, dtype) for column, dtype in columns if column != _UNMAPPED]
    measured = [row for start in range(0, len(plain), _CHUNK)
                for row in _scan_columns(con, relation, plain[start:start + _CHUNK], sample_rows)]
    if len(plain) < len(columns):
        measured += _scan_unmapped(con, relation, sample_rows)
    out = []
    for name, dtype, sampled, matches in measured:
        best = max(range(len(matches)), key=lambda j: matches[j])
        content = list(CONTENT_PATTERNS)[best] if matches[best] else None
        by_name = name_kind(name.rsplit(".", 1)[-1])
        if by_name or content:
            out.append(PiiColumn(schema, table, name, dtype, by_name, content, int(sampled),
                                 int(matches[best]) if content else 0))
    return out


def _counts(value: str) -> str:
    """One count per content pattern over ``value``, in ``CONTENT_PATTERNS`` order."""
    return ", ".join(f"count(*) filter (where regexp_matches({value}, {_lit(p)}))" for p in CONTENT_PATTERNS.values())


def _scan_columns(con: duckdb.DuckDBPyConnection, relation: str, columns: list[tuple[str, str]],
                  sample_rows: int) -> list[tuple[str, str, int, list[int]]]:
    """(column, type, values sampled, matches per pattern): the first ``sample_rows`` non-null values of each column,
    one ``union all`` branch per column. Called with at most ``_CHUNK`` columns, so a very wide table costs a
    number of small queries that grows with its width, never one query too large to plan."""
    if not columns:
        return []
    sql = " union all ".join(
        f"select {i} as i, count(v) as sampled, {_counts('v')} from (select cast({_q(column)} as varchar) as v "
        f"from {relation} where {_q(column)} is not null limit {int(sample_rows)}) as sample"
        for i, (column, _) in enumerate(columns))
    return [(columns[i][0], columns[i][1], sampled, list(matches))
            for i, sampled, *matches in con.execute(sql).fetchall()]


def _scan_unmapped(con: duckdb.DuckDBPyConnection, relation: str, sample_rows: int
                   ) -> list[tuple[str, str, int, list[int]]]:
    """The columns a batch could not map, kept as JSON in ``_unmapped``: one query whatever their number.

    The first ``sample_rows`` rows holding any are read as a map (text value per key) and unnested into (key, value)
    pairs, counted per key: a file of 10,000 unknown columns costs one scan of a bounded sample, and no JSON path is
    built from a key, so a key holding quotes, dots, brackets or ``$`` is just data. (A lateral ``json_each`` or
    ``unnest(json_keys(..))`` copies each row's whole document per key: quadratic in the width.) A key whose sampled
    values are all null is still listed (``sampled`` 0), so its name is judged; text that is not a JSON object
    yields no pairs rather than failing the scan."""
    if getattr(con, "dialect", "duckdb") == "postgres":  # the same pairs from jsonb_each_text, one sample scan
        rows = con.execute(
            f"select k, count(v) as sampled, {_counts('v')} from (select e.key as k, e.value as v from "
            f"(select cast({_q(_UNMAPPED)} as jsonb) as m from {relation} where {_q(_UNMAPPED)} is not null "
            f"limit {int(sample_rows)}) as sample cross join lateral jsonb_each_text(case when "
            "jsonb_typeof(sample.m) = 'object' then sample.m else '{}'::jsonb end) as e) as pairs "
            "group by k order by k").fetchall()
        return [(f"{_UNMAPPED}.{key}", "JSON", sampled, list(matches)) for key, sampled, *matches in rows]
    rows = con.execute(
        f"select k, count(v) as sampled, {_counts('v')} from (select unnest(map_keys(m)) as k, "
        f"unnest(map_values(m)) as v from (select try_cast(try_cast({_q(_UNMAPPED)} as json) as map(varchar, "
        f"varchar)) as m from {relation} where {_q(_UNMAPPED)} is not null limit {int(sample_rows)}) as sample) "
        "as pairs group by k order by k").fetchall()
    return [(f"{_UNMAPPED}.{key}", "JSON", sampled, list(matches)) for key, sampled, *matches in rows]


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
