"""Issue #12, the daily run: the event-grain staging models (HubSpot email events, Marketo activities, AI decisions)
and the largest people-grain one (Salesforce campaign members) are dbt incremental models that read only the raw
batches landed since their last build. Whatever the delta holds (new records, a record landed again with changes, a
record the platform deleted after it was built), the incremental build must hold exactly the rows a full refresh of
the same raw data holds; so must the views that read them. Everything is landed through Steward's own landing
(validation, merge by key, tombstones), on a warehouse whose first build found no rows at all."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from steward.contracts.batch import Batch
from steward.contracts.policy import load_policy
from steward.integrations.sources.marketo import MARKETO_STREAMS
from steward.integrations.sources.streams import EXPORT_STREAMS
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.landing import ensure_raw_tables, land_batch
from steward.integrations.warehouse.validation import check_batch

INCREMENTAL = ["stg_hubspot__email_events", "stg_marketo__activities", "stg_decisions__ai_decisions",
               "stg_salesforce__campaign_members"]
READERS = ["int_email_events__attributed", "int_marketo_activities__identified", "int_email_sends__addressed"]
SELECT = [f"+{m}" for m in READERS] + ["stg_decisions__ai_decisions", "stg_salesforce__campaign_members"]
AS_OF = pd.Timestamp("2026-11-20 12:00", tz="UTC")
MS = lambda text: int(pd.Timestamp(text, tz="UTC").value // 10**6)  # noqa: E731  HubSpot's epoch milliseconds


def _stream(platform: str, entity: str):
    return next(s for s in [*EXPORT_STREAMS, *MARKETO_STREAMS] if s.platform == platform and s.entity == entity)


def _land(wh: Warehouse, platform: str, entity: str, rows: list[dict], deleted: tuple[str, ...] = ()) -> None:
    frame = pd.DataFrame(rows)
    fingerprint = hashlib.sha256(json.dumps([rows, deleted], default=str).encode()).hexdigest()
    batch = Batch(platform, _stream(platform, entity), frame, f"test://{platform}/{entity}", fingerprint,
                  merge=True, deleted=list(deleted))
    verdict = check_batch(batch)
    assert verdict.quarantined.empty, verdict.quarantined
    land_batch(wh, batch, verdict.valid, verdict.quarantined, verdict.drift, verdict.contract.version, "t")


def _email(i: int, campaign: str) -> dict:
    return {"id": str(i), "name": "News", "state": "PUBLISHED", "subject": "Hi", "salesforceCampaignId": campaign,
            "updatedAt": pd.Timestamp("2026-11-01", tz="UTC")}


def _event(i: int, kind: str = "SENT", email: int = 1, when: str = "2026-11-10 09:00") -> dict:
    return {"id": f"ev-{i}", "type": kind, "recipient": f"p{i}@example.com", "emailCampaignId": email,
            "created": MS(when), "portalId": 42}


def _activity(i: int, lead: int, type_id: int = 6, when: str = "2026-11-10 10:00") -> dict:
    return {"id": i, "marketoGUID": f"g-{i}", "leadId": lead, "activityDate": pd.Timestamp(when, tz="UTC"),
            "activityTypeId": type_id, "primaryAttributeValueId": 9, "primaryAttributeValue": "Newsletter",
            "campaignId": 5, "attributes": None}


def _decision(i: int, confidence: float = 0.9) -> dict:
    return {"decision_id": f"d-{i}", "decided_at": pd.Timestamp("2026-11-09 08:00", tz="UTC"),
            "model_name": "lead_scoring", "model_version": "3.2.0", "decision_type": "lead_score",
            "subject_id": f"00Q{i}", "account_id": None, "campaign_id": None, "score": 50.0 + i,
            "decision": "priority", "confidence": confidence, "reason_codes": "FIT", "human_reviewed": False,
            "reviewed_at": None, "executed": True, "input_snapshot_id": f"fs-{i}"}


def _lead(i: int) -> dict:
    at = pd.Timestamp("2026-11-01", tz="UTC")
    return {"id": i, "email": f"lead{i}@example.com", "firstName": "A", "lastName": "B", "unsubscribed": False,
            "emailInvalid": False, "sfdcContactId": None, "sfdcLeadId": None, "createdAt": at, "updatedAt": at}


def _member(i: int, status: str = "Sent", when: str = "2026-11-02") -> dict:
    """A Salesforce campaign member (the largest people-grain table, incremental too: issue #12's daily run)."""
    person = {"ContactId": f"003{i:015d}", "LeadId": None} if i % 2 else {"ContactId": None, "LeadId": f"00Q{i:015d}"}
    return {"Id": f"00v{i:015d}", "CampaignId": "701000000000000001", **person, "Status": status,
            "CreatedDate": pd.Timestamp("2026-11-01", tz="UTC"), "SystemModstamp": pd.Timestamp(when, tz="UTC")}


def _build(wh: Warehouse, work, full_refresh: bool = False) -> None:
    dbt_vars = {**load_policy().dbt_vars(), "as_of": AS_OF.isoformat()}
    outcome = dbt_build.build(wh.path, work, dbt_vars, select=SELECT, full_refresh=full_refresh)
    assert not outcome.test_failures, [(f.test, f.message) for f in outcome.test_failures]


def _compiled(work, model: str) -> str:
    return next((work / "target" / "compiled").rglob(f"{model}.sql")).read_text()


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """A warehouse built once while empty, then twice more after two landings; the second is the delta. The tests
    below run in order on it: the second edits raw in place, which the first's comparison must not see."""
    tmp_path = tmp_path_factory.mktemp("incremental")
    wh = Warehouse(tmp_path / "w.duckdb")
    ensure_raw_tables(wh)
    work = tmp_path / "dbt"
    _build(wh, work)  # the first build: nothing landed yet, every incremental model is created empty
    assert all(wh.query_df(f"select count(*) as n from staging.{m}")["n"][0] == 0 for m in INCREMENTAL)
    _land(wh, "hubspot", "marketing_emails", [_email(1, "701A"), _email(2, "701B")])
    _land(wh, "hubspot", "email_events", [*(_event(i) for i in range(1, 6)), _event(8, email=2), _event(9, email=3)])
    _land(wh, "marketo", "leads", [_lead(i) for i in (1, 2)])
    _land(wh, "marketo", "activities", [_activity(i, lead=1 + i % 2) for i in range(1, 5)])
    _land(wh, "decisions", "ai_decisions", [_decision(i) for i in range(1, 4)])
    _land(wh, "salesforce", "campaign_members", [_member(i) for i in range(1, 5)])
    _build(wh, work)
    # the delta: new records, a record landed again with changes, and deletions the platforms reported
    _land(wh, "hubspot", "email_events", [_event(6), _event(2, kind="CLICK", when="2026-11-11 09:00")],
          deleted=("ev-3",))
    # email 2 moves campaign and email 3 appears: their sends already built take the new campaign
    _land(wh, "hubspot", "marketing_emails", [_email(2, "701C"), _email(3, "701D")])
    _land(wh, "marketo", "activities", [_activity(7, lead=2), _activity(1, lead=2, type_id=10)], deleted=("4",))
    _land(wh, "decisions", "ai_decisions", [_decision(4), _decision(2, confidence=0.3)], deleted=("d-1",))
    _land(wh, "salesforce", "campaign_members", [_member(5), _member(2, status="Responded", when="2026-11-03")],
          deleted=(_member(3)["Id"],))
    _build(wh, work)
    return wh, work


def _differences(wh: Warehouse, model: str) -> int:
    """Rows in one of the two builds and not (as often) in the other: EXCEPT ALL in both directions."""
    with wh.connect() as con:
        return con.execute(f"select (select count(*) from (select * from main.inc_{model} except all "
                           f"select * from staging.{model})) + (select count(*) from (select * from staging.{model} "
                           f"except all select * from main.inc_{model}))").fetchone()[0]


def test_an_incremental_build_after_a_delta_holds_what_a_full_refresh_holds(landed):
    wh, work = landed
    assert "_loaded_at > (" in _compiled(work, "stg_hubspot__email_events")  # the delta run read from the watermark
    events = wh.query_df("select email_event_id, event_type from staging.stg_hubspot__email_events "
                         "order by email_event_id")
    assert dict(zip(events.email_event_id, events.event_type)) == {
        "ev-1": "SENT", "ev-2": "CLICK", "ev-4": "SENT", "ev-5": "SENT", "ev-6": "SENT", "ev-8": "SENT",
        "ev-9": "SENT"}  # ev-3: deleted
    assert sorted(wh.query_df("select activity_id from staging.stg_marketo__activities")["activity_id"]) == \
        ["1", "2", "3", "7"]
    decisions = wh.query_df("select decision_id, confidence from staging.stg_decisions__ai_decisions")
    assert dict(zip(decisions.decision_id, decisions.confidence)) == {"d-2": 0.3, "d-3": 0.9, "d-4": 0.9}
    assert "_loaded_at > (" in _compiled(work, "stg_salesforce__campaign_members")
    assert "_loaded_at > (" in _compiled(work, "int_email_sends__addressed")  # it read only the new events
    sends = wh.query_df("select send_key, campaign_id from staging.int_email_sends__addressed")
    assert dict(zip(sends.send_key, sends.campaign_id)) == {  # ev-2 is a click now, ev-3 was deleted
        "hubspot:ev-1": "701A", "hubspot:ev-4": "701A", "hubspot:ev-5": "701A", "hubspot:ev-6": "701A",
        "hubspot:ev-8": "701C", "hubspot:ev-9": "701D"}
    members = wh.query_df("select campaign_member_id, member_status from staging.stg_salesforce__campaign_members")
    assert dict(zip(members.campaign_member_id, members.member_status)) == {
        _member(i)["Id"]: status for i, status in [(1, "Sent"), (2, "Responded"), (4, "Sent"), (5, "Sent")]}

    with wh.connect() as con:
        for model in INCREMENTAL + READERS:
            con.execute(f"create table main.inc_{model} as select * from staging.{model}")
    _build(wh, work, full_refresh=True)  # `steward run --full-refresh` passes this through
    assert "_loaded_at > (" not in _compiled(work, "stg_hubspot__email_events")
    for model in INCREMENTAL + READERS:
        assert _differences(wh, model) == 0, model


def test_a_run_reads_only_new_batches_unless_the_model_sql_changed(landed):
    """Rows of batches already built are not read again (edited in place here, which landing never does), not even
    the newest batch the table holds (d-4), except for a model whose SQL changed since its table was built: that
    one reads all of raw again."""
    wh, work = landed
    with wh.connect() as con:
        con.execute("update raw.hubspot__email_events set type = 'OPEN' where id = 'ev-1'")
        con.execute("update raw.decisions__ai_decisions set confidence = 0.1 where decision_id in ('d-3', 'd-4')")
        con.execute("update staging.stg_hubspot__email_events__built_from set checksum = 'the previous sql'")
        con.execute("update staging.int_email_sends__addressed set contact_token = 'kept' where send_key = 'hubspot:ev-4'")
    _build(wh, work)
    assert wh.query_df("select contact_token from staging.int_email_sends__addressed "
                       "where send_key = 'hubspot:ev-4'")["contact_token"].tolist() == ["kept"]  # not read again
    with wh.connect() as con:  # its SQL changed (or that of the events it reads): it is built again whole
        con.execute("update staging.int_email_sends__addressed__built_from set checksum = 'the previous sql'")
    _build(wh, work)
    sends = wh.query_df("select send_key, contact_token from staging.int_email_sends__addressed")
    assert "kept" not in set(sends.contact_token) and "hubspot:ev-1" not in set(sends.send_key)  # ev-1: OPEN now
    assert wh.query_df("select event_type from staging.stg_hubspot__email_events "
                       "where email_event_id = 'ev-1'")["event_type"].tolist() == ["OPEN"]
    assert wh.query_df("select confidence from staging.stg_decisions__ai_decisions "
                       "where decision_id in ('d-3', 'd-4')")["confidence"].tolist() == [0.9, 0.9]


def test_a_batch_landed_at_the_same_instant_as_the_newest_built_one_is_read(landed):
    """Two batches can land in the same microsecond. A batch the table does not hold, at the instant of the newest
    one it does hold, is read, together with everything at that instant, so the build equals a full refresh (landing
    stamps the batch's row in ledger.batches with the same instant, where the tie is looked for)."""
    wh, work = landed
    _land(wh, "hubspot", "email_events", [_event(7), _event(6, kind="OPEN", when="2026-11-12 09:00")])
    with wh.connect() as con:
        new_batch = "_batch_id not in (select _batch_id from staging.stg_hubspot__email_events)"
        assert con.execute(f"select count(*) from raw.hubspot__email_events where {new_batch}").fetchone()[0] == 2
        con.execute(f"""update raw.hubspot__email_events set _loaded_at = (
                            select max(_loaded_at) from raw.hubspot__email_events where not ({new_batch}))
                        where {new_batch}""")
        con.execute(f"""update ledger.batches set loaded_at = (
                            select max(_loaded_at) from raw.hubspot__email_events)
                        where batch_id in (select _batch_id from raw.hubspot__email_events where {new_batch})""")
    _build(wh, work)
    events = wh.query_df("select email_event_id, event_type from staging.stg_hubspot__email_events")
    assert dict(zip(events.email_event_id, events.event_type))["ev-7"] == "SENT"
    with wh.connect() as con:
        for model in ("stg_hubspot__email_events", "int_email_sends__addressed"):
            con.execute(f"create or replace table main.inc_{model} as select * from staging.{model}")
    _build(wh, work, full_refresh=True)
    assert _differences(wh, "stg_hubspot__email_events") == 0
    assert _differences(wh, "int_email_sends__addressed") == 0


def _key_failures(wh: Warehouse, work, full_refresh: bool = False) -> list[tuple[str, int]]:
    """The email events' key test failures of a build, and the kept violations equal the whole table's scan."""
    dbt_vars = {**load_policy().dbt_vars(), "as_of": AS_OF.isoformat()}
    outcome = dbt_build.build(wh.path, work, dbt_vars, select=SELECT, full_refresh=full_refresh)
    with wh.connect() as con:
        kept = con.execute("select key_value, sum(n_records) from staging.stg_hubspot__email_events__key_violations "
                           "group by key_value order by 1 nulls first").fetchall()
        scanned = con.execute("select email_event_id, count(*) from staging.stg_hubspot__email_events group by 1 "
                              "having email_event_id is null or count(*) > 1 order by 1 nulls first").fetchall()
    assert kept == scanned
    return sorted((f.test, f.failures) for f in outcome.test_failures if "stg_hubspot__email_events" in f.test)


def _raw_event(con, integration: str, event_id: str | None) -> None:
    """A raw row of a second HubSpot integration (or one with no id), as landing would write it."""
    con.execute("insert into raw.hubspot__email_events (id, type, recipient, \"emailCampaignId\", created, "
                "\"portalId\", _batch_id, _integration, _loaded_at) values (?, 'OPEN', 'x@example.com', 1, ?, 42, "
                "?, ?, now())", [event_id, MS("2026-11-13 09:00"), f"b-test-{integration}-{event_id}", integration])


def test_the_key_test_reads_kept_violations_that_equal_a_scan(landed):
    """The email events' primary_key test reads the violations the model keeps (record_key_violations) instead of
    scanning the table: after a build that brings a duplicated key (two integrations of HubSpot) and a null one, and
    after the duplicated key's records are deleted, it fails exactly as the scan of the table (and a full refresh)."""
    wh, work = landed
    assert _key_failures(wh, work, full_refresh=True) == []
    assert "__key_violations" in next((work / "target" / "compiled").rglob(
        "primary_key_stg_hubspot__email_events*.sql")).read_text()
    with wh.connect() as con:
        _raw_event(con, "hubspot", "ev-50")
        _raw_event(con, "hubspot_eu", "ev-50")
        _raw_event(con, "hubspot", None)
    found = _key_failures(wh, work)
    assert "_loaded_at > (" in _compiled(work, "stg_hubspot__email_events")  # an incremental build
    assert found == [("not_null_stg_hubspot__email_events_email_event_id", 1),
                     ("unique_stg_hubspot__email_events_email_event_id", 1)]
    assert _key_failures(wh, work, full_refresh=True) == found
    _key_failures(wh, work)  # nothing new: the violations stay
    _land(wh, "hubspot", "email_events", [_event(51)], deleted=("ev-50",))
    with wh.connect() as con:
        con.execute("delete from raw.hubspot__email_events where _integration = 'hubspot_eu'")
    found = _key_failures(wh, work)
    assert found == [("not_null_stg_hubspot__email_events_email_event_id", 1)]
    assert _key_failures(wh, work, full_refresh=True) == found


def test_steward_run_takes_full_refresh(tmp_path):
    """The option parses and reaches the run (which here stops at the missing config, before any work)."""
    from cli_in_process import steward_in_process  # not typer's CliRunner: without PREFECT_API_URL, `run` launched
    from steward.flows.governance import RunParams  # Prefect's temporary server, left running in the worker

    missing = tmp_path / "nope.yaml"
    result = steward_in_process("run", "--full-refresh", "-c", str(missing), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {missing}: config file not found"), \
        result.stdout + result.stderr
    assert RunParams(config="steward.yaml", full_refresh=True).full_refresh
    assert not RunParams(config="steward.yaml").full_refresh
