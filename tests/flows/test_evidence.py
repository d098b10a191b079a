"""`steward evidence`: the pack an auditor files, written from the ledgers of a real governance run (the session's
governed demo, tests/governed.py), mapped to obligations by the policy's data, free of PII and secrets, and honest
about the audit log's hash chain."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from governed import demo_run_copy
from steward.contracts.errors import ConfigError
from steward.contracts.obligations import Obligation, coverage
from steward.contracts.policy import load_policy
from steward.flows.cli import app
from steward.flows.config import load_config
from steward.flows.evidence import parse_window
from steward.integrations.warehouse import Warehouse, ledger

pytestmark = pytest.mark.slow

FILES = {"index.md", "index.html", "runs.csv", "checks.csv", "findings.csv", "actions.csv", "audit_log.csv",
         "obligations.csv", "obligations.json", "audit_verification.json", "manifest.json", "landing.csv",
         "campaign_controls.csv", "incidents.csv", "bias__selection_rates.csv", "consent__channel_purpose.csv",
         "privacy__erasure.csv", "oversight__unreviewed.csv"}
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SLACK_TOKEN = re.compile(r"xox[abpre]-[A-Za-z0-9-]+")
AUDIT_KEY = "evidence-test-audit-key-0123456789"
SLACK_SECRET = "xoxb-1111-2222-evidencetesttoken"


@pytest.fixture(scope="module")
def demo(prefect_harness, tmp_path_factory):
    """The session's governed demo (one real governance run), copied for this module."""
    return demo_run_copy(tmp_path_factory, "evidence", scale=0.2).config


def evidence(config: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["evidence", "--since", "2000-01-01", "--out", str(out), "-c", str(config),
                                    *extra])


@pytest.fixture(scope="module")
def pack(demo, tmp_path_factory):
    """The pack, written with an audit key and a Slack token in the environment: neither may reach any file."""
    out = tmp_path_factory.mktemp("pack") / "evidence"
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ledger.AUDIT_KEY_ENV, AUDIT_KEY)
        env.setenv("SLACK_BOT_TOKEN", SLACK_SECRET)
        result = evidence(demo, out)
    assert result.exit_code == 0, result.output
    return out


def test_the_pack_holds_every_file_and_the_manifest_hashes_them(pack):
    names = {p.name for p in pack.iterdir()}
    assert FILES <= names
    manifest = json.loads((pack / "manifest.json").read_text())
    assert set(manifest["files"]) == names - {"manifest.json"}
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((pack / name).read_bytes()).hexdigest() == entry["sha256"], name
    findings = pd.read_csv(pack / "findings.csv")
    assert {"check_id", "first_seen_at", "last_seen_at", "resolution", "actions_taken"} <= set(findings.columns)
    assert not findings.empty and findings["resolution"].notna().all()
    actions = pd.read_csv(pack / "actions.csv")
    assert {"action", "target", "decided_by", "outcome"} <= set(actions.columns)
    assert "pause" in set(actions["action"]) and not actions["action"].str.endswith("-intent").any()
    paused = findings[findings["actions_taken"].fillna("").str.contains("pause")]
    assert not paused.empty  # a paused campaign's finding says what was done about it


def test_campaigns_carry_their_names_and_one_id_form(pack):
    controls = pd.read_csv(pack / "campaign_controls.csv")
    assert "paused" in set(controls["state"])
    named = controls[controls["campaign"].notna()]
    assert not named.empty  # "Product Launch Teaser (hubspot 700002)": the directory's name, platform and id
    for r in named.itertuples():
        assert r.campaign.endswith(f" {r.campaign_id})")
    actions = pd.read_csv(pack / "actions.csv")
    pauses = actions[actions["action"] == "pause"]
    assert pauses["campaign"].notna().any()
    assert set(named["campaign"]) <= set(actions["campaign"].dropna())  # the same label in both tables
    assert named["campaign"].iloc[0] in (pack / "index.md").read_text()


