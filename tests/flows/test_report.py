"""The run report: built from a real ledger, read back with the stdlib HTML parser rather than trusted as text."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from steward.contracts.finding import Finding
from steward.flows.report import render_report, report_context
from steward.contracts.errors import WarehouseError
from steward.integrations.warehouse.ledger import append_audit, finish_run, record_findings, start_run
from steward.integrations.warehouse import Warehouse

RUN = "run-2024-06-01-a"
CLEAN_RUN = "run-2024-06-02-b"
EMAIL = "jane.doe@example.com"
T0 = datetime(2024, 6, 1, 9, 0, tzinfo=timezone.utc)


class _Page(HTMLParser):
    """Collects visible text, per-finding text and table rows, which is what a reader of the report sees."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.findings: dict[str, dict] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.title = ""
        self.details: dict[str, list[str]] = {}
        self._stack: list[tuple[str, dict]] = []
        self._finding: str | None = None
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self._stack.append((tag, a))
        if tag == "article" and "data-check-id" in a:
            self._finding = a["data-check-id"]
            self.findings[self._finding] = {"severity": a["data-severity"], "text": []}
        elif tag == "table" and ("id" in a or self._finding):
            self._table = a.get("id") or f"{a.get('class')}:{self._finding}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        while self._stack and self._stack.pop()[0] != tag:
            pass
        if tag == "article":
            self._finding = None
        elif tag == "table":
            self._table = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if any(tag == "style" for tag, _ in self._stack):
            return
        if any(tag == "title" for tag, _ in self._stack):
            self.title += data
        self.text.append(data)
        if self._finding:
            self.findings[self._finding]["text"].append(data)
        if self._cell is not None:
            self._cell.append(data)
        if any(tag == "details" for tag, _ in self._stack) and self._finding:
            self.details.setdefault(self._finding, []).append(data)

    def visible(self) -> str:
        return " ".join("".join(self.text).split())


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _finding(**kw) -> Finding:
    return Finding(run_id=RUN, owner="growth-ops", **kw)


FINDINGS = [
    _finding(check_id="bias.approval_rate_gap", family="bias", severity="critical", subject_type="segment",
             subject="lead_scoring:age_55_plus", metric="approval_rate_ratio", observed=0.42, threshold=0.8,
             evidence={"group_rows": 1200, "reference_rows": 5400, "sample_ids": ["c_***91", "c_***07"]},
             explanation="Leads aged 55+ are approved at 42% of the reference rate <below 80%> & falling.",
             sample_query="select * from gov_bias__by_group where segment = 'age_55_plus'", action="pause"),
    _finding(check_id="data_quality.schema_drift", family="data_quality", severity="warn",
             subject_type="integration", subject="salesforce", metric="drifted_columns", observed=2.0,
             threshold=0.0, evidence={"missing": ["LeadSource"], "added": ["Lead_Source__c"]},
             explanation="The salesforce leads export renamed LeadSource to Lead_Source__c."),
    _finding(check_id="transparency.reason_coverage", family="transparency", severity="info",
             subject_type="integration", subject="cdp", metric="reason_coverage", observed=0.97, threshold=0.95,
             evidence={"decisions": 800}, explanation="Almost every AI decision carries a reason.", action="none"),
]


def _insert(wh: Warehouse, table: str, rows: list[dict]) -> None:
    """Named columns, so the fixture does not depend on the ledger's column order."""
    with wh.connect() as con:
        for row in rows:
            con.execute(f"insert into ledger.{table} ({', '.join(row)}) values ({', '.join('?' * len(row))})",
                        list(row.values()))


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.pinned():  # one open of the file for the fixture's dozen writes, not one open and checkpoint each
        for run_id in (RUN, CLEAN_RUN):
            start_run(wh, run_id, "scheduled", "steward.yaml")
            finish_run(wh, run_id, "succeeded", {"findings": 3 if run_id == RUN else 0})
        record_findings(wh, FINDINGS)
        drift = {"missing": ["LeadSource", "Phone"], "added": ["Lead_Source__c", "Fax"],
                 "renamed": {"LeadSource": "Lead_Source__c"}}
        batch = dict(run_id=RUN, fingerprint="fp", contract_version="v1", loaded_at=T0)
        _insert(wh, "batches", [
            dict(batch, batch_id="b1", integration="salesforce", platform="salesforce", entity="leads",
                 source="leads.csv", rows_read=120, rows_loaded=117, rows_quarantined=3, drift=json.dumps(drift)),
            dict(batch, batch_id="b2", integration="hubspot", platform="hubspot", entity="contacts",
                 source="contacts.json", rows_read=50, rows_loaded=50, rows_quarantined=0, drift=None),
            dict(batch, batch_id="b0", run_id=CLEAN_RUN, integration="hubspot", platform="hubspot", entity="contacts",
                 source="contacts.json", rows_read=10, rows_loaded=9, rows_quarantined=1, drift=None),
        ])
        record = json.dumps({"Email": EMAIL, "FirstName": "Jane", "consent": "maybe"})
        _insert(wh, "quarantine", [
            dict(batch_id=batch_id, integration=integration, entity=entity, source="x", source_row=row,
                 reasons=reasons, record=record, quarantined_at=T0)
            for batch_id, integration, entity, row, reasons in [
                ("b1", "salesforce", "leads", 4, "email: not a valid address"),
                ("b1", "salesforce", "leads", 9, "email: not a valid address; consent: unknown"),
                ("b1", "salesforce", "leads", 11, "consent: unknown"),
                ("b0", "hubspot", "contacts", 2, "other run: must not be counted here")]])
        _insert(wh, "campaign_controls", [
            dict(integration="ads", campaign_id="cmp-55plus-retarget", state="paused",
                 reason="bias.approval_rate_gap critical", changed_at=T0),
            dict(integration="ads", campaign_id="cmp-spring", state="active", reason=None, changed_at=T0)])
        append_audit(wh, run_id=RUN, fingerprint=FINDINGS[0].fingerprint, check_id="bias.approval_rate_gap",
                     action="pause", target="ads:cmp-55plus-retarget", decided_by="policy:auto-pause",
                     reason="critical bias finding", outcome="paused")
    return wh


