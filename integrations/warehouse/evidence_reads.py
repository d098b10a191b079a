"""The evidence pack's reads: Steward's ledgers over a window of time, and the governance marts' figures.

An auditor's pack may leave the company, so these reads return what was decided and counted, never a customer: the
quarantine ledger is read as counts (its ``record`` column holds raw data), incidents without their ``finding`` JSON,
findings without their evidence and sample SQL, and of each mart only the named count and rate columns (never its
``example_*`` id lists). Every value is a bound ``?`` parameter; the SQL is the portable subset that runs on DuckDB and
PostgreSQL alike (``row_number()`` in a subquery, ``count(*) filter``, no DuckDB-only functions).
"""

from __future__ import annotations

from datetime import datetime
import pandas as pd

from .connection import Warehouse

__all__ = ["window_runs", "window_skipped_checks", "window_check_findings", "window_findings", "window_audit", "window_controls",
           "window_incidents", "window_landing", "mart_figures", "MART_FIGURES"]

# evidence kind -> the marts that show it, each with the columns the pack copies: counts, rates and labels only.
MART_FIGURES: dict[str, dict[str, tuple[str, ...]]] = {
    "consent": {
        "gov_consent__channel_purpose": ("channel", "purpose", "system", "people_contacted", "people_known",
                                         "people_without_consent", "contacts_without_consent"),
        "gov_consent__sends_after_opt_out": ("platform", "people_opted_out", "people_sent_after_opt_out",
                                             "sends_after_opt_out", "campaigns_affected"),
    },
    "erasure": {
        "gov_privacy__erasure": ("system", "requests_completed", "people_still_present", "contacts_after_request",
                                 "people_not_erased"),
        "gov_privacy__deletion_propagation": ("deleted_in", "still_in", "people_deleted", "people_still_present",
                                              "contacts_after_deletion", "people_not_deleted"),
    },
    "bias": {
        "gov_bias__selection_rates": ("model_name", "dimension", "group_value", "polarity", "decision", "n",
                                      "positives", "selection_rate", "ci_low", "ci_high", "reference_group",
                                      "reference_rate", "disparity_ratio", "adverse_ratio", "z_vs_reference"),
    },
    "oversight": {
        "gov_oversight__unreviewed": ("model_name", "model_version", "decisions", "executed", "requiring_review",
                                      "unreviewed_requiring_review", "reviewed_share_requiring_review"),
        "gov_oversight__review_coverage": ("model_name", "model_version", "review_rule", "requiring_review",
                                           "reviewed", "unreviewed_executed", "coverage"),
        "gov_oversight__review_latency": ("model_name", "model_version", "reviewed", "latency_median_hours",
                                          "latency_p90_hours", "latency_max_hours"),
    },
    "transparency": {
        "gov_transparency__reasons": ("model_name", "model_version", "decisions", "without_reason",
                                      "share_with_reason"),
    },
    "retention": {
        "gov_privacy__retention": ("entity", "retention_days", "records", "records_past_retention",
                                   "share_past_retention", "oldest_record_at", "days_past_retention"),
    },
    "pii_inventory": {
        "gov_privacy__pii_columns": ("table_ref", "pii_columns", "pii_kinds", "columns_found", "is_allowed",
                                     "pii_columns_not_allowed", "scanned_at"),
    },
}

_IN_WINDOW = "select run_id from ledger.runs where started_at >= ? and started_at < ?"

_FINDINGS_SQL = f"""
select fingerprint, check_id, family, severity, subject_type, subject, metric, observed, threshold, explanation,
       owner, action, first_seen_at, last_seen_at, runs_seen, run_id as last_run_id
from (
    select f.*, row_number() over (partition by f.fingerprint order by r.started_at desc) as latest,
           count(*) over (partition by f.fingerprint) as runs_seen
    from ledger.findings f join ledger.runs r on r.run_id = f.run_id
    where f.run_id in ({_IN_WINDOW})
) seen
where latest = 1
order by first_seen_at, check_id, subject"""

_INCIDENTS_SQL = """
select fingerprint, check_id, subject, severity, status, opened_at, last_seen_at, resolved_at, last_run_id
from ledger.incidents
where opened_at < ? and (resolved_at is null or resolved_at >= ?)
order by opened_at, fingerprint"""