def test_what_was_checked_and_when(pack, demo):
    runs = pd.read_csv(pack / "runs.csv")
    assert len(runs) == 1 and runs["status"].tolist() == ["completed"]
    checks = pd.read_csv(pack / "checks.csv")
    policy = load_policy(load_config(demo).policy)
    assert set(checks["check_id"]) == set(policy.checks)
    assert runs["checks_evaluated"].iloc[0] == (checks["evaluated"] == "yes").sum()
    assert checks["findings"].sum() == len(pd.read_csv(pack / "findings.csv"))


def test_every_obligation_in_the_policy_has_evidence(pack, demo):
    table = load_policy(load_config(demo).policy).obligation_table()
    rows = pd.read_csv(pack / "obligations.csv").set_index("obligation_id")
    assert list(rows.index) == list(table)
    articles = {(o.law, o.article) for o in table.values()}
    assert {("GDPR", "Art. 5(1)(c)"), ("GDPR", "Art. 7(1)"), ("GDPR", "Art. 17 and 19"), ("GDPR", "Art. 21"),
            ("GDPR", "Art. 22"), ("GDPR", "Art. 30"), ("EU AI Act", "Art. 12"), ("EU AI Act", "Art. 13"),
            ("EU AI Act", "Art. 14"), ("EU AI Act", "Art. 26(6)")} <= articles
    for oid in table:
        assert rows.loc[oid, "evidenced"] == "yes", (oid, rows.loc[oid, "missing"])
        assert isinstance(rows.loc[oid, "evidence"], str) and rows.loc[oid, "evidence"]
    index = (pack / "index.md").read_text()
    for ob in table.values():
        assert ob.article in index and ob.title in index


def test_no_email_address_or_secret_in_any_file(pack):
    for path in pack.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not EMAIL.search(text), (path.name, EMAIL.search(text).group())
        assert not SLACK_TOKEN.search(text), path.name
        assert AUDIT_KEY not in text and SLACK_SECRET not in text, path.name
    html = (pack / "index.html").read_text()
    assert "<script" not in html.lower() and "<svg" in html  # self-contained: the bias charts, no scripts


def test_the_hash_chain_verifies_and_the_pack_says_so(pack, demo):
    verification = json.loads((pack / "audit_verification.json").read_text())
    check = ledger.check_audit_log(Warehouse(load_config(demo).warehouse), None)
    assert verification["verified"] is True and verification["problem"] is None
    assert verification["head"] == check.head.text and verification["rows"] == check.rows > 0
    assert "**Verified**" in (pack / "index.md").read_text()
    assert check.head.text in (pack / "index.html").read_text()


def test_a_tampered_audit_log_is_not_verified(demo, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(demo.parent, copy, symlinks=True)
    config = copy / demo.name
    with Warehouse(load_config(config).warehouse).connect() as con:
        con.execute("update ledger.audit_log set outcome = 'nothing happened' where seq = 2")
    result = evidence(config, tmp_path / "pack")
    assert result.exit_code == 0, result.output  # the pack is written: "NOT verified" is itself the evidence
    verification = json.loads((tmp_path / "pack" / "audit_verification.json").read_text())
    assert verification["verified"] is False and "row 2" in verification["problem"]
    assert "**NOT verified**" in (tmp_path / "pack" / "index.md").read_text()
    assert "NOT verified" in (tmp_path / "pack" / "index.html").read_text()


def test_zip_writes_one_archive_with_the_same_files(demo, tmp_path):
    result = evidence(demo, tmp_path / "evidence", "--zip")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "evidence").exists() and not list(tmp_path.glob(".*"))
    with zipfile.ZipFile(tmp_path / "evidence.zip") as archive:
        names = {Path(n).name for n in archive.namelist()}
    assert FILES <= names


