"""Named reads of Steward's own tables, for the run report, the pre-launch audit and the health monitor.

``flows/`` orchestrates and holds no SQL: what the report shows and what a launch check judges is read here, with
every value a bound parameter and every identifier checked before it reaches SQL. The report is the run explaining
itself from the ledgers it wrote, so these read ledgers and aggregated marts only, never a raw table; the quarantine
read returns counts and reasons and never the ``record`` column, which holds raw customer data. The health
monitor's reads take an open connection, because one probe asks several small questions on one connection.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd

from ...contracts.campaigns import CampaignRef
from ...contracts.errors import WarehouseError
from .connection import Warehouse

__all__ = ["run_rows", "run_findings", "run_batches", "run_refusals", "run_quarantine_reasons", "run_audit",
           "paused_campaigns", "latest_completed_run", "launch_mart", "last_loaded_at", "run_outcomes", "rows_per_day",
           "latest_drift", "latest_snapshots", "last_finished_run", "reconciliation_counts", "reconciliation_baseline",
           "campaign_refs", "landed_integrations", "health_findings"]

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


# The governance marts that compare one system with another, and how each yields (comparisons, agreements) for one
# platform. A platform a mart does not mention contributes nothing; a mart not built yet is skipped.
_RECONCILIATION_SQL = {
    "gov_reconciliation__consent": """
        select sum(people_compared), sum(people_compared - mismatches)
        from governance.gov_reconciliation__consent where list_contains(string_split(systems, '~'), $platform)""",
    "gov_reconciliation__spend": """
        select count(*), count(*) filter (where abs(coalesce(spend_diff_pct, 0)) <= $tolerance)
        from governance.gov_reconciliation__spend where $platform in ('google_ads', 'salesforce')""",
}


def last_loaded_at(con: Any, integration: str) -> datetime | None:
    """When the integration's newest batch landed (None: nothing landed yet)."""
    last = con.execute("select max(loaded_at) from ledger.batches where integration = ?", [integration]).fetchone()
    return last[0] if last else None


def run_outcomes(con: Any, integration: str, since: datetime) -> tuple[int, int]:
    """(runs that completed or failed since ``since``, failed runs whose error names the integration)."""
    row = con.execute(
        "select count(*), count(*) filter (where status = 'failed' and "
        "  coalesce(json_extract_string(summary, '$.error'), '') like ?) "
        "from ledger.runs where started_at >= ? and status in ('completed', 'failed')",
        [f"%'{integration}'%", since]).fetchone()
    return int(row[0] or 0), int(row[1] or 0)


def rows_per_day(con: Any, integration: str, first: date, last: date) -> dict[date, int]:
    """Rows read per UTC day from ``first`` to ``last``, only days that had a sync."""
    rows = con.execute(
        "select cast(timezone('UTC', loaded_at) as date) as day, sum(rows_read) from ledger.batches "
        "where integration = ? and cast(timezone('UTC', loaded_at) as date) between ? and ? group by day",
        [integration, first, last]).fetchall()
    return {r[0]: int(r[1] or 0) for r in rows}


def latest_drift(con: Any, integration: str) -> list[tuple[str, Any]]:
    """(entity, drift) of each entity's newest batch."""
    return con.execute(
        "select entity, drift from ledger.batches where integration = ? "
        "qualify row_number() over (partition by entity order by loaded_at desc, batch_id desc) = 1",
        [integration]).fetchall()


def latest_snapshots(con: Any, integration: str) -> list[tuple[str, Any]]:
    """(entity, columns) of each entity's two newest schema snapshots, newest first."""
    return con.execute(
        "select entity, columns from ledger.schema_snapshots where integration = ? "
        "qualify row_number() over (partition by entity order by taken_at desc, batch_id desc) <= 2 "
        "order by entity, taken_at desc", [integration]).fetchall()


def last_finished_run(con: Any) -> str | None:
    """The completed governance run that finished last (None: none has)."""
    run = con.execute("select run_id from ledger.runs where status = 'completed' "
                      "order by finished_at desc limit 1").fetchone()
    return None if run is None else run[0]


def reconciliation_counts(con: Any, platform: str, tolerance: float) -> tuple[int, int]:
    """(comparisons, agreements) for one platform over the cross-system marts already built."""
    compared = agreed = 0
    for mart, sql in _RECONCILIATION_SQL.items():
        exists = con.execute("select count(*) from information_schema.tables where table_schema = 'governance' "
                             "and table_name = ?", [mart]).fetchone()[0]
        if not exists:
            continue
        params = {"platform": platform, "tolerance": tolerance}
        row = con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchone()
        compared, agreed = compared + int(row[0] or 0), agreed + int(row[1] or 0)
    return compared, agreed


def reconciliation_baseline(con: Any, integration: str, run_id: str, runs: int) -> float | None:
    """The median agreement rate the health ledger recorded for the integration over the ``runs`` governance runs
    before ``run_id`` (one rate per run: its last probe's)."""
    earlier = con.execute(
        "select median(rate) from (select reconciliation_run_id, arg_max(reconciliation_rate, seq) as rate "
        "  from ledger.integration_health where integration = ? and reconciliation_rate is not null "
        "  and reconciliation_run_id <> ? group by reconciliation_run_id order by max(seq) desc limit ?)",
        [integration, run_id, runs]).fetchone()
    return None if not earlier or earlier[0] is None else float(earlier[0])


# The campaign directory dbt builds (int_campaigns__directory); portable SQL, one row per platform and id.
_CAMPAIGNS_SQL = """
select platform, campaign_id, campaign_name from staging.int_campaigns__directory order by platform, campaign_id"""


def campaign_refs(wh: Warehouse) -> dict[str, CampaignRef]:
    """Every campaign the landed data names, by its one id form (``platform:id``), with its name. Empty before the
    first run has built the directory: callers then show the key alone."""
    if not wh.table_exists("staging", "int_campaigns__directory"):
        return {}
    with wh.connect(read_only=True) as con:
        rows = con.execute(_CAMPAIGNS_SQL).fetchall()
    refs = (CampaignRef(str(p), str(c), None if n is None else str(n)) for p, c, n in rows)
    return {ref.key: ref for ref in refs}


def landed_integrations(wh: Warehouse) -> dict[str, str]:
    """Every integration that has landed a batch, with its platform."""
    rows = wh.query_df("select integration, max(platform) as platform from ledger.batches group by integration")
    return {str(r.integration): str(r.platform) for r in rows.itertuples()}


def health_findings(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """The run's integration-health findings (subject is the platform or integration they judge)."""
    return wh.query_df("select subject, severity, check_id, explanation from ledger.findings "
                       "where run_id = ? and family = 'integration_health' order by check_id, subject", [run_id])
