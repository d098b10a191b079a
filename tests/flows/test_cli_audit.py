"""`steward audit bias` on real files: the table, the JSON document, exit codes, and the demo's injected bias."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from steward.flows.bias_audit import audit_bias
from steward.flows.cli.audit import audit_app

runner = CliRunner()


def _rows(group: str, tp: int, fp: int, fn: int, tn: int) -> list[dict]:
    cells = [(80.0, True)] * tp + [(80.0, False)] * fp + [(20.0, True)] * fn + [(20.0, False)] * tn
    return [{"segment": group, "score": s, "band": "hot" if s > 50 else "cold", "won": y} for s, y in cells]


@pytest.fixture
def scored(tmp_path) -> Path:
    """A: 50 of 100 selected (tp40 fp10 fn10 tn40); B: 10 of 50 (tp8 fp2 fn12 tn28); C: 3 of 5 (too small)."""
    df = pd.DataFrame(_rows("A", 40, 10, 10, 40) + _rows("B", 8, 2, 12, 28) + _rows("C", 2, 1, 1, 1))
    df["postcode"] = df["segment"].map({"A": "PC-1000", "B": "PC-2000", "C": "PC-3000"})
    path = tmp_path / "scored.csv"
    df.sample(frac=1, random_state=4).to_csv(path, index=False)
    return path


def audit(*args: str):
    return runner.invoke(audit_app, ["bias", *map(str, args)])


def test_table_output_and_exit_1_on_a_failing_group(scored):
    res = audit(scored, "--group", "segment", "--score", "score", "--cutoff", "50", "--min-group-size", "30")
    assert res.exit_code == 1, res.output
    out = res.stdout
    assert "segment  (reference: A, largest)" in out
    assert "0.200 [0.112, 0.330]" in out and "0.40" in out and "-3.54" in out
    assert "fails four-fifths (critical)" in out and "too small to judge" in out
    assert "1 failing group(s), 1 too small to judge" in out


def test_json_document_has_counts_rates_disparities_intervals_verdicts(scored):
    res = audit(scored, "--group", "segment", "--score", "score", "--cutoff", "50", "--outcome", "won",
                "--min-group-size", "30", "--json", "--inputs", "postcode")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    (dim,) = doc["dimensions"]
    groups = {g["group"]: g for g in dim["groups"]}
    b = groups["B"]
    assert b["n"] == 50 and b["counts"] == {"positives": 10, "tp": 8, "fp": 2, "fn": 12, "tn": 28}
    assert b["rates"]["selection_rate"]["value"] == 0.2
    assert (round(b["rates"]["selection_rate"]["ci_low"], 4), round(b["rates"]["selection_rate"]["ci_high"], 4)) \
        == (0.1124, 0.3304)
    assert b["rates"]["tpr"]["value"] == 0.4 and b["rates"]["fpr"]["value"] == pytest.approx(2 / 30)
    assert b["rates"]["fnr"]["value"] == 0.6 and b["rates"]["precision"]["value"] == 0.8
    assert b["vs_reference"]["disparity_ratio"] == pytest.approx(0.4)
    assert b["vs_reference"]["z"] == pytest.approx(-5 / math.sqrt(2))
    assert b["vs_reference"]["tpr_difference"] == pytest.approx(-0.4)
    assert (b["verdict"], b["severity"]) == ("fails_four_fifths", "critical")
    assert groups["A"]["verdict"] == "reference" and groups["C"]["verdict"] == "too_small"
    assert dim["failing"] == ["B"] and doc["failed"] is True
    (proxy,) = doc["proxies"]
    assert (proxy["input"], proxy["protected"], proxy["measure"], proxy["value"], proxy["verdict"]) == \
        ("postcode", "segment", "cramers_v", 1.0, "proxy")
    (finding,) = doc["findings"]
    assert finding["check_id"] == "bias.selection_rate_disparity" and finding["subject"] == "scored: segment=B"


def test_categorical_decision_explicit_reference_and_exit_0(scored):
    # C (n = 5) is a warning since #15: --fail-on critical lets it through, as nothing here is critical
    res = audit(scored, "--group", "segment", "--decision", "band", "--positive", "hot", "--reference", "segment=B",
                "--min-group-size", "30", "--json", "--no-proxies", "--fail-on", "critical")
    assert res.exit_code == 0, res.output
    assert [w["group"] for w in json.loads(res.stdout)["warnings"]] == ["C"]
    dim = json.loads(res.stdout)["dimensions"][0]
    assert (dim["reference_group"], dim["reference_rule"]) == ("B", "explicit")
    assert dim["favoured_over_reference"] == ["A"]


def test_duckdb_table_intersection_and_most_favoured(tmp_path, scored):
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.scores as select *, case when score > 50 then 'x' else 'y' end as region "
                    "from read_csv(?)", [str(scored)])
    res = audit(db, "--table", "marts.scores", "--group", "segment", "--group", "region", "--intersect",
                "--score", "score", "--cutoff", "50", "--reference", "most-favoured", "--min-group-size", "5",
                "--json", "--no-proxies")
    doc = json.loads(res.stdout)
    dims = {d["dimension"]: d for d in doc["dimensions"]}
    assert set(dims) == {"segment", "region", "segment x region"}
    assert dims["segment"]["reference_group"] == "C"  # 3 of 5, and n = 5 is big enough here
    assert {g["group"]: g["values"] for g in dims["segment x region"]["groups"]}["B / x"] == \
        {"segment": "B", "region": "x"}
    assert doc["source"].endswith("w.duckdb:marts.scores") and res.exit_code == 1


@pytest.mark.parametrize("args,message", [
    (["--group", "segmnt", "--score", "score", "--cutoff", "50"], "no column 'segmnt' (columns: segment, score"),
    (["--group", "segment", "--score", "score"], "score column 'score' needs a cut-off (--cutoff)"),
    (["--group", "segment", "--score", "score", "--cutoff", "1", "--decision", "band", "--positive", "hot"],
     "give either a score and a cut-off"),
    (["--group", "segment", "--score", "score", "--cutoff", "1", "--reference", "Z"],
     "reference group 'Z' is in no audited dimension"),
    (["--group", "segment", "--score", "score", "--cutoff", "1", "--inputs", "nope"], "no column 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(scored, args, message):
    res = audit(scored, *args)
    assert res.exit_code == 2
    assert res.stdout == "" and message in res.stderr and res.stderr.count("\n") == 1


def test_missing_file_exit_2(tmp_path):
    res = audit(tmp_path / "gone.parquet", "--group", "g", "--score", "s", "--cutoff", "1")
    assert res.exit_code == 2 and "gone.parquet: file not found" in res.stderr


def test_python_api_matches_cli(scored):
    api = audit_bias(scored, ["segment"], score="score", cutoff=50, min_group_size=30, proxies=False)
    cli = json.loads(audit(scored, "--group", "segment", "--score", "score", "--cutoff", "50",
                           "--min-group-size", "30", "--json", "--no-proxies").stdout)
    assert api.to_dict() == cli and api.failed


def test_demo_workspace_flags_55_64_only(tmp_path):
    """The demo injects a lead-scoring penalty on age band 55-64; audited from exported files, only it fails."""
    from steward.integrations.demo.generator import generate_workspace

    ws = generate_workspace(tmp_path / "demo", scale=0.3)
    joined = tmp_path / "lead_scores.parquet"
    f = {k: str(v) for k, v in ws.files.items()}
    with duckdb.connect() as con:
        con.execute(f"""copy (
            with people as (
                select Id, Age_Band__c as age_band, Gender__c as gender, Region__c as region
                from read_csv('{f["salesforce.contacts"]}')
                union all
                select Id, Age_Band__c, Gender__c, Region__c from read_csv('{f["salesforce.leads"]}'))
            select d.decision, d.score, p.age_band, p.gender, p.region
            from read_parquet('{f["decisions.ai_decisions"]}') as d join people as p on p.Id = d.subject_id
            where d.model_name = 'lead_scoring') to '{joined}' (format parquet)""")
    res = audit(joined, "--group", "age_band", "--group", "gender", "--group", "region",
                "--decision", "decision", "--positive", "priority", "--json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    failing = {(d["dimension"], g) for d in doc["dimensions"] for g in d["failing"]}
    assert failing == {("age_band", "55-64")}
    assert [f["subject"] for f in doc["findings"]] == ["lead_scores: age_band=55-64"]


def test_balanced_file_exits_0_without_findings(tmp_path):
    rows = [r for seg, k in (("A", 3), ("B", 2), ("C", 1)) for r in _rows(seg, 10 * k, 5 * k, 5 * k, 20 * k)]
    path = tmp_path / "balanced.parquet"
    pd.DataFrame(rows).to_parquet(path)
    res = audit(path, "--group", "segment", "--score", "score", "--cutoff", "50", "--outcome", "won",
                "--min-group-size", "1", "--reference", "most-favoured", "--json", "--no-proxies")
    doc = json.loads(res.stdout)
    assert res.exit_code == 0 and doc["findings"] == [] and doc["dimensions"][0]["demographic_parity_difference"] == 0


# --- #15: polarity, error-rate parity, no false green -----------------------------------------------------------


def _flagged(tmp_path, groups: dict[str, tuple[int, int, int, int]], name: str = "risk.csv") -> Path:
    """Rows of an ADVERSE decision: flag = 'high_risk' (flagged) or 'ok'; fraud = the known outcome.
    groups: label -> (tp, fp, fn, tn) where 'positive' = flagged and the outcome positive = fraud."""
    rows = [{"segment": label, "flag": flag, "fraud": fraud}
            for label, (tp, fp, fn, tn) in groups.items()
            for flag, fraud, k in (("high_risk", 1, tp), ("high_risk", 0, fp), ("ok", 1, fn), ("ok", 0, tn))
            for _ in range(k)]
    path = tmp_path / name
    pd.DataFrame(rows).sample(frac=1, random_state=7).to_csv(path, index=False)
    return path


def test_adverse_decision_fails_the_group_flagged_more_often(tmp_path):
    """A: 100 of 1000 flagged (a 0.10, f 0.90); B: 100 of 500 (a 0.20, f 0.80). Favourable-rate ratio 0.80 / 0.90 =
    0.889 passes four-fifths; adverse ratio 0.20 / 0.10 = 2.00 > 1.25 (not > 2.0: warn); z on favourable rates =
    -sqrt(2250/78) = -5.37. Read as favourable the same file passes B, hints B as the better reference and warns that
    the largest reference is itself disadvantaged."""
    path = _flagged(tmp_path, {"A": (50, 50, 50, 850), "B": (50, 50, 50, 350)})
    base = ["--group", "segment", "--decision", "flag", "--positive", "high_risk", "--no-proxies"]
    wrong = audit(path, *base)
    assert "passes" in wrong.stdout and "try --reference most-favoured" in wrong.stdout
    # ... and since A, the largest, is then the disadvantaged reference, B's pass is no green: a warning, exit 1
    assert wrong.exit_code == 1 and "reference A (the largest group) itself gets the favourable" in wrong.stdout
    res = audit(path, *base, "--adverse")
    assert res.exit_code == 1, res.output
    out = res.stdout
    assert "adverse decision" in out and "adverse ratio" in out and "fav. ratio" in out
    assert "0.89" in out and "2.00" in out and "-5.37" in out and "fails adverse ratio (warn)" in out
    assert "most-favoured" not in out
    doc = json.loads(audit(path, *base, "--adverse", "--json").stdout)
    assert doc["mapping"]["favourable"] is False
    b = {g["group"]: g for g in doc["dimensions"][0]["groups"]}["B"]
    assert b["vs_reference"]["adverse_ratio"] == pytest.approx(2.0)
    assert b["vs_reference"]["disparity_ratio"] == pytest.approx(8 / 9)
    assert b["favourable_rate"] == pytest.approx(0.8) and b["rates"]["selection_rate"]["value"] == 0.2
    (finding,) = doc["findings"]
    assert (finding["check_id"], finding["metric"], finding["severity"]) == \
        ("bias.adverse_rate_disparity", "adverse_ratio", "warn")
    # a warn-level finding does not fail a job gating on critical
    assert audit(path, *base, "--adverse", "--fail-on", "critical").exit_code == 0


def test_error_rate_parity_of_an_adverse_decision(tmp_path):
    """A: tp 40 fp 45 fn 10 tn 405 (FPR 45/450 = 0.10, FNR 0.20); B: tp 40 fp 64 fn 10 tn 336 (FPR 64/400 = 0.16,
    FNR 0.20). Wrongly flagged is the harm: FPR ratio 1.6 > 1.25, +0.06, z = 2.61 >= 2.58 -> equal opportunity fails
    (warn). The flag rate itself: 104/450 against 85/500, z = -2.36: four-fifths and adverse ratio pass."""
    path = _flagged(tmp_path, {"A": (40, 45, 10, 405), "B": (40, 64, 10, 336)})
    args = ["--group", "segment", "--decision", "flag", "--positive", "high_risk", "--outcome", "fraud",
            "--adverse", "--no-proxies"]
    res = audit(path, *args)
    assert res.exit_code == 1, res.output
    assert "equal opportunity = FPR parity" in res.stdout and "1.60" in res.stdout and "+2.61" in res.stdout
    assert "1 group(s) failing equal opportunity" in res.stdout
    doc = json.loads(audit(path, *args, "--json").stdout)
    dim = doc["dimensions"][0]
    b = {g["group"]: g for g in dim["groups"]}["B"]
    assert b["verdict"] == "passes"
    parity = b["error_parity"]
    assert parity["fpr"]["ratio"] == pytest.approx(1.6) and parity["fpr"]["difference"] == pytest.approx(0.06)
    assert parity["fpr"]["z"] == pytest.approx(2.6114, abs=1e-4) and parity["fpr"]["harm"] == "higher"
    assert (parity["equal_opportunity"], parity["equalised_odds"], parity["severity"]) == ("fails", "fails", "warn")
    assert b["rates"]["fpr"]["value"] == 0.16 and b["rates"]["fpr"]["ci_low"] < 0.16 < b["rates"]["fpr"]["ci_high"]
    assert dim["error_parity"]["equal_opportunity_rate"] == "fpr"
    assert dim["error_parity"]["equal_opportunity_failing"] == ["B"]
    assert dim["error_parity"]["false_positive_rate_ratio"] == pytest.approx(0.625)  # 0.10 / 0.16
    assert [f["check_id"] for f in doc["findings"]] == ["bias.equal_opportunity"]


def test_a_reference_of_one_is_a_warning_and_exit_1(tmp_path):
    """The issue: '--reference A' with A a single person gave exit 0 and every group 'passes'."""
    path = _flagged(tmp_path, {"A": (0, 1, 0, 0), "B": (10, 10, 10, 70), "C": (30, 30, 20, 20)})
    args = ["--group", "segment", "--decision", "flag", "--positive", "high_risk", "--reference", "A",
            "--no-proxies"]
    res = audit(path, *args)
    assert res.exit_code == 1, res.output
    assert "warning: segment: the reference group A (explicit) has n = 1, below the 50" in res.stdout
    assert "not judged: reference too small" in res.stdout and "passes" not in res.stdout
    doc = json.loads(audit(path, *args, "--json").stdout)
    assert [(w["kind"], w["group"], w["severity"]) for w in doc["warnings"]] == \
        [("reference_too_small", "A", "warn")]
    assert doc["findings"] == [] and doc["failed"] is False
    assert audit(path, *args, "--fail-on", "critical").exit_code == 0
    assert audit(path, *args, "--fail-on", "never").exit_code == 0


def test_fail_on_bad_level_is_exit_2(scored):
    res = audit(scored, "--group", "segment", "--score", "score", "--cutoff", "50", "--fail-on", "sometimes")
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr == "error: --fail-on must be one of info, warn, critical, never, not 'sometimes'\n"
