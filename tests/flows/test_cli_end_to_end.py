"""The README's main job, run as a newcomer runs it: the `steward` command in a fresh process.

The injected demo must report every planted problem and pause the over-optimised campaign; the clean demo must
report no warn or critical finding at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from governed import CLEAN_DEMO, INJECTED_DEMO, NEWCOMER, cli_demo_copy, steward_process as steward
from steward.integrations.demo.injections import EXPECTED_CHECKS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def injected(tmp_path_factory):
    """The README's first command exactly as a newcomer runs it: no Prefect server anywhere, so the run starts its
    own temporary one (the other tests here share the session's server, ``prefect_api``), and dbt parses the
    project as on a fresh machine (the other `steward` processes of the suite take the session's parse,
    tests/dbt_parses). Run once per session (tests/governed.py ``cli_demo_copy``): test_prelaunch_audit.py audits
    launches on the warehouse it leaves."""
    demo = cli_demo_copy(tmp_path_factory, "demo", INJECTED_DEMO, NEWCOMER)
    return demo.cwd, demo


def test_injected_demo_reports_every_planted_problem(injected):
    cwd, proc = injected
    assert proc.returncode == 1, proc.stderr  # --fail-on critical, and there are critical findings
    result = json.loads(proc.stdout)
    alerting = {f["check_id"] for f in result["findings"] if f["severity"] in ("warn", "critical")}
    expected = {check for checks in EXPECTED_CHECKS.values() for check in checks}
    assert alerting == expected
    by_check = {f["check_id"]: f for f in result["findings"]}
    assert by_check["bias.selection_rate_disparity"]["subject"] == "lead_scoring: age_band=55-64"
    assert by_check["data_quality.schema_drift"]["subject"] == "salesforce/leads"
    assert by_check["integration_health.stale_source"]["subject"] == "cdp"
    assert result["counts"]["critical"] >= 6 and result["status"] == "completed"
    for f in result["findings"]:
        assert {"check_id", "family", "severity", "subject", "metric", "observed", "threshold"} <= set(f)


def test_injected_demo_pauses_the_over_optimised_campaign_and_audits_it(injected):
    cwd, proc = injected
    result = json.loads(proc.stdout)
    # besides the over-optimised campaign, policy pauses the misfiring send (anomaly), the reminder automation
    # that pushed people past the weekly contact cap, and the ad campaign still spending after its CRM end
    pauses = {(a["check_id"], a["target"]): (a["action"], a["outcome"], a["decided_by"]) for a in result["actions"]}
    assert pauses == {(check, target): ("pause", "paused", f"policy:{check}") for check, target in [
        ("metric_balance.kpi_up_guardrail_down", "hubspot:700003"), ("anomaly.send_volume_spike", "hubspot:700002"),
        ("metric_balance.contact_cap_breach", "hubspot:700009"),
        ("reconciliation.spend_after_crm_end", "google_ads:9000000008")]}
    assert len(result["actions"]) == 4
    with duckdb.connect(result["warehouse"], read_only=True) as con:
        assert con.execute("select state from ledger.campaign_controls where campaign_id = '700003'").fetchall() \
            == [("paused",)]
        actions = con.execute("select action, outcome from ledger.audit_log order by seq").fetchall()
    assert ("pause", "paused") in actions and ("alert", "printed") in actions
    verify = steward("audit-log", "verify", "-c", str(Path(result["warehouse"]).parent / "steward.yaml"), cwd=cwd)
    assert verify.returncode == 0 and "intact" in verify.stderr


def test_injected_demo_writes_a_report_and_prints_alerts_without_pii(injected):
    cwd, proc = injected
    result = json.loads(proc.stdout)
    report = Path(result["report"])
    assert report.is_file() and report.parent == cwd / "steward-demo" / "reports"
    html = report.read_text()
    assert "bias.selection_rate_disparity" in html and "700003" in html
    assert "@" not in proc.stderr  # alerts printed to the console carry no email address
    with duckdb.connect(result["warehouse"], read_only=True) as con:
        payloads = " ".join(r[0] for r in con.execute("select payload::varchar from ledger.alert_outbox").fetchall())
    assert payloads and "@example" not in payloads


def test_clean_demo_reports_no_warn_or_critical(tmp_path_factory, prefect_api):
    """`steward demo --clean`, once per session on the session's Prefect server (test_prelaunch_audit.py audits
    launches on the same run's warehouse)."""
    proc = cli_demo_copy(tmp_path_factory, "clean", CLEAN_DEMO, prefect_api)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["counts"]["critical"] == 0 and result["counts"]["warn"] == 0
    assert result["actions"] == [] and result["alerts"]["outcome"] == "none"
    assert Path(result["report"]).is_file()


# test_demo_posts_alerts_to_slack_when_a_token_is_set lives in test_no_pii_leaves.py, on the run it scans
