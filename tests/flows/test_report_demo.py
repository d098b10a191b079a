"""The action-first top on the demo: a second real governance run on a copy of the session's governed demo, so
"since the last run" compares with a real earlier run, and the console summary `steward run` ends with."""

from __future__ import annotations

import re

import pytest

from governed import demo_run_copy
from steward.flows.cli.run import _summary
from steward.flows.governance import RunParams, governance_run
from steward.flows.report import action_summary
from steward.integrations.warehouse import Warehouse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def second(prefect_harness, tmp_path_factory):
    demo = demo_run_copy(tmp_path_factory, "report-top", scale=0.2)
    result = governance_run(RunParams(config=str(demo.config), kind="on_demand"))
    assert result.status == "completed"
    return demo.result, result


def test_second_run_compares_with_the_first_and_names_its_pauses(second) -> None:
    first, result = second
    top = action_summary(Warehouse(result.warehouse), result.run_id)
    assert top["changes"]["previous_run_id"] == first.run_id
    assert top["history"]["runs"] == [first.run_id, result.run_id]
    assert top["changes"]["still_open"] > 0 and not top["changes"]["new"]  # same data, same findings
    paused = [d for d in top["did"] if d["kind"] == "paused"]
    assert paused and all(d["name"] for d in paused)  # the campaign directory names every paused campaign
    assert all(d["how"].startswith(f"steward campaigns resume {d['integration']} {d['campaign_id']} ")
               for d in paused)
    owners = [g["owner"] for g in top["owners"]]
    assert len(owners) == len(set(owners)) >= 2


def test_console_ends_with_the_top_then_the_report(second, capsys) -> None:
    first, result = second
    _summary(result)
    out = capsys.readouterr().out
    heads = [out.index(h) for h in ("Findings", "What Steward did", "Needs a person, by owner", "Since the last run")]
    assert heads == sorted(heads), out
    # same data: nothing new; a stale source's hours since its last sync may have grown (worse), which is news
    assert re.search(rf"Since the last run: 0 new, \d+ worse, 0 resolved, \d+ still open since run {first.run_id}",
                     out), out
    assert out.rstrip().splitlines()[-1] == f"Report: {result.report}"
    assert re.search(r"PAUSED .+ \((hubspot|google_ads|salesforce) \w+\)", out)  # name, platform, id
    assert "resume: steward campaigns resume " in out
    assert "@" not in out  # no email address in the summary
