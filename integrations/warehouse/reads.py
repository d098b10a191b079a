"""Named reads of Steward's own tables, for the run report and the pre-launch audit.

``flows/`` orchestrates and holds no SQL: what the report shows and what a launch check judges is read here, with
every value a bound parameter and every identifier checked before it reaches SQL. The report is the run explaining
itself from the ledgers it wrote, so these read ledgers and aggregated marts only, never a raw table; the quarantine
read returns counts and reasons and never the ``record`` column, which holds raw customer data.
"""

from __future__ import annotations

import pandas as pd

from ..errors import WarehouseError
from .connection import Warehouse

__all__ = ["run_rows", "run_findings", "run_batches", "run_refusals", "run_quarantine_reasons", "run_audit",
           "paused_campaigns", "latest_completed_run", "launch_mart"]

_FINDINGS_SQL = """
select check_id, family, severity, subject_type, subject, metric, observed, threshold, evidence, explanation,
       sample_query, owner, action, first_seen_at, last_seen_at
from ledger.findings where run_id = ?"""
_BATCHES_SQL = """
select integration, platform, entity, source, rows_read, rows_loaded, rows_quarantined, drift, loaded_at
from ledger.batches where run_id = ? order by integration, entity, loaded_at"""
_REFUSALS_SQL = """
select integration, platform, entity, kind, reason, rows_refused, drift, refused_at
from ledger.schema_refusals where run_id = ? order by integration, entity, refused_at"""
# Only counts leave this query: the record column holds raw customer data and is deliberately never selected.
_QUARANTINE_SQL = """
with reasons as (
    select q.integration, q.entity, trim(unnest(string_split(coalesce(q.reasons, 'unspecified'), ';'))) as reason
    from ledger.quarantine q join ledger.batches b on b.batch_id = q.batch_id
    where b.run_id = ?)
select integration, entity, reason, count(*) as row_count
from reasons where reason <> '' group by all order by integration, entity, row_count desc, reason"""
_AUDIT_SQL = """
select logged_at, check_id, action, target, decided_by, reason, outcome
from ledger.audit_log where run_id = ? order by seq"""
_PAUSED_SQL = """
select integration, campaign_id, reason, changed_at
from ledger.campaign_controls where state = 'paused' order by changed_at, integration, campaign_id"""


def run_rows(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """The run's row in ``ledger.runs`` (empty when there is no such run)."""
    return wh.query_df("select * from ledger.runs where run_id = ?", [run_id])


def run_findings(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """The run's findings, as the report lists them."""
    return wh.query_df(_FINDINGS_SQL, [run_id])


def run_batches(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """The batches the run landed, with their row counts and drift."""
    return wh.query_df(_BATCHES_SQL, [run_id])


def run_refusals(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """The batches the run refused (breaking schema drift, unreadable content)."""
    return wh.query_df(_REFUSALS_SQL, [run_id])


def run_quarantine_reasons(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """Quarantined rows of the run's batches counted per integration, entity and reason; never a record."""
    return wh.query_df(_QUARANTINE_SQL, [run_id])


def run_audit(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """The run's rows of the audit log, in the order they were written."""
    return wh.query_df(_AUDIT_SQL, [run_id])


def paused_campaigns(wh: Warehouse) -> pd.DataFrame:
    """Every campaign Steward holds paused now, whichever run paused it."""
    return wh.query_df(_PAUSED_SQL)


def latest_completed_run(wh: Warehouse) -> str | None:
    """The id of the newest run that completed, or None when none has."""
    rows = wh.query_df("select run_id from ledger.runs where status = 'completed' order by started_at desc limit 1")
    return None if rows.empty else str(rows.iloc[0, 0])


def launch_mart(wh: Warehouse, name: str) -> pd.DataFrame:
    """One launch mart (``launch.<name>``) as a frame: a pre-launch check judges these, as governance checks judge
    ``governance`` marts. The name becomes an identifier, so it is checked first, as ``Warehouse.mart`` does."""
    if not name.replace("_", "").isalnum():
        raise WarehouseError(f"{wh.path}: '{name}' is not a launch mart name")
    return wh.query_df(f"select * from launch.{name}")
