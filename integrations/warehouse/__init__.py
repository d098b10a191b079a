"""The warehouse layer: every SQL statement Steward runs outside dbt, and the connections they run on.

    connection     ``Warehouse``: short-lived connections (DuckDB or PostgreSQL), the ledger's DDL, the writer lock
    pg, dialect    PostgreSQL: a connection with DuckDB's methods, statements transpiled once (sqlglot + overrides)
    landing_pg     landing on a server: DuckDB shapes the batch, COPY carries it, one transaction per batch
    move           a DuckDB warehouse's raw and ledger moved to PostgreSQL
    writer_lock    one writer per warehouse (flock on a file, an advisory lock on a server) across processes
    ledger         runs, findings, launch audits, campaign controls, the checks a run did not evaluate, and the
                   keyed, hash-chained audit log
    landing        one checked batch into ``raw`` with its quarantine, batch record, schema snapshot and watermark
    refusals       batches refused for breaking schema drift or unreadable content
    revalidation   landed rows re-judged by the current contract, failing rows moved to quarantine
    outbox         Slack messages written as intent before they are sent, and what Slack answered
    health_store   ``ledger.integration_health``: one row per probe, written with its Slack message
    reads          named reads for the report, the pre-launch audit and the health monitor's ledger signals
    confined_sql   a launch spec's audience query, parsed, confined and run on a locked connection
    confined_pg    the same query on a PostgreSQL warehouse: parsed again, planned, run in a read-only transaction
    pii_scan       which columns hold personal data, measured in the warehouse (counts only)
    audit_source   any table or file a bias audit points at, opened as one DuckDB view
    group_counts   the bias audit's per-group counts, computed in SQL over that view
    validation     a batch or a landed table checked against its source contract, in DuckDB
    sql_checks     a source contract compiled to one DuckDB query (what validation runs)
    sample_queries the SQL a finding carries so a reader can reproduce it

Callers outside this package hold no SQL of their own: ``flows/`` and ``contracts/`` call these functions.
"""

from .connection import LEDGER_DDL, Warehouse, ledger_rows

__all__ = ["Warehouse", "LEDGER_DDL", "ledger_rows"]
