"""The file audits' HTML page: the shared shell (flows/audit_html.py) and ``steward audit bias --html``.

Pages are parsed with html.parser, as a browser would read them: the numbers, verdicts and chart positions are checked
against hand-worked values, and the page must hold no script, stylesheet link, image or anything else it would fetch.
"""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steward.contracts.errors import ConfigError
from steward.flows.audit_html import HtmlSection, HtmlTable, render_audit_html, write_audit_html
from steward.flows.cli.audit import audit_app
from steward.flows.report_charts import Interval, Marker, bar_chart, interval_chart

runner = CliRunner()
HOSTILE = '<script>alert(1)</script><img src="x" onerror="alert(2)">'
FETCHING_TAGS = {"script", "link", "img", "iframe", "object", "embed", "image", "use", "audio", "video", "source",
                 "base", "meta-refresh", "form"}


class Page(HTMLParser):
    """Every start tag with its attributes, the text of each element by id, table rows, and the chart groups."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._by_id: dict[str, list[str]] = {}
        self._open_ids: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs_d = dict(attrs)
        self.tags.append((tag, attrs_d))
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []
        if "id" in attrs_d:
            self._open_ids.append((tag, attrs_d["id"]))
            self._by_id[attrs_d["id"]] = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if self._open_ids and self._open_ids[-1][0] == tag:
            self._open_ids.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        for _, key in self._open_ids:
            self._by_id[key].append(data)

    def by_id(self, key: str) -> str:
        return "".join(self._by_id[key]).strip()

    def attrs(self, tag: str, **match: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in match.items())]


def assert_self_contained(page: Page) -> None:
    """Nothing runs and nothing is fetched: no script or fetching tag, no event handler, no URL but SVG's xmlns."""
    assert not [t for t, _ in page.tags if t in FETCHING_TAGS]
    for tag, attrs in page.tags:
        for key, value in attrs.items():
            assert not key.startswith("on"), (tag, key)
            assert key not in ("src", "href", "xlink:href", "srcset", "action"), (tag, key)
            if key != "xmlns":
                assert "://" not in (value or ""), (tag, key, value)


# --- the shell --------------------------------------------------------------------------------------------------

def test_shell_escapes_every_text_and_keeps_charts(tmp_path):
    chart = bar_chart("nulls", f"nulls by column {HOSTILE}", [HOSTILE, "email"], [0.25, 0.5], pct=True)
    html = render_audit_html(f"Quality {HOSTILE}", f"/data/{HOSTILE}.csv", f"summary {HOSTILE}",
                             [HtmlSection(f"col {HOSTILE}", f"text {HOSTILE}",
                                          [HtmlTable(f"t {HOSTILE}", ["column", HOSTILE], [[HOSTILE, "1,234"]],
                                                     note=f"note {HOSTILE}")],
                                          [chart])], verdict=f"1 warn {HOSTILE}", level="warn")
    page = Page(html)
    assert_self_contained(page)
    assert "".join(page.text).count(HOSTILE) >= 9  # every text shows the value as text, never as markup
    assert page.attrs("p", id="verdict")[0]["class"] == "verdict level-warn"
    assert page.by_id("verdict") == f"1 warn {HOSTILE}"
    assert page.rows == [["column", HOSTILE], [HOSTILE, "1,234"]]
    assert page.attrs("td", **{"class": "num"}), "a number cell is right-aligned like the terminal's"
    # the chart is inline SVG: axis top = nice(0.5 * 1.05 = 0.525) = 1, so bar 'email' (second, y = 24 + 22) is
    # (760 - 120 - 150) * 0.5 / 1 = 245 wide
    (email,) = page.attrs("g", **{"data-label": "email"})
    assert [a["width"] for t, a in page.tags if t == "rect" and a.get("y") == "46"] == ["245.0"]
    assert email and page.attrs("svg")[0]["viewbox"] == "0 0 760 84"  # 40 + 22 * 2 bars


