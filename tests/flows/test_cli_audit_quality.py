"""`steward audit quality` through the real command: the table, the JSON document, --fail-on and exit codes, every
format, bad input as one line with exit 2, and a start that imports no heavy library."""

from __future__ import annotations

import json
from html.parser import HTMLParser
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from steward.flows.cli import app

runner = CliRunner()

# Six orders, worked by hand: order_id 3 twice (1 duplicate row: critical); email null once (1/6 = 16.7% > 5%:
# warn); status 'n/a' once (16.7% > 1%, not > 20%: warn); amount 20 21 22 23 24 and 9000 -> median 22.5,
# deviations 0.5 0.5 1.5 1.5 2.5 8977.5 -> MAD 1.5, bounds 22.5 +- 3.5 * 1.5 / 0.6745 = 22.5 +- 7.78: one outlier
# (1/6 > 5%: warn); placed_at 2026-01-01 .. 2026-01-06, none out of 2026-01-01..2026-12-31.
ORDERS = """select * from (values
 (1, 'a@x.io', 'paid',     20.0,   date '2026-01-01'),
 (2, 'b@x.io', 'paid',     21.0,   date '2026-01-02'),
 (3, null,     'refunded', 22.0,   date '2026-01-03'),
 (3, 'd@x.io', 'N/A',      23.0,   date '2026-01-04'),
 (5, 'e@x.io', 'paid',     24.0,   date '2026-01-05'),
 (6, 'f@x.io', 'paid',     9000.0, date '2026-01-06')
) t(order_id, email, status, amount, placed_at)"""
CLEAN = "select i as order_id, 'paid' as status, (i % 3)::double as amount from range(30) r(i)"


def write(tmp_path: Path, name: str, sql: str = ORDERS) -> Path:
    path = tmp_path / name
    with duckdb.connect() as con:
        if path.suffix == ".duckdb":
            with duckdb.connect(str(path)) as out:
                out.execute(f"create table main.orders as {sql}")
        else:
            fmt = {".csv": "(header, format csv)", ".parquet": "(format parquet)", ".ndjson": "(format json)"}
            con.execute(f"copy ({sql}) to '{path}' {fmt[path.suffix]}")
    return path


def audit(*args: object):
    return runner.invoke(app, ["audit", "quality", *map(str, args)])


def test_table_output_and_exit_1(tmp_path):
    res = audit(write(tmp_path, "orders.csv"), "--key", "order_id")
    assert res.exit_code == 1, res.output
    out = res.stdout
    assert "Quality profile of" in out and "6 rows, 5 columns" in out
    assert "1 (16.7%)" in out and "(email)" in out  # email: one null, and its min/max withheld
    assert "key (order_id): 5 distinct, 1 duplicated, 1 duplicate rows, 0 rows with a null key; critical" in out
    assert "quality.duplicate_key_rows" in out and "quality.outlier_share" in out
    assert "4 finding(s): 1 critical, 3 warn, 0 info." in out


