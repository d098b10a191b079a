"""Bad input as a new user makes it: one line naming the file and the problem, exit 2, nothing landed is lost.

An export that no longer looks like its entity is not such an error: it is breaking schema drift, refused for that
entity alone while the run goes on, and reported as a critical finding (docs/schema-drift.md). Nor are bad records
inside one file (junk bytes, invalid UTF-8, 5000-deep JSON): they are quarantined and the rest of the file lands, or
the file is refused when nothing of it can be read (docs/integrations.md)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from cli_in_process import steward_in_process
from governed import demo_run_copy
from test_cli_end_to_end import steward as _steward

pytestmark = pytest.mark.slow


_API: dict[str, str] = {}  # PREFECT_API_URL of the session's Prefect server, once the fixture below has run


@pytest.fixture(scope="module", autouse=True)
def _api(prefect_api):
    """Every `steward run` below talks to the session's Prefect server instead of starting one of its own."""
    _API.update(prefect_api)


def steward(*args: str, cwd: Path):
    return _steward(*args, cwd=cwd, env=_API)


@pytest.fixture(scope="module")
def workspace(prefect_harness, tmp_path_factory):
    """A small demo that ran once successfully (the session's governed demo, tests/governed.py), then is copied per
    test so each can break it its own way."""
    return demo_run_copy(tmp_path_factory, "bad", scale=0.2).config.parent


@pytest.fixture
def ws(workspace, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy)
    return copy


def _raw_counts(ws: Path) -> dict[str, int]:
    with duckdb.connect(str(ws / "steward.duckdb"), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()]
        return {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in tables}


def _fails_with(ws: Path, pattern: str, *args: str) -> str:
    """``steward run`` on ``ws`` ends with one error line holding ``pattern``, exit 2, nothing landed lost. Every
    refusal here is decided before the run takes the warehouse's writer lock (the config, the policy, a missing
    export file, a warehouse folder the lock cannot make), so it is asked of the command in the pytest process
    (tests/cli_in_process.py, which fails the test if the call took a lock or started a server): the command's own
    entry point, without a process's imports (2-3 CPU s each)."""
    before = _raw_counts(ws) if (ws / "steward.duckdb").exists() else None
    command = ("run", "-c", str(ws / "steward.yaml"), *args)
    proc = steward_in_process(*command, cwd=ws, env=_API)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    # Prefect's events worker may log its shutdown after ours under load; the error is our last own line
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    last = errors[0]
    assert pattern in last, last
    assert "Traceback" not in proc.stderr
    if before is not None:
        assert _raw_counts(ws) == before  # nothing already loaded was lost (or duplicated)
    return last


def test_missing_export_file(ws):
    (ws / "exports" / "hubspot" / "subscriptions.jsonl").unlink()
    runs = _run_ids(ws)
    _fails_with(ws, "subscriptions.jsonl: export file is missing for integration 'hubspot'")
    assert _run_ids(ws) == runs  # refused before the run started: nothing half-landed, no run to mark failed


def test_corrupt_csv_is_refused_for_its_entity_and_the_run_goes_on(ws):
    before = _raw_counts(ws)
    path = ws / "exports" / "salesforce" / "contacts.csv"
    path.write_bytes(b"\x00\x01\x02garbage\xff\xfe\n\x00\x00\n")
    proc = steward("run", "-c", str(ws / "steward.yaml"), "--json", "--fail-on", "critical", cwd=ws)
    # a critical finding, so --fail-on critical exits 1 as for any other critical finding (without it: 0)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "error:" not in proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "completed"
    [refused] = [r for r in result["ingested"] if r["refused"]]
    assert (refused["integration"], refused["entity"], refused["rows_loaded"]) == ("salesforce", "contacts", 0)
    assert refused["refused"].startswith(f"{path}: does not look like a salesforce.contacts export (found ")
    [breaking] = [f for f in result["findings"] if f["check_id"] == "data_quality.breaking_schema_drift"]
    assert (breaking["subject"], breaking["severity"], breaking["family"]) == \
        ("salesforce/contacts", "critical", "data_quality")
    assert "salesforce.contacts: refused, breaking schema drift" in proc.stderr
    assert _raw_counts(ws) == before  # nothing already loaded was lost (or duplicated)
    checks = {f["check_id"] for f in result["findings"]}
    assert "bias.selection_rate_disparity" not in checks  # built on Salesforce contacts: not evaluated this run
    # sends after an opt-out weigh every system's opt-outs (a CRM opt-out counts against a custom system's sends,
    # issue #14), Salesforce's contacts among them: not evaluated this run either
    assert "consent.send_after_opt_out" not in checks
    assert "metric_balance.contact_cap_breach" in checks  # HubSpot's sends alone: judged as usual