_LANDING_SQL = f"""
select integration, entity, count(*) as batches, coalesce(sum(rows_read), 0) as rows_read,
       coalesce(sum(rows_loaded), 0) as rows_loaded, coalesce(sum(rows_quarantined), 0) as rows_quarantined
from ledger.batches where run_id in ({_IN_WINDOW})
group by integration, entity order by integration, entity"""

_REFUSED_SQL = f"""
select integration, entity, count(*) as batches_refused, coalesce(sum(rows_refused), 0) as rows_refused
from ledger.schema_refusals where run_id in ({_IN_WINDOW})
group by integration, entity"""


def window_runs(wh: Warehouse, since: datetime, until: datetime) -> pd.DataFrame:
    """Runs started in ``[since, until)``, oldest first (every kind: governance, demo, scheduled, pre-launch)."""
    return wh.query_df("select run_id, kind, status, started_at, finished_at, summary from ledger.runs "
                       "where started_at >= ? and started_at < ? order by started_at, run_id", [since, until])


def window_skipped_checks(wh: Warehouse, since: datetime, until: datetime) -> pd.DataFrame:
    """The checks each run in the window recorded as not evaluated (source down, drifted), with why."""
    return wh.query_df(f"select run_id, check_id, reason from ledger.health_gate where run_id in ({_IN_WINDOW}) "
                       "order by run_id, check_id", [since, until])


def window_check_findings(wh: Warehouse, since: datetime, until: datetime) -> pd.DataFrame:
    """Findings per run and check in the window (a check that passed has no row)."""
    return wh.query_df(f"select run_id, check_id, count(*) as findings from ledger.findings where run_id in "
                       f"({_IN_WINDOW}) group by run_id, check_id order by run_id, check_id", [since, until])


def window_findings(wh: Warehouse, since: datetime, until: datetime) -> pd.DataFrame:
    """One row per finding (fingerprint) seen by a run in the window, as the latest such run saw it, with how many
    of the window's runs saw it; never its evidence or sample SQL."""
    return wh.query_df(_FINDINGS_SQL, [since, until])


def window_audit(wh: Warehouse, since: datetime, until: datetime) -> pd.DataFrame:
    """Audit log rows written in the window, in chain order, with their hashes."""
    return wh.query_df("select seq, logged_at, run_id, fingerprint, check_id, action, target, decided_by, reason, "
                       "outcome, prev_hash, hash, key_id from ledger.audit_log where logged_at >= ? and logged_at < ? "
                       "order by seq", [since, until])


def window_controls(wh: Warehouse, since: datetime, until: datetime) -> pd.DataFrame:
    """Campaigns whose paused/resumed state Steward last changed in the window (the ledger keeps the latest state)."""
    return wh.query_df("select integration, campaign_id, state, reason, changed_at from ledger.campaign_controls "
                       "where changed_at >= ? and changed_at < ? order by changed_at, integration, campaign_id",
                       [since, until])


def window_incidents(wh: Warehouse, since: datetime, until: datetime) -> pd.DataFrame:
    """Incidents open at some moment of the window: opened before its end, not resolved before its start."""
    return wh.query_df(_INCIDENTS_SQL, [until, since])


def window_landing(wh: Warehouse, since: datetime, until: datetime) -> pd.DataFrame:
    """Per integration and entity: batches landed by the window's runs, rows read, loaded and quarantined (counts,
    never a quarantined record), and batches refused at landing."""
    landed = wh.query_df(_LANDING_SQL, [since, until])
    refused = wh.query_df(_REFUSED_SQL, [since, until])
    out = landed.merge(refused, on=["integration", "entity"], how="outer")
    for column in ("batches", "rows_read", "rows_loaded", "rows_quarantined", "batches_refused", "rows_refused"):
        out[column] = out[column].fillna(0).astype("int64")
    return out.sort_values(["integration", "entity"]).reset_index(drop=True)


def mart_figures(wh: Warehouse, kind: str) -> dict[str, pd.DataFrame]:
    """The named columns of each mart that shows ``kind`` (MART_FIGURES), as the latest build left them; a mart the
    warehouse does not hold is left out. Identifiers come from the constant above, never from input."""
    out: dict[str, pd.DataFrame] = {}
    for mart, columns in MART_FIGURES[kind].items():
        if wh.table_exists("governance", mart):
            out[mart] = wh.query_df(f"select {', '.join(columns)} from governance.{mart} "
                                    f"order by {', '.join(columns[:2])}")
    return out
