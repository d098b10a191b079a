"""The report's top and the console summary: what Steward did, who must act, what changed, the trend.

Two real runs written to a real DuckDB ledger through the ledger's own functions; the second run is reported.
Between them one finding is new, two got worse (a higher severity; further past the same threshold), one is
resolved (gone), one dropped to info (resolved for a reader), one is unchanged. The pure comparison is tested
directly too (contracts/run_changes.py).
"""

from __future__ import annotations

import itertools
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from steward.contracts.finding import Finding
from steward.contracts.run_changes import FindingState, compare_runs
from steward.flows.report import action_summary, render_report, report_context
from steward.integrations.warehouse import Warehouse, ledger

BEFORE, NOW = "run-a", "run-b"


def _f(run_id: str, check_id: str, subject: str, severity: str, observed: float, threshold: float,
       owner: str = "paid-media", **kw) -> Finding:
    family = check_id.split(".")[0]
    return Finding(run_id=run_id, check_id=check_id, family=family, severity=severity, subject_type="campaign",
                   subject=subject, metric="m", observed=observed, threshold=threshold, owner=owner,
                   explanation=kw.pop("explanation", f"{check_id} on {subject}. Second sentence not in the line."),
                   **kw)


FIRST = [
    _f(BEFORE, "anomaly.spend_spike", "c-worse-sev", "warn", 2.5, 2.0),
    _f(BEFORE, "reconciliation.ad_spend_vs_crm_cost", "c-worse-far", "warn", 0.25, 0.2),
    _f(BEFORE, "reconciliation.ad_spend_vs_crm_cost", "c-same", "critical", 0.6, 0.5),
    _f(BEFORE, "bias.selection_rate_disparity", "c-gone", "critical", 0.4, 0.8, owner="ml-governance"),
    _f(BEFORE, "privacy_consent.missing_opt_in", "c-to-info", "warn", 12, 0, owner="privacy-office"),
]
SECOND = [
    _f(NOW, "anomaly.spend_spike", "c-worse-sev", "critical", 3.1, 2.0, action="pause"),
    _f(NOW, "reconciliation.ad_spend_vs_crm_cost", "c-worse-far", "warn", 0.31, 0.2),
    _f(NOW, "reconciliation.ad_spend_vs_crm_cost", "c-same", "critical", 0.6, 0.5),
    _f(NOW, "privacy_consent.missing_opt_in", "c-to-info", "info", 0, 0, owner="privacy-office"),
    _f(NOW, "privacy_consent.missing_opt_in", "c-new", "warn", 40, 0, owner="privacy-office"),
    _f(NOW, "transparency.reason_coverage", "c-info", "info", 0.97, 0.95, owner="ml-governance"),
]


def _run(wh: Warehouse, run_id: str, findings: list[Finding]) -> None:
    ledger.start_run(wh, run_id, "scheduled", "/etc/steward/steward.yaml")
    ledger.record_findings(wh, findings)
    ledger.finish_run(wh, run_id, "completed", {})
    time.sleep(0.01)  # started_at orders the runs


