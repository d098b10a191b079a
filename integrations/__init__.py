"""Everything that talks to the outside world, split by job.

    warehouse/     every SQL statement Steward runs outside dbt, and the connections they run on: the DuckDB
                   connection and writer lock, the ledger and its keyed audit log, landing and quarantine, refused
                   batches, re-validation, the alert outbox, the health history, confined launch SQL, the PII
                   scan, the bias audit's source and group counts, and the named reads of the report, the
                   pre-launch audit and the health monitor; source contracts run as SQL, and a finding's
                   reproducing query
    transform/     the bundled dbt project run in process, which raw sources each model reads (lineage), and the
                   drift gate that leaves refused sources out of the build
    sources/       one adapter per platform (pull, probe, pause, resume) and their shared HTTP code
    notify/        the only place Slack messages are built and sent
    health/        integration health signals, state and the governance run's health gate
    emulator/      local stand-ins for the platforms and Slack on 127.0.0.1
    demo/          the deterministic demo workspace generator

Judgement (thresholds, verdicts, state machines, the errors Steward raises) is ``contracts/``: this room may import
it, never ``flows/`` (tests/test_rooms.py).

The pull loop that joins sources, contracts and landing, and the stop flag it looks at between batches, are
orchestration: they live in ``flows/pull.py`` and ``flows/stopping.py``.
"""