def test_charts_must_be_markup_not_plain_strings():
    with pytest.raises(TypeError, match="charts must be Markup"):
        render_audit_html("t", "s", "", [HtmlSection("x", charts=["<svg/>"])], "v")  # type: ignore[list-item]
    with pytest.raises(ValueError, match="level"):
        render_audit_html("t", "s", "", [], "v", level="red")


def test_write_is_atomic_and_a_bad_path_is_one_config_error(tmp_path):
    target = tmp_path / "out" / "page.html"
    write_audit_html(target, "<p>one</p>")
    write_audit_html(target, "<p>two</p>")
    assert target.read_text() == "<p>two</p>" and [p.name for p in target.parent.iterdir()] == ["page.html"]
    with pytest.raises(ConfigError, match=r"^--html .*out: cannot write the page"):
        write_audit_html(tmp_path / "out", "<p>x</p>")  # a folder: the old content stays, no temporary file left
    assert sorted(p.name for p in target.parent.iterdir()) == ["page.html"]


def test_interval_chart_positions_series_and_gaps():
    # axis top: nice(max(0.6 high, 0.5 marker) * 1.1 = 0.66) = 1; x(v) = 150 + 490 v
    chart = interval_chart("e", "error rates", [Interval("A", 0.4, 0.3, 0.6, series="TPR"),
                                                Interval("A", None, None, None, series="FPR"),
                                                Interval("B", 0.2, 0.1, 0.3, series="TPR")],
                           markers=[Marker(0.5, "reference A")])
    page = Page(str(chart))
    assert [a["cx"] for a in page.attrs("circle")] == ["346.0", "248.0"]  # no dot for a rate nobody could compute
    assert [(a["x1"], a["x2"]) for a in page.attrs("line") if a.get("stroke-width") == "3"] == \
        [("297.0", "444.0"), ("199.0", "297.0")]
    assert [a["data-series"] for a in page.attrs("g", **{"class": "point"})] == ["TPR", "FPR", "TPR"]
    assert "reference A" in "".join(page.text) and interval_chart("x", "empty", []) is None
    # an element id holds no space: a dimension such as "age_band x sex" becomes "age_band-x-sex"
    assert Page(str(bar_chart("age_band x sex", "t", ["a"], [1.0]))).attrs("figure")[0]["id"] == "chart-age_band-x-sex"
    # a rate's axis ends at 100 %: 0.95 * 1.1 would round up to 200 %; at top 1, 0.95 -> 150 + 490 * 0.95 = 615.5
    wide = Page(str(interval_chart("w", "w", [Interval("A", 0.9, 0.8, 0.95)])))
    assert [(a["x1"], a["x2"]) for a in wide.attrs("line") if a.get("stroke-width") == "3"] == [("542.0", "615.5")]


# --- steward audit bias --html ----------------------------------------------------------------------------------

def _rows(group: str, tp: int, fp: int, fn: int, tn: int) -> list[tuple[str, float, bool]]:
    return [(group, 80.0, True)] * tp + [(group, 80.0, False)] * fp + [(group, 20.0, True)] * fn + \
        [(group, 20.0, False)] * tn


@pytest.fixture
def scored(tmp_path) -> Path:
    """A: 50 of 100 selected (tp40 fp10 fn10 tn40); B: 10 of 50 (tp8 fp2 fn12 tn28); C: 3 of 5 (too small at 30)."""
    path = tmp_path / "scored.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["segment", "score", "won", "postcode"])
        for g, s, y in _rows("A", 40, 10, 10, 40) + _rows("B", 8, 2, 12, 28) + _rows("C", 2, 1, 1, 1):
            w.writerow([g, s, str(y).lower(), f"PC-{g}"])
    return path