def _empty(kind: str, tmp_path: Path, request) -> Warehouse:
    """A fresh DuckDB file, or a fresh database on the session's PostgreSQL server (the reads are portable SQL)."""
    if kind == "duckdb":
        return Warehouse(tmp_path / "w.duckdb")
    if not hasattr(Warehouse, "is_postgres"):  # a branch without the PostgreSQL warehouse layer (issue #13) yet
        pytest.skip("this Warehouse does not open PostgreSQL yet")
    wh = Warehouse(request.getfixturevalue("pg_server").fresh_database("report"))
    assert wh.is_postgres
    return wh


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path: Path) -> Warehouse:
    wh = _empty(request.param, tmp_path, request)
    with wh.pinned():  # one open of the DuckDB file for the fixture's writes, not one open and checkpoint each
        _run(wh, "run-0", [])  # an older clean run: the trend has a zero column, and it is not "the last run"
        _run(wh, BEFORE, FIRST)
        _run(wh, NOW, SECOND)
        with wh.connect() as con:  # which platform the integration "ads" pulls (as its batches record it)
            con.execute("insert into ledger.batches (batch_id, run_id, integration, platform, entity) "
                        "values ('b1', ?, 'ads', 'google_ads', 'spend')", [NOW])
        ledger.record_control(wh, "ads", "c-worse-sev", "paused",
                              "anomaly.spend_spike is critical on campaign c-worse-sev")
        ledger.record_control(wh, "ads", "c-old; rm -rf", "paused", "paused by an earlier run")
        spike = SECOND[0]
        ledger.append_audit(wh, run_id=NOW, fingerprint=spike.fingerprint, check_id=spike.check_id, action="pause",
                            target="google_ads:c-worse-sev", decided_by="policy:anomaly.spend_spike",
                            reason="critical spend spike", outcome="paused")
        ledger.append_audit(wh, run_id=NOW, fingerprint=SECOND[1].fingerprint, check_id=SECOND[1].check_id,
                            action="request_approval", target="google_ads:c-worse-far", decided_by="policy:timeout",
                            reason="spend gap", outcome="not executed: timeout")
        ledger.append_audit(wh, run_id=NOW, fingerprint=SECOND[2].fingerprint, check_id=SECOND[2].check_id,
                            action="pause", target="google_ads:c-same", decided_by="policy:x",
                            reason="spend gap; dry run", outcome="not executed: dry run")
    return wh


def test_what_steward_did_lists_pauses_first_with_the_resume_command(warehouse: Warehouse) -> None:
    did = action_summary(warehouse, NOW)["did"]
    assert [(d["kind"], d["campaign_id"]) for d in did] == [
        ("paused", "c-worse-sev"), ("paused", "c-old; rm -rf"), ("waiting", "c-worse-far"), ("held", "c-same")]
    paused = did[0]
    assert paused["this_run"] and not did[1]["this_run"]
    assert paused["platform"] == "google_ads" and paused["key"] == "google_ads:c-worse-sev"
    assert paused["how"] == ('steward campaigns resume ads c-worse-sev --reason "..." '
                             '-c /etc/steward/steward.yaml')
    assert "'c-old; rm -rf'" in did[1]["how"]  # a campaign id from data is quoted for the shell, never run
    assert "steward approve FLOW_RUN_ID --target google_ads:c-worse-far" in did[2]["how"]
    assert "timeout" in did[2]["why"] and "dry run" in did[3]["why"]


def test_findings_that_need_a_person_are_grouped_by_owner_worst_first(warehouse: Warehouse) -> None:
    owners = action_summary(warehouse, NOW)["owners"]
    assert [(g["owner"], g["critical"], g["warn"]) for g in owners] == [("paid-media", 2, 1),
                                                                       ("privacy-office", 0, 1)]
    paid = owners[0]["items"]
    assert [i["severity"] for i in paid] == ["critical", "critical", "warn"]
    assert paid[0]["summary"] == "anomaly.spend_spike on c-worse-sev."  # one line: the first sentence
    assert all(i["anchor"].startswith("finding-") for g in owners for i in g["items"])
    assert "ml-governance" not in [g["owner"] for g in owners]  # info only: nothing for a person


def test_changes_since_the_last_run(warehouse: Warehouse) -> None:
    changes = action_summary(warehouse, NOW)["changes"]
    assert changes["previous_run_id"] == BEFORE
    assert [c["subject"] for c in changes["new"]] == ["campaign: c-new"]
    assert {c["subject"]: (c["before_severity"], c["severity"]) for c in changes["worse"]} == {
        "campaign: c-worse-sev": ("warn", "critical"), "campaign: c-worse-far": ("warn", "warn")}
    assert {c["subject"]: c["severity"] for c in changes["resolved"]} == {"campaign: c-gone": None,
                                                                           "campaign: c-to-info": "info"}
    assert changes["still_open"] == 1  # c-same: critical both times, observed unchanged
    assert changes["summary"] == f"1 new, 2 worse, 2 resolved, 1 still open since run {BEFORE}"