def test_an_existing_out_folder_is_never_written_over(demo, tmp_path):
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "keep.txt").write_text("mine")
    result = evidence(demo, tmp_path / "evidence")
    assert result.exit_code == 2 and result.stderr.splitlines()[0].startswith("error: --out:")
    assert [p.name for p in (tmp_path / "evidence").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("args, option", [
    (["--since", "2026-13-01"], "--since"),
    (["--since", "yesterday"], "--since"),
    (["--since", "2026-12-01", "--until", "2026-11-01"], "--until"),
    (["--since", "2026-12-01", "--until", "soon"], "--until"),
])
def test_a_bad_since_or_until_is_one_line_naming_the_option(args, option, tmp_path):
    result = CliRunner().invoke(app, ["evidence", *args, "--out", str(tmp_path / "p"), "-c", "nope.yaml"])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(f"error: {option}:")
    assert not (tmp_path / "p").exists()


def test_an_empty_window_is_one_line_and_exit_2(demo, tmp_path):
    result = CliRunner().invoke(app, ["evidence", "--since", "2001-01-01", "--until", "2001-01-31",
                                      "--out", str(tmp_path / "p"), "-c", str(demo)])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "no governance run started" in result.stderr
    assert not (tmp_path / "p").exists() and not list(tmp_path.glob(".*"))


def _default_policy() -> dict:
    return yaml.safe_load(resources.files("steward.contracts").joinpath("policy.yaml").read_text())


def test_a_policy_naming_an_unknown_evidence_kind_is_refused_at_load(demo, tmp_path):
    data = _default_policy()
    data["obligations"]["gdpr.art21"]["evidence"] = ["consent", "horoscope"]
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"obligations\.gdpr\.art21.*unknown evidence kind 'horoscope'"):
        load_policy(tmp_path / "policy.yaml")
    settings = yaml.safe_load(demo.read_text())
    config = tmp_path / "steward.yaml"
    config.write_text(yaml.safe_dump({**settings, "policy": str(tmp_path / "policy.yaml"),
                                      "warehouse": str(load_config(demo).warehouse)}))
    result = CliRunner().invoke(app, ["evidence", "--since", "2000-01-01", "--out", str(tmp_path / "p"),
                                      "-c", str(config)])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "unknown evidence kind 'horoscope'" in result.stderr and not (tmp_path / "p").exists()


def test_a_policy_naming_an_unknown_check_is_refused_and_no_policy_means_the_default_table(tmp_path):
    data = _default_policy()
    data["obligations"]["gdpr.art21"]["checks"] = ["consent.send_after_opt_outt"]
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"obligations\.gdpr\.art21\.checks: unknown check id"):
        load_policy(tmp_path / "policy.yaml")
    del data["obligations"]
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(data))
    assert load_policy(tmp_path / "policy.yaml").obligation_table() == load_policy().obligations


def test_coverage_counts_only_what_the_window_holds():
    obligations = {"gdpr.art21": Obligation(title="Object", law="GDPR", article="Art. 21", evidence=["consent"],
                                            checks=["consent.send_after_opt_out"]),
                   "eu_ai_act.art14": Obligation(title="Oversight", law="EU AI Act", article="Art. 14",
                                                 families=["human_oversight"])}
    families = {"consent.send_after_opt_out": "privacy_consent", "oversight.review_coverage": "human_oversight"}
    empty = coverage(obligations, {"consent": (0, "consent__x.csv")}, {}, families, {})
    assert [c.evidenced for c in empty] == [False, False]
    full = coverage(obligations, {"consent": (4, "consent__x.csv")}, {"oversight.review_coverage": 2}, families,
                    {"oversight.review_coverage": 1})
    assert [c.evidenced for c in full] == [True, True]
    assert full[1].pieces[0].detail == "1 check, evaluated in 2 runs, 1 finding"


def test_parse_window_takes_dates_as_whole_days_in_utc():
    window = parse_window("2026-12-01", "2026-12-31")
    assert window.since == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert window.until == datetime(2027, 1, 1, tzinfo=timezone.utc)  # the 31st included
    assert parse_window("2026-12-01T10:00:00+01:00", "2026-12-02").since == datetime(2026, 12, 1, 9,
                                                                                    tzinfo=timezone.utc)
    with pytest.raises(ConfigError, match="^--until: "):
        parse_window("2026-12-02", "2026-12-01")


