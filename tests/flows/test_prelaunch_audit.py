"""The three worked launch specs on built demo workspaces: the exact verdict and reasons, the ledger row, the Slack
message (through the real slack-sdk client and the local Slack emulator, with no customer data in it), the Markdown
export and the exit code the CLI gives a release pipeline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from governed import CLEAN_DEMO, INJECTED_DEMO, NEWCOMER, cli_demo_copy
from steward.flows.prelaunch import LaunchParams, prelaunch_audit
from steward.integrations.emulator.slack import SlackEmulator
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "launches"
TOKEN = "xoxb-prelaunch-0000000000-secret"
MASKED = re.compile(r"^h:[0-9a-f]{10}$")


@pytest.fixture(scope="module")
def workspaces(prefect_api, tmp_path_factory) -> dict[str, Path]:
    """The demo workspace the examples are written for (seed 7, scale 1), clean and with every problem injected,
    each governed once by `steward demo`: copies of the session's two `steward demo` runs that
    test_cli_end_to_end.py checks (tests/governed.py ``cli_demo_copy``), audited here as the README's next step
    audits a launch. The clean one first: the other worker is likely building the injected one meanwhile."""
    clean = cli_demo_copy(tmp_path_factory, "launch-clean", CLEAN_DEMO, prefect_api)
    injected = cli_demo_copy(tmp_path_factory, "launch-injected", INJECTED_DEMO, NEWCOMER)
    for demo in (clean, injected):
        assert json.loads(demo.stdout)["status"] == "completed", demo.stderr[-2000:]
    return {"clean": clean.cwd / "clean" / "steward.yaml", "injected": injected.cwd / "steward-demo" / "steward.yaml"}


@pytest.fixture
def slack(monkeypatch):
    with SlackEmulator(token=TOKEN, channels={"#marketing-ops-alerts": "C0ALERTS"}) as emulator:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", emulator.base_url)
        yield emulator


def audit(config: Path, example: str):
    return prelaunch_audit(LaunchParams(config=str(config), spec=str(EXAMPLES / example)))


def reasons(result) -> tuple[set, set]:
    return ({(r.check_id, r.subject) for r in result.blocking}, {(r.check_id, r.subject) for r in result.conditions})


def test_consented_launch_on_the_clean_workspace_is_go(workspaces):
    result = audit(workspaces["clean"], "go-consented-upgrade.yaml")
    assert (result.verdict, result.exit_code) == ("GO", 0)
    assert reasons(result) == (set(), set())
    assert len(result.checks_evaluated) == 13


def test_whole_segment_on_the_clean_workspace_goes_only_without_the_unconsented(workspaces):
    result = audit(workspaces["clean"], "conditional-high-intent.yaml")
    assert (result.verdict, result.exit_code) == ("GO WITH CONDITIONS", 0)
    assert reasons(result) == (set(), {("launch.consent_coverage", "email"), ("launch.consent_coverage", "ads")})
    ads = next(r for r in result.conditions if r.subject == "ads")
    missing = ads.evidence["people_without_consent"]
    assert 0 < missing < ads.evidence["audience_people"]
    assert ads.condition == f"Exclude the {missing} people without ads consent from the ads audience before launch."
    assert all(MASKED.match(t) for t in ads.evidence["example_ids"]) and len(ads.evidence["example_ids"]) == 5
    assert ads.sample_query == "select * from launch.launch__consent where channel = 'ads'"


def test_priority_leads_on_the_injected_workspace_is_no_go_with_every_reason(workspaces, slack):
    result = audit(workspaces["injected"], "nogo-priority-leads.yaml")
    assert (result.verdict, result.exit_code) == ("NO-GO", 1)
    assert reasons(result) == (
        {("launch.erasure_completed", "erasure_completed"), ("launch.frequency_cap", "email"),
         ("launch.audience_bias", "age_band=55-64"), ("launch.model_review_coverage", "lead_scoring"),
         ("launch.data_freshness", "cdp")},
        {("launch.consent_coverage", "email")})
    by_check = {r.check_id: r for r in result.blocking}
    bias = by_check["launch.audience_bias"]
    assert bias.observed < 0.5 and bias.evidence["reference_group"] == "25-34" and bias.evidence["n"] >= 50
    assert bias.evidence["ci_low"] < bias.evidence["selection_rate"] < bias.evidence["ci_high"]
    erased = by_check["launch.erasure_completed"]
    assert erased.observed == erased.evidence["people_listed"] > 0
    assert all(MASKED.match(t) for t in erased.evidence["example_ids"])
    assert by_check["launch.data_freshness"].observed > 2

    # stored with its evidence, so a later audit rebuilding the launch tables loses nothing
    row = Warehouse(result.warehouse).query_df(
        "select verdict, reasons, evidence from ledger.launch_audits where audit_id = ?", [result.audit_id]).iloc[0]
    assert row["verdict"] == "NO-GO"
    assert {r["check_id"] for r in json.loads(row["reasons"])} == {*by_check, "launch.consent_coverage"}
    assert {"launch__bias", "launch__consent", "launch__plan"} <= set(json.loads(row["evidence"]))

    # posted to Slack through the outbox, with numbers and masked ids only
    assert result.alerts["outcome"] == "sent"
    [message] = [m for m in slack.messages if m.channel == "C0ALERTS"]
    text = json.dumps(message.blocks) + (message.text or "")
    assert "NO-GO" in text and "launch.audience_bias" in text and "age_band=55-64" in text
    assert "@" not in text and "example.com" not in text

    export = Path(result.export).read_text()
    assert export.startswith("# Pre-launch audit: Priority leads email push — **NO-GO**")
    assert "select * from launch.launch__bias where dimension = 'age_band' and group_value = '55-64'" in export


@pytest.fixture(scope="module")
def nogo_by_cli(workspaces) -> dict:
    """The no-go spec audited through the CLI by both spellings, `steward audit launch` and `steward audit-launch`
    (each audit builds the launch marts; the two tests below ask different things of the same two answers)."""
    from steward.flows.cli import app

    args = [str(EXAMPLES / "nogo-priority-leads.yaml"), "-c", str(workspaces["injected"]), "--json", "--no-notify"]
    return {"new": CliRunner().invoke(app, ["audit", "launch", *args]),
            "old": CliRunner().invoke(app, ["audit-launch", *args])}


def test_the_cli_exits_1_on_no_go_and_prints_one_json_document(workspaces, nogo_by_cli):
    from steward.flows.cli import app

    run = nogo_by_cli["old"]  # `steward audit-launch <spec> -c <config> --json --no-notify`
    assert run.exit_code == 1, run.output
    doc = json.loads(run.stdout.strip().splitlines()[-1])
    assert doc["verdict"] == "NO-GO" and len(doc["blocking"]) == 5

    go = CliRunner().invoke(app, ["audit-launch", str(EXAMPLES / "conditional-high-intent.yaml"),
                                  "-c", str(workspaces["clean"]), "--no-notify", "--strict"])
    assert go.exit_code == 1  # --strict: conditions gate too
    bad = CliRunner().invoke(app, ["audit-launch", str(workspaces["clean"]), "-c", str(workspaces["clean"])])
    assert bad.exit_code == 2


def test_audit_launch_is_the_new_spelling_and_audit_dash_launch_still_works(nogo_by_cli):
    """`steward audit launch` gives the same verdict, reasons and exit code as the old `steward audit-launch`."""
    new, old = nogo_by_cli["new"], nogo_by_cli["old"]
    assert (new.exit_code, old.exit_code) == (1, 1), new.output + old.output
    docs = [json.loads(r.stdout.strip().splitlines()[-1]) for r in (new, old)]
    assert [d["verdict"] for d in docs] == ["NO-GO", "NO-GO"]
    reasons = [[(b["check_id"], b["subject"]) for b in d["blocking"]] for d in docs]
    assert reasons[0] == reasons[1] and len(reasons[0]) == 5