def test_first_run_has_nothing_to_compare(warehouse: Warehouse) -> None:
    changes = action_summary(warehouse, "run-0")["changes"]
    assert changes["previous_run_id"] is None and not changes["any"]
    assert changes["summary"].startswith("first run")


def test_trend_counts_warn_and_critical_per_family_per_run(warehouse: Warehouse) -> None:
    history = action_summary(warehouse, NOW)["history"]
    assert history["runs"] == ["run-0", BEFORE, NOW]
    assert history["series"] == {"privacy consent": [0, 1, 1], "reconciliation": [0, 2, 2], "bias": [0, 1, 0],
                                 "anomaly": [0, 1, 1]}
    svg = str(history["chart"])
    assert svg.count('class="trend-row"') == 4 and "<script" not in svg
    assert 'data-series="bias" data-last="0"' in svg


class _Order(HTMLParser):
    """The ids of the page's sections and finding cards, in document order, and where links point."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "a" and (a.get("href") or "").startswith("#"):
            self.links.append(a["href"][1:])


def test_the_page_opens_with_the_top_and_every_link_lands_on_a_card(warehouse: Warehouse, tmp_path: Path) -> None:
    page = _Order()
    page.feed(render_report(warehouse, NOW, tmp_path / "r.html").read_text(encoding="utf-8"))
    first_card = next(i for i, x in enumerate(page.ids) if x.startswith("finding-"))
    top = [page.ids.index(s) for s in ("did", "owners", "changes", "history")]
    assert top == sorted(top) and top[-1] < page.ids.index("families") < first_card
    assert page.links and set(page.links) <= set(page.ids)
    ctx = report_context(warehouse, NOW)
    assert ctx["top"]["owners"] == action_summary(warehouse, NOW)["owners"]  # the page and the console agree
    assert [p["campaign_id"] for p in ctx["paused"]] == ["c-worse-sev", "c-old; rm -rf"]  # oldest pause first
    assert all(p["resume"].startswith("steward campaigns resume ads ") for p in ctx["paused"])


def test_console_summary_prints_the_top_in_order(warehouse: Warehouse) -> None:
    from rich.console import Console

    from steward.flows.cli._console import print_action_summary

    console = Console(width=200, record=True, color_system=None)
    print_action_summary(console, lambda: action_summary(warehouse, NOW))
    text = console.export_text()
    heads = [text.index(h) for h in ("What Steward did", "Needs a person, by owner", "Since the last run")]
    assert heads == sorted(heads)
    assert "PAUSED" in text and "resume: steward campaigns resume ads c-worse-sev" in text
    assert "WAITING" in text and "steward approve FLOW_RUN_ID --target google_ads:c-worse-far" in text
    assert "paid-media: 2 critical, 1 warn" in text
    assert "new      warn privacy_consent.missing_opt_in  campaign: c-new" in text


def test_console_summary_survives_an_unreadable_warehouse(tmp_path: Path, capsys) -> None:
    from rich.console import Console

    from steward.contracts.errors import WarehouseError
    from steward.flows.cli._console import print_action_summary

    console = Console(width=200, record=True)

    def broken() -> dict:
        raise WarehouseError("w.duckdb: locked")

    print_action_summary(console, broken)
    assert console.export_text() == ""
    assert "summary unavailable" in capsys.readouterr().err


@pytest.mark.parametrize("now,before,expect", [
    ([FindingState("a", "warn", 1.0, 0.5)], [FindingState("a", "warn", 1.0 + 1e-12, 0.5)], "still"),
    ([FindingState("a", "warn", 0.1, 0.8)], [FindingState("a", "warn", 0.3, 0.8)], "worse"),  # lower limit
    ([FindingState("a", "critical", 2.52, 2.0)], [FindingState("a", "critical", 2.519, 2.0)], "still"),  # drift
    ([FindingState("a", "critical", 2.56, 2.0)], [FindingState("a", "critical", 2.5, 2.0)], "worse"),  # +12 %
    ([FindingState("a", "warn", 0.5, 0.8)], [FindingState("a", "warn", 0.3, 0.8)], "still"),  # better
    ([FindingState("a", "warn", None, None)], [FindingState("a", "critical", None, None)], "still"),
    ([FindingState("a", "warn", 1, 0)], [FindingState("a", "info", 0, 0)], "worse"),
    ([FindingState("a", "info", 1, 0)], [], "none"),
])
def test_compare_runs(now, before, expect) -> None:
    changes = compare_runs(now, before, "prev")
    got = ("worse" if changes.worse else "new" if changes.new else "resolved" if changes.resolved
           else "still" if changes.still_open else "none")
    assert got == expect


def test_markdown_and_json_exports_open_with_the_top(warehouse: Warehouse) -> None:
    import json

    from steward.flows.report_export import report_json, report_markdown

    ctx = report_context(warehouse, NOW)
    md = report_markdown(ctx)
    heads = [md.index(h) for h in ("## What Steward did", "## Needs a person, by owner", "## Since the last run",
                                   "## anomaly")]
    assert heads == sorted(heads)
    assert "- PAUSED google_ads:c-worse-sev: anomaly.spend_spike is critical" in md
    assert "Resume: `steward campaigns resume ads c-worse-sev" in md
    assert "- new: warn `privacy_consent.missing_opt_in` campaign: c-new" in md
    doc = json.loads(report_json(ctx))
    assert doc["top"]["changes"]["summary"].startswith("1 new, 2 worse") and "chart" not in doc["top"]["history"]
    assert "<svg" not in json.dumps(doc)


def test_an_owner_with_many_findings_shows_the_worst_five_and_folds_the_rest(warehouse: Warehouse,
                                                                            tmp_path: Path) -> None:
    from rich.console import Console

    from steward.flows.cli._console import print_action_summary

    ledger.record_findings(warehouse, [_f(NOW, "data_quality.schema_drift", f"s{i}", "critical" if i == 6 else "warn",
                                          i, 0, owner="crm-ops") for i in range(7)])
    top = action_summary(warehouse, NOW)
    crm = next(g for g in top["owners"] if g["owner"] == "crm-ops")
    assert (crm["critical"], crm["warn"], crm["items"][0]["subject"]) == (1, 6, "campaign: s6")  # worst first
    html = render_report(warehouse, NOW, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "2 more for crm-ops</summary>" in html
    console = Console(width=200, record=True, color_system=None)
    print_action_summary(console, lambda: top)
    text = console.export_text()
    lines = text[text.index("crm-ops:"):].splitlines()[1:]
    block = "\n".join(itertools.takewhile(lambda line: line.startswith("    "), lines))
    shown = [line for line in block.splitlines() if line.split()[0] in ("critical", "warn")]
    assert len(shown) == 5 and block.endswith("… 2 more in the report")


def test_a_campaign_subject_is_named_from_the_directory_it_is_labelled_with() -> None:
    """A finding whose subject is a campaign id is named when exactly one campaign of the directory has that id or
    key; the lookup is built per directory, so a later report's directory names its own campaigns."""
    from steward.contracts.campaigns import CampaignRef
    from steward.flows.report_top import subject_label

    def refs(*campaigns: CampaignRef) -> dict[str, CampaignRef]:
        return {c.key: c for c in campaigns}

    first = refs(CampaignRef("salesforce", "701", "Spring sale"), CampaignRef("google_ads", "9", "Search"),
                 CampaignRef("hubspot", "9", "Newsletter"))
    finding = lambda subject: {"subject_type": "campaign", "subject": subject, "evidence": []}  # noqa: E731
    assert subject_label(finding("701"), first) == "Spring sale (salesforce 701)"
    assert subject_label(finding("google_ads:9"), first) == "Search (google_ads 9)"  # by its key
    assert subject_label(finding("9"), first) == "campaign: 9"  # two platforms use the id: no name
    second = refs(CampaignRef("google_ads", "9", "Search, renamed"))
    assert subject_label(finding("9"), second) == "Search, renamed (google_ads 9)"
    assert subject_label(finding("701"), second) == "campaign: 701"