def test_a_warehouse_with_one_failed_run_and_no_marts_gives_an_honest_pack(tmp_path):
    """No build ever finished: the pack is still written, says what it holds, and evidences nothing it has not got."""
    from steward.flows.evidence import write_pack

    wh = Warehouse(tmp_path / "w.duckdb")
    ledger.start_run(wh, "run-1", "scheduled", None)
    ledger.finish_run(wh, "run-1", "failed", {"error": "salesforce: 503"})
    ledger.append_audit(wh, run_id="manual", fingerprint=None, check_id=None, action="resume", target="hubspot:1",
                        decided_by="person:ana", reason="fixed", outcome="resumed")
    out = write_pack(wh, load_policy(), parse_window("2000-01-01"), tmp_path / "pack")
    rows = pd.read_csv(out / "obligations.csv").set_index("obligation_id")
    assert rows.loc["gdpr.art7_1", "evidenced"] == "no"  # no consent figures, no consent check evaluated
    assert "not evaluated in the window" in rows.loc["gdpr.art7_1", "missing"]
    assert rows.loc["eu_ai_act.art12", "evidenced"] == "yes"  # the run and the audit log are there
    assert pd.read_csv(out / "runs.csv")["checks_evaluated"].tolist() == [0]
    assert json.loads((out / "audit_verification.json").read_text())["verified"] is True
    assert "**no**" in (out / "index.md").read_text()


def test_the_docs_list_every_obligation_and_evidence_kind():
    from steward.contracts.obligations import EVIDENCE_KINDS

    page = (Path(__file__).resolve().parents[2] / "docs" / "evidence.md").read_text(encoding="utf-8")
    for oid, ob in load_policy().obligation_table().items():
        assert f"| `{oid}` | {ob.law} | {ob.article} |" in page, oid
    for kind in EVIDENCE_KINDS:
        assert f"`{kind}`" in page, kind


def test_a_findings_resolution_says_how_it_ended():
    from steward.contracts.obligations import resolution

    assert resolution("run-1", "run-2", "resolved", "2026-12-02T10:00:00Z", "run-2") == \
        "resolved 2026-12-02T10:00:00Z by run run-2: no longer found"
    assert resolution("run-1", "run-2", "open", None, None) == \
        "not found again by run run-2, the last completed run in the window"
    assert resolution("run-2", "run-2", "open", None, None) == "open at the end of the window"


def test_findings_across_two_runs_keep_their_first_sighting_and_say_which_ended(tmp_path):
    """Two runs written by the ledger's own functions: a finding both saw is one row seen twice since the first
    run; one only the first saw is "not found again" by the second; each run's checks are counted."""
    import time

    from steward.contracts.finding import Finding
    from steward.flows.evidence import collect_pack

    wh = Warehouse(tmp_path / "w.duckdb")

    def finding(run: str, subject: str) -> Finding:
        return Finding(run_id=run, check_id="consent.send_after_opt_out", family="privacy_consent",
                       severity="critical", subject_type="integration", subject=subject, metric="sends",
                       observed=3.0, threshold=0.0, explanation=f"3 sends after an opt-out in {subject}.")

    for run, subjects in (("run-1", ["hubspot", "marketo"]), ("run-2", ["hubspot"])):
        ledger.start_run(wh, run, "scheduled", None)
        ledger.record_findings(wh, [finding(run, s) for s in subjects])
        ledger.finish_run(wh, run, "completed", {"counts": {"critical": len(subjects)}})
        time.sleep(0.01)  # the runs' start times differ
    pack = collect_pack(wh, load_policy(), parse_window("2000-01-01"))
    found = pack.tables["findings.csv"].set_index("subject")
    assert found.loc["hubspot", "runs_seen"] == 2 and found.loc["hubspot", "last_run_id"] == "run-2"
    assert found.loc["hubspot", "first_seen_at"] < found.loc["hubspot", "last_seen_at"]
    assert found.loc["hubspot", "resolution"] == "open at the end of the window"
    assert found.loc["marketo", "resolution"] == "not found again by run run-2, the last completed run in the window"
    checks = pack.tables["checks.csv"]
    row = checks[checks["check_id"] == "consent.send_after_opt_out"].set_index("run_id")["findings"]
    assert row.to_dict() == {"run-1": 2, "run-2": 1}
    assert pack.tables["runs.csv"]["critical"].tolist() == [2, 1]
    gdpr21 = next(c for c in pack.obligations if c.obligation_id == "gdpr.art21")
    assert [p.detail for p in gdpr21.pieces if p.kind == "check"] == ["evaluated in 2 runs, 2 findings"]