def test_json_is_one_document_with_columns_and_findings(tmp_path):
    res = audit(write(tmp_path, "orders.parquet"), "--key", "order_id", "--range", "placed_at=2026-01-01..2026-12-31",
                "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert (doc["rows"], doc["exact"], doc["severity"]) == (6, True, "critical")
    cols = {c["name"]: c for c in doc["columns"]}
    assert cols["email"]["nulls"] == {"count": 1, "share": pytest.approx(1 / 6), "severity": "warn"}
    assert (cols["email"]["min"], cols["email"]["max"], cols["email"]["masked"]) == (None, None, "email")
    assert cols["status"]["placeholders"]["values"] == {"n/a": 1} and cols["status"]["distinct"]["count"] == 3
    outliers = cols["amount"]["outliers"]
    assert (outliers["method"], outliers["median"], outliers["mad"], outliers["count"]) == ("mad", 22.5, 1.5, 1)
    assert outliers["high"] == pytest.approx(22.5 + 3.5 * 1.5 / 0.6745)
    assert (cols["amount"]["min"], cols["amount"]["max"]) == (20.0, 9000.0)
    assert cols["placed_at"]["range"] == {"min": "2026-01-01", "max": "2026-12-31", "origin": "--range", "count": 0,
                                          "share": 0.0, "severity": None}
    assert doc["key"]["duplicate_rows"] == 1 and doc["key"]["severity"] == "critical"
    assert sorted((f["check_id"], f["severity"]) for f in doc["findings"]) == [
        ("quality.duplicate_key_rows", "critical"), ("quality.null_share", "warn"),
        ("quality.outlier_share", "warn"), ("quality.placeholder_share", "warn")]
    assert "a@x.io" not in res.stdout  # no value of a text column leaves the warehouse


@pytest.mark.parametrize("fail_on,code", [("warn", 1), ("critical", 1), ("never", 0)])
def test_fail_on_with_a_duplicate_key(tmp_path, fail_on, code):
    assert audit(write(tmp_path, "o.parquet"), "--key", "order_id", "--fail-on", fail_on).exit_code == code


def test_fail_on_critical_passes_warnings_and_a_clean_file_exits_0(tmp_path):
    orders = write(tmp_path, "o.parquet")
    assert audit(orders, "--fail-on", "critical").exit_code == 0  # without --key only warnings remain
    assert audit(orders).exit_code == 1
    res = audit(write(tmp_path, "clean.parquet", CLEAN), "--key", "order_id")
    assert res.exit_code == 0, res.output
    assert "0 finding(s)" in res.stdout


@pytest.mark.parametrize("name,table", [("o.csv", None), ("o.parquet", None), ("o.ndjson", None),
                                        ("w.duckdb", "main.orders")])
def test_every_format_gives_the_same_profile(tmp_path, name, table):
    args = [write(tmp_path, name), "--key", "order_id", "--json"] + (["--table", table] if table else [])
    doc = json.loads(audit(*args).stdout)
    cols = {c["name"]: c for c in doc["columns"]}
    assert doc["rows"] == 6 and doc["key"]["duplicate_rows"] == 1
    assert cols["amount"]["outliers"]["count"] == 1 and cols["status"]["placeholders"]["count"] == 1


@pytest.mark.parametrize("args,line", [
    (["--key", "nope"], "o.csv: no column 'nope' (columns: order_id, email, status, amount, placed_at)"),
    (["--range", "ghost=0..1"], "o.csv: no column 'ghost'"),
    (["--range", "amount=10"], "--range 'amount=10': write COLUMN=MIN..MAX"),
    (["--range", "amount=5..1"], "--range 'amount=5..1': the minimum is above the maximum"),
    (["--range", "status=0..1"], "o.csv: column 'status' is VARCHAR; a range (--range) applies only to number"),
    (["--range", "placed_at=0..1"], "o.csv: column 'placed_at' is DATE; its range (--range 0..1) needs dates"),
])
def test_bad_input_is_one_line_naming_file_and_column_exit_2(tmp_path, args, line):
    res = audit(write(tmp_path, "o.csv"), *args)
    assert res.exit_code == 2, res.output
    assert res.stdout == "" and line in res.stderr and res.stderr.count("\n") == 1


def test_a_bad_fail_on_is_one_line(tmp_path):
    res = audit(write(tmp_path, "o.csv"), "--fail-on", "sometimes")
    assert (res.exit_code, res.stderr.splitlines()) == (
        2, ["error: --fail-on must be one of info, warn, critical, never, not 'sometimes'"])


def test_empty_file_and_missing_file_are_one_line(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("order_id,status\n", encoding="utf-8")
    res = audit(empty)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert "empty.csv: the file has no rows (columns: order_id, status)" in res.stderr  # open_source says it
    res = audit(tmp_path / "gone.parquet")
    assert res.exit_code == 2 and "gone.parquet: file not found" in res.stderr


def test_policy_levels_decide_the_severity(tmp_path):
    """Raise the null level above 1/6 and the outlier z above the 9000's: only the placeholder warning is left."""
    policy = tmp_path / "policy.yaml"
    from steward.contracts.policy import DEFAULT_POLICY
    from importlib import resources
    text = resources.files("steward.contracts").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")
    text = text.replace("null_share: {info: 0, warn: 0.05, critical: 0.5}", "null_share: {warn: 0.2}")
    text = text.replace("outlier_z: 3.5 ", "outlier_z: 5000 ")
    policy.write_text(text, encoding="utf-8")
    # 9000 - 22.5 = 8977.5 < 5000 * 1.5 / 0.6745 = 11119.3: not an outlier any more
    doc = json.loads(audit(write(tmp_path, "o.parquet"), "--policy", policy, "--json").stdout)
    assert [(f["check_id"], f["severity"]) for f in doc["findings"]] == [("quality.placeholder_share", "warn")]


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom steward.flows.cli import app\n"
            "try:\n    app(['audit', 'quality', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('loaded:', sorted({m.split('.')[0] for m in sys.modules} & "
            "{'duckdb', 'pandas', 'numpy', 'prefect', 'dbt', 'pandera', 'jinja2', 'sqlglot', 'httpx'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "loaded: []"


# --- --html -----------------------------------------------------------------------------------------------------

class Page(HTMLParser):
    """Start tags with attributes, table rows as cell texts, and all text, as a browser reads the page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def attrs(self, tag: str, **match: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in match.items())]


def test_html_page_has_the_printed_table_charts_key_and_findings(tmp_path):
    out = tmp_path / "quality.html"
    res = audit(write(tmp_path, "orders.csv"), "--key", "order_id", "--html", out)
    assert res.exit_code == 1, res.output  # the page does not change the exit code
    page = Page(out.read_text(encoding="utf-8"))
    assert not [t for t, _ in page.tags if t in ("script", "link", "img", "iframe")]
    assert page.attrs("p", id="verdict")[0]["class"] == "verdict level-critical"
    rows = {r[0]: r for r in page.rows}
    # the printed columns table, cell for cell: email 1 null of 6; amount 1 outlier of 6 (see ORDERS)
    assert rows["column"] == ["column", "type", "nulls", "placeholders", "distinct", "min", "max", "out of range",
                              "outliers", "severity"]
    assert rows["email"] == ["email", "VARCHAR", "1 (16.7%)", "0", "5", "(email)", "(email)", "–", "–", "warn"]
    assert rows["amount"][5:] == ["20", "9,000", "–", "1 (16.7%)", "warn"]
    assert rows["distinct keys"] and ["5", "1", "1", "2", "0"] in page.rows
    assert rows["critical"][:3] == ["critical", "quality.duplicate_key_rows", "orders: (order_id)"]
    # charts: missing values for every column, outliers for the numeric ones (order_id, amount)
    assert [a["data-label"] for a in page.attrs("g", **{"class": "bar"})] == [
        "order_id", "email", "status", "amount", "placed_at", "order_id", "amount"]
    text = "".join(page.text)
    assert "16.7% null, 0.0% placeholder" in text and "a@x.io" not in text


def test_html_with_json_keeps_stdout_one_document_and_escapes_names(tmp_path):
    hostile = '<script>alert(1)</script>'
    path = write(tmp_path, "h.parquet", f'select i as "{hostile}" from range(5) r(i)')
    out = tmp_path / "page.html"
    res = audit(path, "--json", "--html", out)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["columns"][0]["name"] == hostile
    page = Page(out.read_text(encoding="utf-8"))
    assert not page.attrs("script") and hostile in [r[0] for r in page.rows]
    assert page.attrs("p", id="verdict")[0]["class"] == "verdict level-ok"


def test_html_to_an_unwritable_path_is_one_line_exit_2(tmp_path):
    res = audit(write(tmp_path, "o.parquet"), "--html", tmp_path)
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and f"--html {tmp_path}: cannot write the page" in res.stderr
