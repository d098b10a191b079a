"""Reads across runs for the report's top: the previous run to compare with, findings in brief, and the trend.

Portable SQL (DuckDB and PostgreSQL alike: no ``qualify``, no list or JSON functions), values bound as parameters.
Like the rest of the report's reads these touch the ledgers only, never a raw table, and every result is small:
one row per finding of two runs, one row per family per run for the last few runs.
"""

from __future__ import annotations

import pandas as pd

from .connection import Warehouse

__all__ = ["previous_completed_run", "findings_brief", "family_trend"]

# The newest completed run that started before this one: what "since the last run" compares with.
_PREVIOUS_SQL = """
select run_id from ledger.runs
where status = 'completed' and run_id <> ?
  and started_at < (select started_at from ledger.runs where run_id = ?)
order by started_at desc, run_id desc limit 1"""
_BRIEF_SQL = """
select fingerprint, check_id, family, severity, subject_type, subject, observed, threshold, owner
from ledger.findings where run_id = ?"""
# The last runs up to this one (this one included whatever its status, earlier ones only when they completed), with
# the warn and critical findings of each family. A run without such findings still gives one row (family null), so
# a clean run shows as a zero in the trend rather than as a gap.
_TREND_SQL = """
select r.run_id, r.started_at, f.family,
       count(f.fingerprint) filter (where f.severity in ('warn', 'critical')) as findings
from (select run_id, started_at from ledger.runs
      where (status = 'completed' or run_id = ?)
        and started_at <= (select started_at from ledger.runs where run_id = ?)
      order by started_at desc, run_id desc limit ?) r
left join ledger.findings f on f.run_id = r.run_id
group by r.run_id, r.started_at, f.family
order by r.started_at, r.run_id, f.family"""


def previous_completed_run(wh: Warehouse, run_id: str) -> str | None:
    """The run this one is compared with, or None for a first run."""
    rows = wh.query_df(_PREVIOUS_SQL, [run_id, run_id])
    return None if rows.empty else str(rows.iloc[0, 0])


def findings_brief(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """A run's findings with what a comparison needs (fingerprint, severity, observed, threshold) and their names."""
    return wh.query_df(_BRIEF_SQL, [run_id])


def family_trend(wh: Warehouse, run_id: str, last: int) -> pd.DataFrame:
    """Warn and critical findings per family for the last ``last`` runs up to ``run_id``, oldest first."""
    return wh.query_df(_TREND_SQL, [run_id, run_id, int(last)])

