"""Re-judges what is already landed: every raw table against its current contract, in the warehouse.

Landing judges each batch as it arrives. A contract changes afterwards (a new enum value refused, a range
tightened, a version bump after an incident), and rows landed under the old version stay in ``raw`` unjudged by the
new one. ``revalidate`` runs the contract compiled to SQL over the raw table in place (``validate_table``: no pandas
copy of the table, only the failing rows' labels come back), one integration at a time because two orgs of one
platform share a table and their keys are unique per org. With ``quarantine=True`` the failing rows move to
``ledger.quarantine`` with the checks they broke, in one transaction per integration and table, and the rest stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from ...contracts.registry import SOURCE_CONTRACTS
from .validation import validate_table

from ..sources.streams import EXPORT_STREAMS
from .connection import Warehouse
from .landing import _LANDING

__all__ = ["Revalidation", "revalidate"]

_TABLES = {s.key: s.table for s in EXPORT_STREAMS} | {key: key.replace(".", "__") for key in SOURCE_CONTRACTS}
_RAW_COLUMNS = ("_batch_id", "_integration", "_loaded_at", "_unmapped")


@dataclass
class Revalidation:
    """One integration's rows of one raw table, judged by the contract version in force now."""

    entity: str  # "<platform>.<entity>"
    integration: str
    contract_version: str
    rows: int
    failing_rows: int
    by_check: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0


def revalidate(wh: Warehouse, entities: list[str] | None = None, quarantine: bool = False,
               progress: Callable[[str], None] | None = None) -> list[Revalidation]:
    """Every landed entity (or ``entities``), per integration; tables never landed are skipped."""
    wanted = entities or list(SOURCE_CONTRACTS)
    unknown = [e for e in wanted if e not in SOURCE_CONTRACTS]
    if unknown:
        raise KeyError(f"no source contract for '{unknown[0]}'; known: {', '.join(sorted(SOURCE_CONTRACTS))}")
    out: list[Revalidation] = []
    with _LANDING, wh.connect() as con:
        landed = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                            "where table_schema = 'raw'").fetchall()}
        for key in wanted:
            table = _TABLES[key]
            if table not in landed:
                continue
            contract = SOURCE_CONTRACTS[key]
            integrations = [r[0] for r in con.execute(
                f'select distinct _integration from raw."{table}" order by 1').fetchall()]
            for integration in integrations:
                if progress:
                    progress(f"{key} ({integration})")
                if wh.is_postgres:
                    out.append(_revalidate_pg(con, table, key, contract, integration, quarantine))
                    continue
                where = f"_integration = '{integration.replace(chr(39), chr(39) * 2)}'"
                verdict = validate_table(con, f'raw."{table}"', contract, where=where)
                result = Revalidation(key, integration, contract.version, verdict.rows, len(verdict.failing),
                                      verdict.by_check)
                if quarantine and len(verdict.failing):
                    result.quarantined = _quarantine(con, table, key, integration, contract.version, verdict.failing)
                out.append(result)
    return out


def _revalidate_pg(con, table: str, key: str, contract, integration: str, quarantine: bool) -> Revalidation:
    """The same judgement on a PostgreSQL warehouse (``revalidation_pg``: a DuckDB copy judged, the server moves)."""
    from .revalidation_pg import quarantine_pg_rows, validate_pg_table

    verdict, duck = validate_pg_table(con, table, contract, integration)
    try:
        result = Revalidation(key, integration, contract.version, verdict.rows, len(verdict.failing),
                              verdict.by_check)
        if quarantine and len(verdict.failing):
            result.quarantined = quarantine_pg_rows(con, duck, table, key, contract.version, verdict.failing,
                                                    _RAW_COLUMNS)
    finally:
        duck.close()
    return result


def _quarantine(con, table: str, key: str, integration: str, version: str, failing) -> int:
    """Move the failing rows to ``ledger.quarantine`` (labelled like landing's) and out of ``raw``, atomically."""
    now = datetime.now(timezone.utc)
    columns = [r[0] for r in con.execute("select column_name from information_schema.columns "
                                         "where table_schema = 'raw' and table_name = ? order by ordinal_position",
                                         [table]).fetchall()]
    record = ", ".join(f"'{c}': t.\"{c}\"" for c in columns if c not in _RAW_COLUMNS)
    con.execute("begin")
    try:
        con.register("__failing", failing)
        con.execute(
            "insert into ledger.quarantine (batch_id, integration, entity, source, source_row, reasons, record, "
            f"quarantined_at) select t._batch_id, t._integration, ?, ?, f.__row, f.reasons, to_json({{{record}}}), ? "
            f'from raw."{table}" t join __failing f on t.rowid = f.__row',
            [key.split(".", 1)[1], f"raw.{table} re-validated by contract {key} {version}", now])
        moved = con.execute(f'delete from raw."{table}" where rowid in (select __row from __failing)').fetchone()[0]
        con.unregister("__failing")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return int(moved)