def test_unknown_column_in_policy(ws):
    policy = ws / "policy.yaml"
    policy.write_text("checks: {}\nscope: {bias_dimensions: [age_bnd]}\n")
    cfg = yaml.safe_load((ws / "steward.yaml").read_text())
    (ws / "steward.yaml").write_text(yaml.safe_dump({**cfg, "policy": "policy.yaml"}))
    _fails_with(ws, f"{policy}: scope.bias_dimensions: Value error, unknown column 'age_bnd'")


def test_bad_policy_yaml(ws):
    (ws / "policy.yaml").write_text("checks: [oops\n")
    cfg = yaml.safe_load((ws / "steward.yaml").read_text())
    (ws / "steward.yaml").write_text(yaml.safe_dump({**cfg, "policy": "policy.yaml"}))
    _fails_with(ws, "policy.yaml: not valid YAML at line")


def test_unwritable_warehouse_path(ws):
    (ws / "blocker").write_text("a file, not a folder")
    cfg = yaml.safe_load((ws / "steward.yaml").read_text())
    (ws / "steward.yaml").write_text(yaml.safe_dump({**cfg, "warehouse": "blocker/w.duckdb"}))
    _fails_with(ws, "blocker/w.duckdb: cannot create the warehouse folder")


def test_unknown_platform_in_config(ws):
    cfg = yaml.safe_load((ws / "steward.yaml").read_text())
    cfg["integrations"][0]["platform"] = "salesfarce"
    (ws / "steward.yaml").write_text(yaml.safe_dump(cfg))
    _fails_with(ws, "integrations.0.platform: Value error, unknown platform 'salesfarce'")


def test_missing_config_file(tmp_path):
    proc = steward_in_process("run", "-c", "nope.yaml", cwd=tmp_path, env=_API)
    assert proc.returncode == 2 and "nope.yaml: config file not found" in proc.stderr


def test_a_stack_with_only_some_platforms_runs(ws):
    cfg = yaml.safe_load((ws / "steward.yaml").read_text())
    cfg["integrations"] = [i for i in cfg["integrations"] if i["platform"] in ("salesforce", "google_ads")]
    cfg["warehouse"] = "partial.duckdb"
    (ws / "steward.yaml").write_text(yaml.safe_dump(cfg))
    proc = steward("run", "-c", str(ws / "steward.yaml"), "--json", cwd=ws)
    assert proc.returncode == 0, proc.stderr
    checks = {f["check_id"] for f in json.loads(proc.stdout)["findings"]}
    # the two connected platforms are still judged; nothing is invented for the missing ones
    assert {"reconciliation.ad_spend_vs_crm_cost", "data_quality.schema_drift"} <= checks
    assert not checks & {"consent.send_after_opt_out", "bias.selection_rate_disparity"}


def test_a_policy_naming_a_mart_that_does_not_exist(ws):
    policy = ws / "policy.yaml"
    text = (Path(__file__).parents[2] / "contracts" / "policy.yaml").read_text()
    policy.write_text(text.replace("mart: gov_transparency__reasons", "mart: gov_transparency__reason"))
    cfg = yaml.safe_load((ws / "steward.yaml").read_text())
    (ws / "steward.yaml").write_text(yaml.safe_dump({**cfg, "policy": "policy.yaml"}))
    runs = _run_ids(ws)
    _fails_with(ws, f"{policy}: checks.transparency.decisions_without_reason.mart: no mart "
                    "governance.gov_transparency__reason in Steward's dbt project; did you mean "
                    "gov_transparency__reasons?")
    assert _run_ids(ws) == runs  # refused when the policy loaded: no run started, nothing pulled or built


def _run_ids(ws: Path) -> list[str]:
    with duckdb.connect(str(ws / "steward.duckdb"), read_only=True) as con:
        return [r for (r,) in con.execute("select run_id from ledger.runs order by run_id").fetchall()]


def _insert_line(path: Path, line: bytes, at: int) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:at] + [line] + lines[at:]))


