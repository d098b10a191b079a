"""Issue #12, the daily run: gov_consent__channel_purpose aggregates int_consent__email_people, the email consent
judged per person and system, which a run recomputes only for the people its inputs' change logs name
(macros/per_key.sql). HubSpot's email events log the recipients of the events a build appends, replaces or deletes, so
a person's facts are recomputed when they get a new send, not only when their record changes (opens and clicks are
not logged: no consent reads them). After each kind of day (new sends, a new opt-out, a tombstoned send and a deleted
contact, an email that changed, a Marketo send and a custom system's touch, opens and clicks), the incremental tables
and the mart must hold exactly what a `--full-refresh` build of the same raw data holds, row for row. Everything is landed through Steward's own landing."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from both_warehouses import equals_full_refresh, full_refresh_differences
from steward.contracts.batch import Batch
from steward.contracts.policy import load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.landing import ensure_raw_tables, land_batch
from steward.integrations.warehouse.validation import check_batch
from test_incremental_people import AS_OF, MODELS_ONLY, _contact, _custom, _hubspot, _marketo, _profile, _stream, \
    _subscription

MS = lambda text: int(pd.Timestamp(text, tz="UTC").value // 10**6)  # noqa: E731  HubSpot's epoch milliseconds
# int_people__contacts (the privacy marts' contacts by email and hash) is per key on the same inputs: compared too
COMPARED = ["staging.stg_hubspot__email_events", "staging.int_consent__email_people",
            "governance.gov_consent__channel_purpose", "staging.int_people__contacts"]
SELECT = ["+gov_consent__channel_purpose", "+int_people__contacts"]


def _send(i: int, email: str, when: str, kind: str = "SENT") -> dict:
    return {"id": f"ev-{i}", "type": kind, "recipient": email, "emailCampaignId": 1, "created": MS(when),
            "portalId": 42}


def _activity(i: int, lead: int, when: str, type_id: int = 6) -> dict:
    return {"id": i, "marketoGUID": f"g-{i}", "leadId": lead, "activityDate": pd.Timestamp(when, tz="UTC"),
            "activityTypeId": type_id, "primaryAttributeValueId": 9, "primaryAttributeValue": "Newsletter",
            "campaignId": 5, "attributes": None}


def _touch(tid: str, email: str, when: str) -> dict:
    return {"touch_id": tid, "email": email, "channel": "email", "campaign_id": "k-c1",
            "touched_at": pd.Timestamp(when, tz="UTC")}


def _land(wh: Warehouse, platform: str, entity: str, rows: list[dict], deleted: tuple[str, ...] = (),
          integration: str | None = None) -> None:
    """test_incremental_people's landing; a batch that only deletes has the columns of its stream's rows."""
    columns = {("hubspot", "email_events"): _send(0, "x@example.com", "2026-11-01"),
               ("salesforce", "contacts"): _contact(0, "x@example.com")}
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(columns[(platform, entity)]))
    fingerprint = hashlib.sha256(json.dumps([integration, rows, deleted], default=str).encode()).hexdigest()
    batch = Batch(integration or platform, _stream(platform, entity), frame, f"test://{platform}/{entity}",
                  fingerprint, merge=True, deleted=list(deleted))
    verdict = check_batch(batch)
    assert verdict.quarantined.empty, verdict.quarantined
    land_batch(wh, batch, verdict.valid, verdict.quarantined, verdict.drift, verdict.contract.version, "t")


def _build(wh: Warehouse, work, full_refresh: bool = False, tests: bool = True) -> None:
    dbt_vars = {**load_policy().dbt_vars(), "as_of": AS_OF.isoformat()}
    outcome = dbt_build.build(wh.path, work, dbt_vars, select=SELECT, full_refresh=full_refresh,
                              exclude=None if tests else MODELS_ONLY)
    assert not outcome.test_failures and not outcome.skipped, outcome


def _compiled(work) -> str:
    return next((work / "target" / "compiled").rglob("int_consent__email_people.sql")).read_text()


def _keys(wh: Warehouse) -> set[str]:
    return set(wh.query_df("select email_key from staging.int_consent__email_people__keys "
                           "where not is_all")["email_key"])


def _late(wh: Warehouse, email: str) -> dict[str, int]:
    rows = wh.query_df(f"select system, contacts_without_consent from staging.int_consent__email_people "
                       f"where email_key = '{email}'")
    return dict(zip(rows.system, rows.contacts_without_consent))


def _check_against_full_refresh(wh: Warehouse, work) -> None:
    equals_full_refresh(wh.connect, COMPARED, "main", lambda: _build(wh, work, full_refresh=True))


def first_landing(wh: Warehouse) -> None:
    """p1 unsubscribed in HubSpot on 1 Nov; p2 is a Marketo lead; p3 opted out in klaviyo; everyone was mailed."""
    _land(wh, "salesforce", "contacts", [_contact(1, "p1@example.com"), _contact(2, "p2@example.com"),
                                         _contact(4, "p4@example.com")])
    _land(wh, "hubspot", "contacts", [_hubspot(1, "p1@example.com")])
    _land(wh, "hubspot", "subscriptions", [_subscription("p1@example.com", "UNSUBSCRIBED")])
    _land(wh, "cdp", "profiles", [_profile(1, "p1@example.com"), _profile(2, "p2@example.com", consent=False)])
    _land(wh, "marketo", "leads", [_marketo(2, "p2@example.com")])
    _land(wh, "marketo", "activities", [_activity(1, 2, "2026-11-03 10:00")])
    _land(wh, "custom", "people", [_custom("k3", "p3@example.com", True)], integration="klaviyo")
    _land(wh, "custom", "touches", [_touch("t1", "p3@example.com", "2026-11-02")], integration="klaviyo")
    _land(wh, "hubspot", "email_events", [_send(1, "p1@example.com", "2026-11-02 09:00"),
                                          _send(2, "p2@example.com", "2026-11-02 09:00"),
                                          _send(3, "p3@example.com", "2026-11-02 09:00"),
                                          _send(4, "p4@example.com", "2026-11-02 09:00"),
                                          _send(5, "p4@example.com", "2026-11-02 10:00", kind="OPEN")])


def empty_then_landed(folder, build, landing) -> tuple[Warehouse, object]:
    """A warehouse in ``folder`` built by ``build`` once while empty (every incremental model created empty; models
    only, ``tests=False``), then after ``landing``: where each day of the daily-build tests starts."""
    wh = Warehouse(folder / "w.duckdb")
    ensure_raw_tables(wh)
    work = folder / "dbt"
    build(wh, work, tests=False)
    landing(wh)
    build(wh, work)
    return wh, work


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return empty_then_landed(tmp_path_factory.mktemp("incremental_consent"), _build, first_landing)


def test_the_first_landing_equals_a_full_refresh(warehouse):
    wh, work = warehouse
    assert _late(wh, "p1@example.com")["hubspot"] == 1  # mailed on 2 Nov after unsubscribing on 1 Nov
    assert _late(wh, "p3@example.com")["klaviyo"] == 2  # HubSpot's send and klaviyo's own touch
    _check_against_full_refresh(wh, work)


@pytest.fixture(scope="module")
def sends_and_opt_out(warehouse) -> dict:
    """The day after the first landing: new sends (p1, and p5, held nowhere) and new opt-outs (p4 in Salesforce, p2 in
    HubSpot) land together, for one daily build and one full refresh, where each kind paid its own pair: they touch
    different people, so the build recomputes exactly the union of the two sets. What the tests below assert is
    recorded here, so they read it in any order."""
    wh, work = warehouse
    _land(wh, "hubspot", "email_events", [_send(6, "p1@example.com", "2026-11-06 09:00"),
                                          _send(7, "p5@example.com", "2026-11-06 09:00")])  # p5: held nowhere
    # p4 opts out in Salesforce on 1 Nov (its last change): the send of 2 Nov came after it
    _land(wh, "salesforce", "contacts", [_contact(4, "p4@example.com", at=pd.Timestamp("2026-11-01", tz="UTC"),
                                                  opted_out=True)])
    _land(wh, "hubspot", "subscriptions", [_subscription("p2@example.com", "UNSUBSCRIBED")])
    _build(wh, work)
    day = {"per_key": "__keys" in _compiled(work), "keys": _keys(wh),
           "late": {email: _late(wh, email) for email in ("p1@example.com", "p4@example.com", "p5@example.com")}}
    day["differences"] = full_refresh_differences(wh.connect, COMPARED, "main",
                                                  lambda: _build(wh, work, full_refresh=True))
    return day


def test_new_sends_recompute_only_their_recipients(sends_and_opt_out):
    day = sends_and_opt_out
    assert day["per_key"]
    # the sends' recipients, and the opt-outs' people (p2, p4: test_a_new_opt_out_recomputes_the_person), no one else
    assert day["keys"] == {"p1@example.com", "p5@example.com"} | {"p2@example.com", "p4@example.com"}
    assert day["late"]["p1@example.com"]["hubspot"] == 2
    assert day["late"]["p5@example.com"] == {"hubspot": 0, "marketo": 0, "salesforce": 0, "cdp": 0}
    assert day["differences"] == dict.fromkeys(COMPARED, 0)


def test_a_new_opt_out_recomputes_the_person(sends_and_opt_out):
    day = sends_and_opt_out
    assert day["per_key"]
    # the opt-outs' people, and the sends' recipients (p1, p5: test_new_sends_recompute_only_their_recipients)
    assert day["keys"] == {"p2@example.com", "p4@example.com"} | {"p1@example.com", "p5@example.com"}
    assert day["late"]["p4@example.com"]["salesforce"] == 1
    assert day["differences"] == dict.fromkeys(COMPARED, 0)


def test_a_tombstoned_send_and_a_deleted_contact_recompute_the_person(warehouse, sends_and_opt_out):
    wh, work = warehouse  # after the day of new sends and opt-outs: p1's send of 6 Nov, p4's contact
    _land(wh, "hubspot", "email_events", [], deleted=("ev-6",))  # p1's late send of 6 Nov: the platform deleted it
    _land(wh, "salesforce", "contacts", [], deleted=(_contact(4, None)["Id"],))  # p4 erased from the CRM
    _build(wh, work)
    assert "__keys" in _compiled(work)
    assert _keys(wh) == {"p1@example.com", "p4@example.com"}
    assert _late(wh, "p1@example.com")["hubspot"] == 1
    assert _late(wh, "p4@example.com")["salesforce"] == 0
    _check_against_full_refresh(wh, work)


def test_a_changed_email_moves_the_sends_judgement(warehouse):
    wh, work = warehouse
    # the send of 2 Nov to p4 is re-sent by HubSpot under p4's new address; the CDP profile of p1 changes email
    _land(wh, "hubspot", "email_events", [_send(4, "p4new@example.com", "2026-11-02 09:00")])
    _land(wh, "cdp", "profiles", [_profile(1, "p1new@example.com", at=pd.Timestamp("2026-11-07", tz="UTC"))])
    _build(wh, work)
    assert "__keys" in _compiled(work)
    assert _keys(wh) == {"p1@example.com", "p1new@example.com", "p4@example.com", "p4new@example.com"}
    assert "hubspot" in _late(wh, "p4new@example.com")
    _check_against_full_refresh(wh, work)


def test_marketo_activities_and_custom_touches_rebuild_everyone(warehouse):
    wh, work = warehouse
    _land(wh, "marketo", "activities", [_activity(2, 2, "2026-11-08 10:00")])
    _land(wh, "custom", "touches", [_touch("t2", "p3@example.com", "2026-11-08")], integration="klaviyo")
    _build(wh, work)
    assert "__keys" not in _compiled(work)  # they keep no change log: every person is recomputed
    assert _late(wh, "p3@example.com")["klaviyo"] == 3
    _check_against_full_refresh(wh, work)


def test_opens_and_clicks_recompute_nobody(warehouse):
    """The email events log only the recipients of sends and status changes (change_log_where): a day of opens and
    clicks leaves every person's consent as it was, and the tables equal a full refresh."""
    wh, work = warehouse
    _land(wh, "hubspot", "email_events", [_send(8, "p1@example.com", "2026-11-09 09:00", kind="OPEN"),
                                          _send(9, "p2@example.com", "2026-11-09 09:00", kind="CLICK")])
    _build(wh, work)
    assert "__keys" in _compiled(work)
    assert _keys(wh) == set()
    _check_against_full_refresh(wh, work)


def test_a_run_with_nothing_landed_recomputes_nobody(warehouse):
    """After the full refresh above, a run with nothing landed leaves every table as it was (so still equal to a
    full refresh): no key is recomputed, and no row deleted or added."""
    wh, work = warehouse
    with wh.connect() as con:
        for name in COMPARED:
            con.execute(f"create or replace table main.before_{name.split('.')[1]} as select * from {name}")
    _build(wh, work)
    assert "__keys" in _compiled(work)
    assert _keys(wh) == set()
    with wh.connect() as con:
        for name in COMPARED:
            kept = f"main.before_{name.split('.')[1]}"
            assert con.execute(
                f"select (select count(*) from (select * from {kept} except all select * from {name})) + "
                f"(select count(*) from (select * from {name} except all select * from {kept}))").fetchone()[0] == 0
