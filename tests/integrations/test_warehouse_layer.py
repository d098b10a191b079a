"""The warehouse layer holds every SQL statement outside dbt: the ledger writes and reads that flows used to run
themselves behave as before on a real DuckDB, and no module under ``flows/`` carries a SQL string any more."""

from __future__ import annotations

import ast
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

import steward.flows
from steward.contracts.errors import WarehouseError
from steward.integrations.warehouse import Warehouse, ledger, reads

T0 = datetime(2024, 6, 1, 9, 0, tzinfo=timezone.utc)
FLOWS = Path(steward.flows.__file__).parent
# A statement, not a word: "select" or "update" in prose is fine, "select ... from" or "insert into" is SQL.
SQL = re.compile(r"\bselect\b[\s\S]+?\bfrom\b|\binsert\s+into\b|\bdelete\s+from\b|\bupdate\s+[\w.\"]+\s+set\b"
                 r"|\b(create|drop|alter)\s+(table|schema|view|sequence|index)\b|\bmerge\s+into\b", re.I)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (module, class, function)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                out.add(id(first.value))
    return out


def _help_texts(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are CLI help text (``help=`` of a typer option or argument, ``rich_help_panel``)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in ("help", "rich_help_panel", "epilog", "short_help"):
            out.update(id(n) for n in ast.walk(node.value))
    return out


def sql_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal in ``source`` that reads as SQL; f-strings are judged by their literal
    parts, with each placeholder as ``?``."""
    tree = ast.parse(source)
    skip = _docstrings(tree) | _help_texts(tree)
    found, inside_fstring = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) not in skip:
            parts = [v.value if isinstance(v, ast.Constant) else "?" for v in node.values]
            inside_fstring.update(id(v) for v in node.values)
            text = "".join(str(p) for p in parts)
            if SQL.search(text):
                found.append((node.lineno, text))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                and id(node) not in inside_fstring and SQL.search(node.value)):
            found.append((node.lineno, node.value))
    return found


def test_the_scan_finds_the_sql_flows_used_to_hold_and_passes_prose():
    before = '''
"""Reads ``select * from launch.x`` in a docstring: prose, allowed."""
import typer
def judge(wh, name, opt=typer.Option(None, help="rows you select from the ledger")):
    """Docstring: insert into ledger.launch_audits is described, not run."""
    marts = wh.query_df(f"select * from launch.{name}")
    with wh.connect() as con:
        con.execute("insert into ledger.launch_audits values (?, ?)", [1, 2])
    rows = wh.query_df("select run_id from ledger.runs where status = 'completed' "
                       "order by started_at desc limit 1")
    print("update the spec, then select a channel")
'''
    assert sorted(line for line, _ in sql_strings(before)) == [6, 8, 9]


def test_no_module_under_flows_holds_a_sql_string():
    offenders = [f"{path.relative_to(FLOWS.parent)}:{line}: {text.strip()[:60]!r}"
                 for path in sorted(FLOWS.rglob("*.py")) for line, text in sql_strings(path.read_text())]
    assert offenders == []


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


def test_a_launch_verdict_is_recorded_whole_in_the_ledger(wh):
    reasons = [{"kind": "blocking", "check_id": "launch.consent", "observed": 3, "at": T0}]
    evidence = {"launch__consent": [{"channel": "email", "people": 120}]}
    ledger.record_launch_audit(wh, audit_id="a-1", launch_id="spring", launch_name="Spring promo", verdict="NO-GO",
                               started=T0, spec_json='{"id": "spring"}', reasons=reasons, evidence=evidence,
                               checks_evaluated=["launch.consent", "launch.bias"], config_path=None)
    with wh.connect() as con:
        row = con.execute("select audit_id, launch_id, launch_name, verdict, started_at, finished_at, spec, reasons, "
                          "evidence, checks_evaluated, config_path from ledger.launch_audits").fetchall()
    assert len(row) == 1
    audit_id, launch_id, name, verdict, started, finished, spec, got_reasons, got_evidence, checks, config = row[0]
    assert (audit_id, launch_id, name, verdict, config) == ("a-1", "spring", "Spring promo", "NO-GO", None)
    assert started == T0 and finished > started
    assert json.loads(spec) == {"id": "spring"}
    assert json.loads(got_reasons) == [{**reasons[0], "at": str(T0)}]  # values JSON cannot hold become text
    assert json.loads(got_evidence) == evidence and json.loads(checks) == ["launch.consent", "launch.bias"]
    with pytest.raises(Exception, match="(?i)constraint|primary key|duplicate"):  # one verdict per audit id
        ledger.record_launch_audit(wh, audit_id="a-1", launch_id="spring", launch_name="x", verdict="GO", started=T0,
                                   spec_json="{}", reasons=[], evidence={}, checks_evaluated=[], config_path=None)


def test_the_latest_completed_run_skips_running_and_failed_ones(wh):
    assert reads.latest_completed_run(wh) is None
    for run_id, status in (("r1", "completed"), ("r2", "completed"), ("r3", "failed"), ("r4", None)):
        ledger.start_run(wh, run_id, "governance", None)
        if status:
            ledger.finish_run(wh, run_id, status, {})
    assert reads.latest_completed_run(wh) == "r2"
    assert list(reads.run_rows(wh, "r4")["status"]) == ["running"] and reads.run_rows(wh, "nope").empty


def test_the_report_reads_quarantine_counts_and_never_a_record(wh):
    with wh.connect() as con:
        con.execute("insert into ledger.batches (batch_id, run_id, integration, entity) values "
                    "('b1', 'r1', 'crm', 'contacts'), ('b2', 'r2', 'crm', 'contacts')")
        con.execute("insert into ledger.quarantine (batch_id, integration, entity, reasons, record) values "
                    "('b1', 'crm', 'contacts', 'email: not an email; country: not ISO', '{\"email\": \"a@b.c\"}'), "
                    "('b1', 'crm', 'contacts', 'email: not an email', '{}'), "
                    "('b1', 'crm', 'contacts', null, '{}'), ('b2', 'crm', 'contacts', 'other run', '{}')")
    frame = reads.run_quarantine_reasons(wh, "r1")
    assert "record" not in frame.columns
    assert frame.to_dict("records") == [
        {"integration": "crm", "entity": "contacts", "reason": "email: not an email", "row_count": 2},
        {"integration": "crm", "entity": "contacts", "reason": "country: not ISO", "row_count": 1},
        {"integration": "crm", "entity": "contacts", "reason": "unspecified", "row_count": 1}]


def test_a_launch_mart_is_read_by_checked_name_only(wh):
    with wh.connect() as con:
        con.execute("create schema launch; create table launch.launch__plan as select 'email' as channel, 3 as n")
    assert reads.launch_mart(wh, "launch__plan").to_dict("records") == [{"channel": "email", "n": 3}]
    with pytest.raises(WarehouseError, match="not a launch mart name"):
        reads.launch_mart(wh, "launch__plan; drop table ledger.runs")
    assert wh.table_exists("ledger", "runs")


def test_checks_a_run_did_not_evaluate_are_kept_once_per_check_and_read_back_in_order(wh):
    skipped = [{"check_id": "reconciliation.spend", "integrations": ["ads", "crm"], "reason": "not evaluated (x)",
                "states": {"ads": "down since 09:00", "crm": "down since 08:00"}},
               {"check_id": "bias.lead_score", "integrations": ["crm"], "reason": "not evaluated (y)", "states": {}}]
    ledger.record_skipped(wh, "r1", skipped, T0)
    ledger.record_skipped(wh, "r1", skipped[:1], T0)  # the drift gate may name a check the health gate named
    ledger.record_skipped(wh, "r2", [], T0)
    assert ledger.not_evaluated(wh, "r1") == [
        {"check_id": "bias.lead_score", "integrations": "crm", "states": "", "reason": "not evaluated (y)"},
        {"check_id": "reconciliation.spend", "integrations": "ads, crm",
         "states": "ads: down since 09:00; crm: down since 08:00", "reason": "not evaluated (x)"}]
    assert ledger.not_evaluated(wh, "r2") == []


def test_a_pinned_warehouse_shares_one_open_file_and_releases_it(tmp_path):
    """Inside ``pinned`` every connection is a cursor of one open database (what a run's judge, alert, act and report
    steps use instead of reopening the file hundreds of times); writes are seen across them, nested pins share the
    outer one, and afterwards the file opens again as a separate, read-only database."""
    import duckdb

    from steward.integrations.warehouse.connection import _PINNED

    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.pinned():
        pinned = _PINNED[wh.path][0]
        with wh.connect() as con:
            con.execute("create table ledger.t (x int)")
            con.execute("insert into ledger.t values (1)")
        with wh.pinned(), Warehouse(tmp_path / "w.duckdb").connect(read_only=True) as other:
            assert _PINNED[wh.path][0] is pinned and _PINNED[wh.path][1] == 2
            assert other.execute("select sum(x) from ledger.t").fetchone() == (1,)
        assert _PINNED[wh.path][1] == 1
    assert wh.path not in _PINNED
    with duckdb.connect(str(wh.path), read_only=True) as con:  # other settings than the pin's: it was closed
        assert con.execute("select count(*) from ledger.t").fetchone() == (1,)