def test_bias_html_page_has_the_tables_charts_and_verdict(tmp_path, scored):
    out = tmp_path / "bias.html"
    res = runner.invoke(audit_app, ["bias", str(scored), "--group", "segment", "--score", "score", "--cutoff", "50",
                                    "--outcome", "won", "--min-group-size", "30", "--inputs", "postcode",
                                    "--html", str(out)])
    assert res.exit_code == 1, res.output  # B fails: the page does not change the exit code
    page = Page(out.read_text(encoding="utf-8"))
    assert_self_contained(page)
    # the verdict: B fails with ratio 0.2 / 0.5 = 0.4 < 0.5 -> critical; C (n 5 < 30) is too small, a warning, and
    # so is B's FNR (20 actual positives < 30); postcode is a proxy of segment
    assert page.attrs("p", id="verdict")[0]["class"] == "verdict level-critical"
    assert page.by_id("verdict") == ("Fails: 1 failing group(s), 1 too small to judge, 1 proxy input(s); 0 failing "
                                     "equal opportunity, 0 failing equalised odds; 2 warning(s).")
    assert "score >= 50; outcome won" in page.by_id("summary")
    tables = [r for r in page.rows]
    heads = [r for r in tables if r and r[0] in ("group", "input", "dimension")]
    # the selection table, the error-rate table, proxies, warnings
    assert [h[0] for h in heads] == ["group", "group", "input", "dimension"]
    rows = [r for r in tables if r and r[0] == "B"]
    # B: 10/50 = 0.200, Wilson [0.112, 0.330]; ratio 0.2 / 0.5 = 0.40; diff -0.300; z = -5/sqrt(2) = -3.54
    assert rows[0] == ["B", "50", "10", "0.200 [0.112, 0.330]", "0.40", "-0.300", "-3.54",
                       "fails four-fifths (critical)"]
    # B's error rates: TPR 8/20 = 0.400; FPR 2/30 = 0.067 vs A's 10/50 = 0.200 (ratio 0.33, diff -0.133);
    # FNR 12/20 = 0.600 vs 10/50 = 0.200 (ratio 3.00, diff +0.400, pooled z = 0.4 / sqrt(22/70 * 48/70 * (1/20 + 1/50))
    # = +3.26), not judged: 20 actual positives < 30
    assert rows[1][:2] == ["B", "0.400"] and rows[1][2].startswith("0.067 [") and rows[1][3:5] == ["0.33", "-0.133"]
    assert rows[1][6].startswith("0.600 [") and rows[1][7:10] == ["3.00", "+0.400", "+3.26"]
    assert rows[1][10:] == ["too few to judge", "too few to judge"]
    assert [r for r in tables if r and r[0] == "postcode"][0][:5] == ["postcode", "segment", "cramers_v", "1.000",
                                                                      "proxy"]
    warnings = [r for r in tables if r and r[0] == "segment"]
    assert [(w[1], w[2], w[3]) for w in warnings] == [("C", "5", "30"), ("B", "20", "30")]
    # selection chart: axis top = nice(C's Wilson high 0.882 * 1.1) = 1, x(v) = 150 + 490 v
    assert page.attrs("figure", id="chart-selection-segment")
    dots = [a["cx"] for a in page.attrs("circle")]
    assert dots[:3] == ["395.0", "248.0", "444.0"]  # A 0.5, B 0.2, C 0.6
    # the reference line at A's 0.5 and the four-fifths line at 0.8 x 0.5 = 0.4
    assert [a["x1"] for a in page.attrs("line") if a.get("stroke-width") == "1.5"][:2] == ["395.0", "346.0"]
    text = "".join(page.text)
    assert "reference A" in text and "0.8 × reference" in text and "20.0% (n 50)" in text
    # error-rate chart: TPR, FPR and FNR of every group (3 groups x 3 rates)
    assert page.attrs("figure", id="chart-errors-segment")
    assert [a["data-series"] for a in page.attrs("g", **{"class": "point"})][-9:] == ["TPR", "FPR", "FNR"] * 3
    assert "TPR 40.0%" in text and "FNR 60.0%" in text


