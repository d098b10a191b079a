"""The HTML report as a reader sees it: opened in headless Chromium at a laptop's size, its charts laid out and
drawn, no console error, no horizontal scrolling, and a full-page screenshot kept under the test's tmp dir.

Chromium is driven over the DevTools protocol with the ``websockets`` client Prefect already installs, so the test
needs only a Chromium binary: ``chromium`` from Debian (``apt-get install -y chromium``), or any Chrome named by
``STEWARD_CHROMIUM``. Without one the test is skipped and says so.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from governed import governed_copy
from steward.contracts.actions import plan_actions
from steward.contracts.policy import load_policy
from steward.flows.config import IntegrationConfig, StewardConfig, write_config
from steward.flows.report import render_report
from steward.flows.report_charts import chart_context
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse import ledger
from steward.integrations.demo.injections import Injections

pytestmark = pytest.mark.slow

LAPTOP = {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False}


def chromium_binary() -> str | None:
    named = os.environ.get("STEWARD_CHROMIUM")
    if named:
        return named
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


class Page:
    """A minimal DevTools client: one page, commands answered by id, every event kept."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=10)
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == call_id:
                assert "error" not in message, message
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((e for e in self.events if e.get("method") == method), None)
            if found:
                return found
            self.events.append(json.loads(self.ws.recv(timeout=deadline - time.monotonic())))
        raise TimeoutError(method)

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]

    def problems(self) -> list[str]:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"].get("text", "exception"))
            elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif e.get("method") == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A governed injected workspace and its run's report (land, dbt build, judge; no Prefect needed): a copy of the
    session's governed template (tests/governed.py; seed 11, scale 0.5, every injection), built once for the
    session instead of once more here."""
    copy = governed_copy(tmp_path_factory, "browser", seed=11, scale=0.5, injections=Injections())
    root, wh, findings = copy.ws.root.parent, copy.wh, copy.findings
    # a run before this one, which had every finding but the first critical one: "since the last run" shows it new
    first_critical = next(f for f in findings if f.severity.value == "critical")
    ledger.start_run(wh, "t0", "on_demand", None)
    ledger.record_findings(wh, [f.model_copy(update={"run_id": "t0"}) for f in findings if f is not first_critical])
    ledger.finish_run(wh, "t0", "completed", {})
    ledger.start_run(wh, "t", "on_demand", None)
    ledger.record_findings(wh, findings)
    _pause_as_the_run_would(wh, findings)
    ledger.finish_run(wh, "t", "completed", {})
    write_config(StewardConfig(warehouse=wh.path, report_dir=root / "reports",
                               integrations=[IntegrationConfig(name="crm", platform="salesforce", path=root)]),
                 root / "steward.yaml")
    return render_report(wh, "t", root / "report.html")


def _pause_as_the_run_would(wh: Warehouse, findings) -> None:
    """The ledger rows the act step writes for the policy's pauses (steps.act, without calling a platform): the
    campaign held paused and the audit row, with the run's long reason, as a real run leaves them."""
    plans = [p for p in plan_actions(findings, load_policy()) if p.execute]
    assert plans, "the injected demo plans at least one pause"
    for p in plans:
        ledger.record_control(wh, p.platform, p.campaign_id, "paused", p.reason)
        ledger.append_audit(wh, run_id="t", fingerprint=p.finding.fingerprint, check_id=p.finding.check_id,
                            action=p.action, target=p.target, decided_by=f"policy:{p.finding.check_id}",
                            reason=p.reason, outcome="paused")