@pytest.fixture(scope="module")
def bad_records(workspace, tmp_path_factory):
    """The issue's three bad records planted in a copy of the governed demo, then two `steward run`s: the first
    meets them, the second reruns on the same files. Two tests ask of these two runs."""
    ws = tmp_path_factory.mktemp("bad-records") / "ws"
    shutil.copytree(workspace, ws)
    before = _raw_counts(ws)
    contacts = ws / "exports" / "salesforce" / "contacts.csv"
    body = contacts.read_bytes()
    cut = body.index(b"\n", len(body) // 2) + 1
    contacts.write_bytes(body[:cut] + random.Random(4).randbytes(300) + b"\n" + body[cut:])
    _insert_line(ws / "exports" / "hubspot" / "email_events.jsonl", b'{"id": "x", "recipient": "caf\xe9@x.org"}\n', 5)
    _insert_line(ws / "exports" / "hubspot" / "marketing_emails.jsonl",
                 b'{"id": "deep", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}\n", 1)
    proc = steward("run", "-c", str(ws / "steward.yaml"), "--json", cwd=ws)
    after_first = _raw_counts(ws)
    again = steward("run", "-c", str(ws / "steward.yaml"), "--json", cwd=ws)
    return {"ws": ws, "before": before, "proc": proc, "after_first": after_first, "again": again}


def test_bad_records_cost_only_themselves_and_the_run_completes(bad_records):
    """The issue's three: 300 junk bytes mid-CSV (DuckDB: 'Error when sniffing file'), invalid UTF-8 in an NDJSON
    file, 5000-deep JSON in another; each used to end the whole run with exit 2."""
    ws, before, proc = bad_records["ws"], bad_records["before"], bad_records["proc"]
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "error:" not in proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "completed" and Path(result["report"]).is_file()
    assert not [r for r in result["ingested"] if r["refused"]]
    bad = {(r["integration"], r["entity"]): r for r in result["ingested"]}
    for key in [("salesforce", "contacts"), ("hubspot", "email_events"), ("hubspot", "marketing_emails")]:
        assert bad[key]["rows_quarantined"] >= 1 and bad[key]["rows_loaded"] > 0, key
    assert bad[("hubspot", "email_events")]["rows_quarantined"] == 1
    assert bad[("hubspot", "marketing_emails")]["rows_quarantined"] == 1
    with duckdb.connect(str(ws / "steward.duckdb"), read_only=True) as con:
        reasons = dict(con.execute("select entity, min(reasons) from ledger.quarantine where reasons like "
                                   "'unreadable %' group by entity").fetchall())
    assert reasons["email_events"].startswith("unreadable JSON line: not valid UTF-8")
    assert reasons["marketing_emails"] == "unreadable JSON line: nested deeper than 64 levels"
    assert reasons["contacts"].startswith("unreadable CSV record: ")
    checks = {f["check_id"] for f in result["findings"]}
    # every platform is judged: Salesforce contacts (bias), HubSpot (consent), Google Ads vs CRM (reconciliation)
    assert {"bias.selection_rate_disparity", "consent.send_after_opt_out",
            "reconciliation.ad_spend_vs_crm_cost"} <= checks
    assert bad_records["after_first"] == before  # the readable rows merged by key: nothing lost or duplicated


def test_rerun_lands_nothing_twice(bad_records):
    """A run on files unchanged since the last run: the bad records' second run above (the governed demo's third:
    its own, the one that met the bad records, this one)."""
    ws, again = bad_records["ws"], bad_records["again"]
    assert again.returncode == 0, again.stderr
    assert all(r["skipped"] for r in json.loads(again.stdout)["ingested"])
    assert _raw_counts(ws) == bad_records["before"]
    with duckdb.connect(str(ws / "steward.duckdb"), read_only=True) as con:
        firsts = con.execute("select count(distinct first_seen_at), count(distinct run_id) from ledger.findings "
                             "where check_id = 'bias.selection_rate_disparity'").fetchone()
    assert firsts == (1, 3)  # seen in all three runs, first seen in the first


def test_a_file_nothing_of_which_can_be_read_is_refused_and_the_run_completes(ws):
    before = _raw_counts(ws)
    emails = ws / "exports" / "hubspot" / "marketing_emails.jsonl"
    emails.write_bytes(b"\xff\xfe\x00 not json\n" * 20)
    proc = steward("run", "-c", str(ws / "steward.yaml"), "--json", cwd=ws)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "completed" and Path(result["report"]).is_file()
    [refused] = [r for r in result["ingested"] if r["refused"]]
    assert (refused["integration"], refused["entity"], refused["rows_read"], refused["rows_loaded"]) == \
        ("hubspot", "marketing_emails", 20, 0)
    assert refused["refused"] == (f"{emails}: no record of hubspot.marketing_emails could be read (20 unreadable; "
                                  "the first, row 1: unreadable JSON line: holds a NUL byte)")
    assert "hubspot.marketing_emails: refused, unreadable" in proc.stderr
    [breaking] = [f for f in result["findings"] if f["check_id"] == "data_quality.breaking_schema_drift"]
    assert (breaking["subject"], breaking["severity"]) == ("hubspot/marketing_emails", "critical")
    checks = {f["check_id"] for f in result["findings"]}
    assert {"bias.selection_rate_disparity", "reconciliation.ad_spend_vs_crm_cost"} <= checks
    assert _raw_counts(ws) == before