def test_bias_html_adverse_decision_draws_the_lines_the_other_way(tmp_path, scored):
    out = tmp_path / "adverse.html"
    res = runner.invoke(audit_app, ["bias", str(scored), "--group", "segment", "--score", "score", "--cutoff", "50",
                                    "--adverse", "--reference", "segment=B", "--min-group-size", "30",
                                    "--no-proxies", "--html", str(out)])
    assert res.exit_code == 1, res.output
    page = Page(out.read_text(encoding="utf-8"))
    assert page.attrs("figure", id="chart-selection-segment")
    assert "Adverse-decision rate by segment" in "".join(page.text) and "ADVERSE" in page.by_id("summary")
    # A is flagged 50/100 against the reference B's 10/50: favourable ratio 0.5 / 0.8 = 0.62, adverse ratio 2.50
    (a_row,) = [r for r in page.rows if r and r[0] == "A"]
    assert a_row[4:6] == ["0.62", "2.50"] and a_row[-1].endswith("(critical)")
    # lines (axis to 1, x = 150 + 490 v): reference adverse rate 0.2 -> 248.0; 1.25 x 0.2 = 0.25 -> 272.5; the
    # favourable four-fifths line 1 - 0.8 x (1 - 0.2) = 0.36 -> 326.4
    assert [a["x1"] for a in page.attrs("line") if a.get("stroke-width") == "1.5"] == ["248.0", "272.5", "326.4"]
    assert page.attrs("p", id="verdict")[0]["class"] == "verdict level-critical"


def test_bias_html_with_json_keeps_stdout_one_document(tmp_path, scored):
    out = tmp_path / "page.html"
    res = runner.invoke(audit_app, ["bias", str(scored), "--group", "segment", "--score", "score", "--cutoff", "10",
                                    "--no-proxies", "--json", "--html", str(out)])
    assert res.exit_code == 1, res.output  # every group selected at 100 %; C (n 5 < 50) is a warning
    assert json.loads(res.stdout)["failed"] is False
    page = Page(out.read_text(encoding="utf-8"))
    assert page.attrs("p", id="verdict")[0]["class"] == "verdict level-warn"
    assert page.by_id("verdict") == ("Warnings: 0 failing group(s), 1 too small to judge, 0 proxy input(s); "
                                     "1 warning(s).")
    assert not page.attrs("figure", id="chart-errors-segment")  # no outcome, no error-rate chart
    res = runner.invoke(audit_app, ["bias", str(scored), "--group", "segment", "--score", "score", "--cutoff", "10",
                                    "--no-proxies", "--min-group-size", "5", "--html", str(out)])
    assert res.exit_code == 0, res.output
    page = Page(out.read_text(encoding="utf-8"))
    assert page.attrs("p", id="verdict")[0]["class"] == "verdict level-ok"
    assert page.by_id("verdict").startswith("Passes: 0 failing group(s), 0 too small to judge")


def test_bias_html_escapes_group_values_from_the_file(tmp_path):
    path = tmp_path / "hostile.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([("grp", "score"), *((g, s) for g in (HOSTILE, "plain") for s in (80, 20) * 5)])
    out = tmp_path / "page.html"
    res = runner.invoke(audit_app, ["bias", str(path), "--group", "grp", "--score", "score", "--cutoff", "50",
                                    "--no-proxies", "--html", str(out)])
    assert res.exit_code == 1, res.output  # both groups (n 10) are under 50: warnings
    page = Page(out.read_text(encoding="utf-8"))
    assert_self_contained(page)
    assert HOSTILE in [r[0] for r in page.rows]


def test_bias_html_to_an_unwritable_path_is_one_line_exit_2(tmp_path, scored):
    res = runner.invoke(audit_app, ["bias", str(scored), "--group", "segment", "--score", "score", "--cutoff", "50",
                                    "--no-proxies", "--html", str(tmp_path)])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and f"--html {tmp_path}: cannot write the page" in res.stderr
