"""Issue #12, the daily run: gov_consent__sends_after_opt_out sums int_consent__hubspot_late_sends, HubSpot's opt-outs
and the sends after them judged per person, which a run recomputes only for the people the email events' and
subscriptions' change logs name (macros/per_key.sql). After each kind of day (new sends, new opt-outs by status change
and by subscription, a tombstoned send, an email that changed, opens and clicks, nothing), the per-person table and
the mart must hold exactly what a `--full-refresh` build of the same raw data holds, row for row. Landed through
Steward's own landing, with test_incremental_consent's people and days."""

from __future__ import annotations

import pytest

from both_warehouses import equals_full_refresh
from steward.contracts.policy import load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import Warehouse
from test_incremental_consent import _land, _send, _subscription, empty_then_landed, first_landing
from test_incremental_people import AS_OF, MODELS_ONLY

COMPARED = ["staging.int_consent__hubspot_late_sends", "governance.gov_consent__sends_after_opt_out"]
SELECT = ["+gov_consent__sends_after_opt_out"]


def _build(wh: Warehouse, work, full_refresh: bool = False, tests: bool = True) -> None:
    dbt_vars = {**load_policy().dbt_vars(), "as_of": AS_OF.isoformat()}
    outcome = dbt_build.build(wh.path, work, dbt_vars, select=SELECT, full_refresh=full_refresh,
                              exclude=None if tests else MODELS_ONLY)
    assert not outcome.test_failures and not outcome.skipped, outcome


def _compiled(work) -> str:
    return next((work / "target" / "compiled").rglob("int_consent__hubspot_late_sends.sql")).read_text()


def _keys(wh: Warehouse) -> set[str]:
    return set(wh.query_df("select email_key from staging.int_consent__hubspot_late_sends__keys "
                           "where not is_all")["email_key"])


def _hubspot(wh: Warehouse) -> tuple[int, int, int]:
    """The mart's HubSpot row: people opted out, people mailed after it, late sends."""
    row = wh.query_df("select people_opted_out, people_sent_after_opt_out, sends_after_opt_out "
                      "from governance.gov_consent__sends_after_opt_out where platform = 'hubspot'").iloc[0]
    return int(row.people_opted_out), int(row.people_sent_after_opt_out), int(row.sends_after_opt_out)


def _check_against_full_refresh(wh: Warehouse, work) -> None:
    equals_full_refresh(wh.connect, COMPARED, "main", lambda: _build(wh, work, full_refresh=True))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """Built once while empty, then after the first landing (test_incremental_consent's world)."""
    return empty_then_landed(tmp_path_factory.mktemp("incremental_late_sends"), _build, first_landing)


def test_the_first_landing_equals_a_full_refresh(warehouse):
    wh, work = warehouse
    assert _hubspot(wh) == (1, 1, 1)  # p1 unsubscribed on 1 Nov and was mailed on 2 Nov
    _check_against_full_refresh(wh, work)


def test_new_sends_recompute_only_their_recipients(warehouse):
    wh, work = warehouse
    _land(wh, "hubspot", "email_events", [_send(6, "p1@example.com", "2026-11-06 09:00"),
                                          _send(7, "p5@example.com", "2026-11-06 09:00")])
    _build(wh, work)
    assert "__keys" in _compiled(work)
    assert _keys(wh) == {"p1@example.com", "p5@example.com"}
    assert _hubspot(wh) == (1, 1, 2)
    _check_against_full_refresh(wh, work)


def test_new_opt_outs_recompute_the_person(warehouse):
    wh, work = warehouse
    # p4 opts out by a status change early on 1 Nov, p2 by unsubscribing on 1 Nov: both were mailed on 2 Nov
    _land(wh, "hubspot", "email_events", [_send(10, "p4@example.com", "2026-11-01 08:00", kind="STATUSCHANGE")])
    _land(wh, "hubspot", "subscriptions", [_subscription("p2@example.com", "UNSUBSCRIBED")])
    _build(wh, work)
    assert "__keys" in _compiled(work)
    assert _keys(wh) == {"p2@example.com", "p4@example.com"}
    assert _hubspot(wh) == (3, 3, 4)
    _check_against_full_refresh(wh, work)


def test_a_tombstoned_send_and_a_changed_email_recompute_the_people(warehouse):
    wh, work = warehouse
    _land(wh, "hubspot", "email_events", [], deleted=("ev-6",))  # p1's late send of 6 Nov: the platform deleted it
    _land(wh, "hubspot", "email_events", [_send(4, "p4new@example.com", "2026-11-02 09:00")])  # p4's send moves
    _build(wh, work)
    assert "__keys" in _compiled(work)
    assert _keys(wh) == {"p1@example.com", "p4@example.com", "p4new@example.com"}
    assert _hubspot(wh) == (3, 2, 2)  # p4's send now went to an address that never opted out
    _check_against_full_refresh(wh, work)


def test_opens_and_clicks_recompute_nobody(warehouse):
    wh, work = warehouse
    _land(wh, "hubspot", "email_events", [_send(8, "p1@example.com", "2026-11-09 09:00", kind="OPEN"),
                                          _send(9, "p2@example.com", "2026-11-09 09:00", kind="CLICK")])
    _build(wh, work)
    assert "__keys" in _compiled(work)
    assert _keys(wh) == set()
    _check_against_full_refresh(wh, work)


def test_a_run_with_nothing_landed_recomputes_nobody(warehouse):
    wh, work = warehouse
    before = {name: wh.query_df(f"select * from {name}") for name in COMPARED}
    _build(wh, work)
    assert "__keys" in _compiled(work)
    assert _keys(wh) == set()
    for name, frame in before.items():
        now = wh.query_df(f"select * from {name}")
        assert sorted(map(str, now.values.tolist())) == sorted(map(str, frame.values.tolist())), name