@pytest.fixture
def page(tmp_path):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium found (apt-get install -y chromium, or set STEWARD_CHROMIUM)")
    sockets = tempfile.mkdtemp(prefix="steward-chromium-")
    proc = subprocess.Popen([binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
                             f"--user-data-dir={tmp_path / 'profile'}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # its singleton socket's folder (org.chromium.Chromium.*), which it leaves behind, goes
                            # into a folder removed below: a short path, as a socket's may be 107 bytes at most
                            env={**os.environ, "TMPDIR": sockets})
    try:
        browser_ws = None
        deadline = time.monotonic() + 30
        while browser_ws is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            browser_ws = found.group(1) if found else None
            assert line or proc.poll() is None, "chromium exited before listening"
        assert browser_ws, "chromium did not open its DevTools port in 30 s"
        port = re.search(r":(\d+)/", browser_ws).group(1)
        import httpx

        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        yield page
        page.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(sockets, ignore_errors=True)


def test_report_charts_render_on_a_laptop_without_console_errors(report, page, tmp_path):
    for domain in ("Page", "Runtime", "Log"):
        page.send(f"{domain}.enable")
    page.send("Emulation.setDeviceMetricsOverride", **LAPTOP)
    page.send("Page.navigate", url=report.as_uri())
    page.wait_for("Page.loadEventFired")

    charts = page.evaluate("""[...document.querySelectorAll('figure.chart')].map(f => {
        const svg = f.querySelector('svg'), box = svg.getBoundingClientRect();
        return {id: f.id, width: box.width, height: box.height, marks: svg.querySelectorAll('circle, rect, polyline').length,
                drawn: [...svg.querySelectorAll('circle, rect, polyline, line')].filter(e => {
                    const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length}; })""")
    ids = {c["id"] for c in charts}
    assert {"chart-bias-lead_scoring-age_band", "chart-bias-lead_scoring-gender", "chart-bias-lead_scoring-region",
            "chart-kpi-guardrail", "chart-spend-reconciliation"} <= ids
    for chart in charts:
        assert 600 <= chart["width"] <= LAPTOP["width"], chart  # wide enough to read, never wider than the screen
        assert chart["height"] > 80 and chart["marks"] > 0 and chart["drawn"] >= chart["marks"], chart
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # the planted bias shows: age band 55-64 is drawn in the critical colour
    assert page.evaluate("""getComputedStyle(document.querySelector(
        '#chart-bias-lead_scoring-age_band g[data-group="55-64"] circle')).fill""") == "rgb(180, 35, 24)"
    assert page.evaluate("document.querySelector('#chart-spend-reconciliation .level-critical').textContent") \
        == "30% apart"

    shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    path = tmp_path / "report.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 50_000
    assert page.problems() == []


def test_action_first_top_fits_a_laptop_screen(report, page, tmp_path):
    """#17: at 1366x768 the pauses and the owner summary come before the first finding card, campaigns carry their
    names, and no table (nor the page) scrolls sideways: the paused and audit tables' last columns are on screen."""
    for domain in ("Page", "Runtime", "Log"):
        page.send(f"{domain}.enable")
    page.send("Emulation.setDeviceMetricsOverride", **LAPTOP)
    page.send("Page.navigate", url=report.as_uri())
    page.wait_for("Page.loadEventFired")

    top = page.evaluate("""(() => {
        const y = s => { const e = document.querySelector(s); return e ? e.getBoundingClientRect().top + scrollY : null; };
        return {did: y('#did-table'), paused: y('#did-table tr[data-kind="paused"]'), owners: y('#owners .owner'),
                changes: y('#changes'), history: y('#history svg'), card: y('article.finding')}; })()""")
    assert None not in top.values(), top
    assert top["did"] < top["owners"] < top["changes"] < top["history"] < top["card"], top
    assert top["owners"] < LAPTOP["height"] * 3  # near the top, not after forty cards

    names = page.evaluate("[...document.querySelectorAll('#did-table .campaign-name')].map(e => e.textContent)")
    assert names and all(n and n != "(no name known)" for n in names), names
    cards = page.evaluate("""[...document.querySelectorAll('article.finding .subject')].filter(
        e => /[A-Za-z] \\((salesforce|hubspot|google_ads) \\w+\\)/.test(e.textContent)).length""")
    assert cards >= 3  # finding cards about a campaign name it: "Win-back Offers (salesforce 701...)"
    owners = page.evaluate("[...document.querySelectorAll('#owners .owner')].map(e => e.dataset.owner)")
    assert len(owners) >= 2
    links = page.evaluate("""[...document.querySelectorAll('#owners a[href^="#"]')].map(
        a => !!document.getElementById(a.getAttribute('href').slice(1)))""")
    assert links and all(links)
    assert page.evaluate("document.querySelectorAll('.changes-new li').length") >= 1

    overflow = page.evaluate("""[...document.querySelectorAll('table')].map(t => ({
        id: t.id || t.className, table: t.scrollWidth - t.clientWidth,
        parent: t.parentElement.scrollWidth - t.parentElement.clientWidth,
        right: t.getBoundingClientRect().right - window.innerWidth})).filter(
        o => o.table > 0 || o.parent > 0 || o.right > 0)""")
    assert overflow == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for table in ("#audit", "#paused", "#did-table"):
        last = page.evaluate(f"document.querySelector('{table} thead th:last-child').getBoundingClientRect().right")
        assert 0 < last <= LAPTOP["width"], table

    shot = page.send("Page.captureScreenshot", format="png")
    (tmp_path / "top.png").write_bytes(base64.b64decode(shot["data"]))
    assert page.problems() == []


def test_markdown_and_json_exports_for_tickets(report):
    from typer.testing import CliRunner

    from steward.flows.cli import app

    config = str(report.parent / "steward.yaml")
    md = CliRunner().invoke(app, ["report", "-c", config, "--format", "md"])
    assert md.exit_code == 0, md.output
    assert md.stdout.startswith("# Steward run `t`")
    assert "CRITICAL `bias.selection_rate_disparity` — segment: lead_scoring: age_band=55-64" in md.stdout
    assert "select * from governance.gov_bias__selection_rates where" in md.stdout
    doc = json.loads(CliRunner().invoke(app, ["report", "t", "-c", config, "--format", "json"]).stdout)
    assert doc["run"]["run_id"] == "t" and "charts" not in doc
    assert doc["counts"]["critical"] == sum(f["severity"] == "critical" for g in doc["families"] for f in g["findings"])
    assert "@" not in md.stdout + json.dumps(doc)  # masked ids only, as in the HTML page
    assert CliRunner().invoke(app, ["report", "-c", config, "--format", "pdf"]).exit_code == 2


def test_no_marts_no_charts(tmp_path):
    assert chart_context(Warehouse(tmp_path / "empty.duckdb"), load_policy()) == {"bias": [], "balance": [],
                                                                                "spend": []}
