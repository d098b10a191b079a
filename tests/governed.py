"""Test helper: govern a workspace without Prefect (land, dbt build, judge), to test the rooms, not the orchestration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from steward.contracts.finding import Finding
from steward.contracts.governance import evaluate
from steward.contracts.policy import Policy, load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import pii_scan
from steward.integrations.warehouse.landing import land_batch
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.validation import check_batch
from steward.integrations.warehouse.sample_queries import governance_sample_query

PLATFORMS = ("salesforce", "hubspot", "google_ads", "cdp", "decisions")


def land_exports(wh: Warehouse, exports: Path, run_id: str = "t") -> list:
    results = []
    for platform in PLATFORMS:
        adapter = ExportFilesAdapter(platform, platform, exports / platform, wh)
        for stream in adapter.streams():
            for batch in adapter.pull(stream.entity):
                v = check_batch(batch)
                results.append(land_batch(wh, batch, v.valid, v.quarantined, v.drift, v.contract.version, run_id,
                                          v.contract.owner))
    return results


def govern(exports: Path, work: Path, policy: Policy | None = None) -> tuple[Warehouse, list[Finding]]:
    policy = policy or load_policy()
    wh = Warehouse(work / "w.duckdb")
    land_exports(wh, exports)
    pii_scan.scan_pii(wh, policy.scope.pii_scan_schemas, policy.scope.pii_sample_rows)
    dbt_build.build(wh.path, work / "dbt", {**policy.dbt_vars(), "as_of": pd.Timestamp.now(tz="UTC").isoformat()})
    findings = evaluate(policy, lambda m: wh.query_df(f"select * from governance.{m}"), "t", governance_sample_query)
    return wh, findings


def alerting(findings: list[Finding]) -> set[str]:
    return {f.check_id for f in findings if f.severity.value in ("warn", "critical")}