@pytest.fixture
def page(warehouse: Warehouse, tmp_path: Path) -> _Page:
    out = render_report(warehouse, RUN, tmp_path / "out" / "report.html")
    assert out == tmp_path / "out" / "report.html" and out.is_file()
    return _parse(out)


def test_each_finding_shows_its_check_subject_and_explanation(page: _Page) -> None:
    assert set(page.findings) == {f.check_id for f in FINDINGS}
    for f in FINDINGS:
        shown = " ".join("".join(page.findings[f.check_id]["text"]).split())
        assert page.findings[f.check_id]["severity"] == f.severity.value
        assert f.subject in shown
        assert f.explanation in shown  # the parser unescapes, so this also proves the text survived escaping


def test_summary_counts_by_severity_and_family(page: _Page, warehouse: Warehouse) -> None:
    assert "1 critical, 1 warn, 1 info" in page.visible()
    assert "No warn or critical findings" not in page.visible()
    rows = {r[0]: r[1:] for r in page.tables["family-counts"][1:]}
    assert rows == {"bias": ["1", "0", "0", "1"], "data quality": ["0", "1", "0", "1"],
                    "transparency": ["0", "0", "1", "1"]}
    ctx = report_context(warehouse, RUN)
    assert ctx["counts"] == {"critical": 1, "warn": 1, "info": 1}
    assert [g["family"] for g in ctx["families"]] == ["bias", "data_quality", "transparency"]  # worst first


def test_evidence_is_a_key_value_table_and_the_query_is_folded(page: _Page) -> None:
    evidence = dict(page.tables["evidence:bias.approval_rate_gap"][1:])
    assert evidence == {"group_rows": "1,200", "reference_rows": "5,400", "sample_ids": "c_***91, c_***07"}
    folded = "".join(page.details["bias.approval_rate_gap"])
    assert "select * from gov_bias__by_group where segment = 'age_55_plus'" in folded
    assert "transparency.reason_coverage" not in page.details  # no query, no empty details block


def test_special_characters_are_escaped(page: _Page, tmp_path: Path) -> None:
    raw = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "&lt;below 80%&gt; &amp; falling" in raw
    assert "<below 80%>" not in raw


def test_actions_show_the_pause_and_the_paused_campaign(page: _Page) -> None:
    audit = page.tables["audit"][1:]
    assert audit == [[audit[0][0], "bias.approval_rate_gap", "pause", "ads:cmp-55plus-retarget", "policy:auto-pause",
                      "critical bias finding", "paused"]]
    paused = [r[1] for r in page.tables["paused"][1:]]
    assert paused == ["cmp-55plus-retarget"]  # the active campaign is not listed


def test_ingestion_shows_rows_and_drift_as_a_diff(page: _Page) -> None:
    batches = {r[0]: r for r in page.tables["batches"][1:]}
    assert batches["salesforce"][1:5] == ["leads", "120", "117", "3"]
    drift = batches["salesforce"][5]
    assert "~ LeadSource → Lead_Source__c" in drift and "− Phone" in drift and "+ Fax" in drift
    assert drift.count("Lead_Source__c") == 1  # a rename is shown once, not also as added
    assert batches["hubspot"][5] == "none"


def test_quarantine_shows_counts_but_never_the_record(page: _Page, tmp_path: Path) -> None:
    rows = page.tables["quarantine-counts"][1:]
    assert sorted(rows) == [["salesforce", "leads", "consent: unknown", "2"],
                            ["salesforce", "leads", "email: not a valid address", "2"]]
    raw = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert EMAIL not in raw and "jane.doe" not in raw and "FirstName" not in raw


def test_clean_run_says_so(warehouse: Warehouse, tmp_path: Path) -> None:
    page = _parse(render_report(warehouse, CLEAN_RUN, tmp_path / "clean.html"))
    assert "No warn or critical findings" in page.visible()
    assert "0 critical, 0 warn, 0 info" in page.visible()
    assert CLEAN_RUN in page.title
    assert page.findings == {}


def test_info_only_run_is_still_clean(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        con.execute("delete from ledger.findings where severity <> 'info'")
    ctx = report_context(warehouse, RUN)
    assert ctx["is_clean"] and ctx["summary"] == "0 critical, 0 warn, 1 info"


def test_unknown_run_is_refused_rather_than_reported_clean(warehouse: Warehouse, tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="no run 'nope'"):
        render_report(warehouse, "nope", tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
