"""Issue #12, the daily run: the people-grain staging models are incremental and log the people they touch, and the
people models built on them (int_customers__unified, int_people__systems, int_people__opt_outs) recompute only those
people (macros/per_key.sql). Whatever a delta holds (a new person, a changed field, an email that changed, a record
the platform deleted, a person removed from one system but kept in another, a person who leaves every system, two
integrations of one platform, a model whose SQL changed), each incremental table must hold exactly the rows a
`--full-refresh` build of the same raw data holds. Everything is landed through Steward's own landing (validation,
merge by key, tombstones)."""

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

STAGING = ["stg_salesforce__contacts", "stg_salesforce__leads", "stg_hubspot__contacts", "stg_hubspot__subscriptions",
           "stg_cdp__profiles", "stg_marketo__leads", "stg_custom__people"]
PER_KEY = ["int_customers__unified", "int_people__systems", "int_people__opt_outs"]
SELECT = ["+int_customers__unified", "+int_people__opt_outs"]
AS_OF = pd.Timestamp("2026-11-20 12:00", tz="UTC")
T0 = pd.Timestamp("2026-11-01", tz="UTC")
T1 = pd.Timestamp("2026-11-05", tz="UTC")
T2 = pd.Timestamp("2026-11-08", tz="UTC")
# left out of a build of the empty warehouse (every incremental model created empty): on empty tables a data test can
# fail only as its SQL fails, and the next build runs the same tests' SQL, and the same unit tests, on landed rows
MODELS_ONLY = ["test_type:data", "test_type:unit"]


def _stream(platform: str, entity: str):
    return next(s for s in [*EXPORT_STREAMS, *MARKETO_STREAMS] if s.platform == platform and s.entity == entity)


def _land(wh: Warehouse, platform: str, entity: str, rows: list[dict], deleted: tuple[str, ...] = (),
          integration: str | None = None) -> None:
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(_EMPTY[entity]))
    fingerprint = hashlib.sha256(json.dumps([integration, rows, deleted], default=str).encode()).hexdigest()
    batch = Batch(integration or platform, _stream(platform, entity), frame, f"test://{platform}/{entity}",
                  fingerprint, merge=True, deleted=list(deleted))
    verdict = check_batch(batch)
    assert verdict.quarantined.empty, verdict.quarantined
    land_batch(wh, batch, verdict.valid, verdict.quarantined, verdict.drift, verdict.contract.version, "t")


def _person(email: str | None, at=T0, opted_out: bool = False) -> dict:
    return {"FirstName": "A", "LastName": "B", "Email": email, "Age_Band__c": "25-34", "Gender__c": "female",
            "Region__c": "EMEA", "HasOptedOutOfEmail": opted_out, "CreatedDate": T0, "SystemModstamp": at}


def _contact(i: int, email: str | None, at=T0, opted_out: bool = False, region: str = "EMEA") -> dict:
    return {"Id": f"003{i:015d}", **_person(email, at, opted_out), "Region__c": region, "AccountId": None,
            "Phone": None, "MailingCountry": None}


def _lead(i: int, email: str | None, at=T0) -> dict:
    return {"Id": f"00Q{i:015d}", **_person(email, at), "Company": "Acme", "Status": "Working - Contacted",
            "LeadSource": "Web", "IsConverted": False}


def _hubspot(i: int, email: str | None, at=T0, stage: str = "lead") -> dict:
    return {"id": str(i), "email": email, "firstname": "A", "lastname": "B", "lifecyclestage": stage,
            "salesforcecontactid": None, "salesforceleadid": None, "createdate": T0, "lastmodifieddate": at,
            "createdAt": T0, "updatedAt": at, "archived": False}


def _subscription(email: str, status: str, at=T0) -> dict:
    return {"recipient": email, "subscriptionId": "marketing_information", "status": status, "legalBasis": None,
            "sourceOfStatus": None, "timestamp": at}


def _profile(i: int, email: str | None, consent: bool = True, gender: str = "female", at=T0) -> dict:
    return {"profile_id": f"c{i}", "user_id": None, "email": email, "age_band": "25-34", "gender": gender,
            "region": "EMEA", "consent_email": consent, "consent_ads": True, "audiences": None,
            "first_seen_at": T0, "updated_at": at}


def _marketo(i: int, email: str, unsubscribed: bool = False, at=T0) -> dict:
    return {"id": i, "email": email, "firstName": "A", "lastName": "B", "unsubscribed": unsubscribed,
            "emailInvalid": False, "sfdcContactId": None, "sfdcLeadId": None, "createdAt": T0, "updatedAt": at}


def _custom(person: str, email: str, opted_out: bool | None, at=T0) -> dict:
    return {"person_id": person, "email": email, "email_opt_out": opted_out,
            "opted_out_at": at if opted_out else None, "updated_at": at}


_EMPTY = {"people": _custom("x", "x@example.com", None)}  # the columns of a batch that only deletes


def _build(wh: Warehouse, work, full_refresh: bool = False, tests: bool = True, **overrides) -> None:
    dbt_vars = {**load_policy().dbt_vars(), "as_of": AS_OF.isoformat(), **overrides}
    outcome = dbt_build.build(wh.path, work, dbt_vars, select=SELECT, full_refresh=full_refresh,
                              exclude=None if tests else MODELS_ONLY)
    assert not outcome.test_failures, [(f.test, f.message) for f in outcome.test_failures]


def _compiled(work, model: str) -> str:
    return next((work / "target" / "compiled").rglob(f"{model}.sql")).read_text()


def _snapshot(wh: Warehouse) -> None:
    with wh.connect() as con:
        for model in STAGING + PER_KEY:
            con.execute(f"create or replace table main.inc_{model} as select * from staging.{model}")


def _differences(wh: Warehouse, model: str) -> int:
    """Rows in one of the two builds and not (as often) in the other: EXCEPT ALL in both directions."""
    with wh.connect() as con:
        return con.execute(f"select (select count(*) from (select * from main.inc_{model} except all "
                           f"select * from staging.{model})) + (select count(*) from (select * from staging.{model} "
                           f"except all select * from main.inc_{model}))").fetchone()[0]


def _unified(wh: Warehouse) -> dict[str, tuple]:
    with wh.connect() as con:
        rows = con.execute("select email_key, is_in_crm, is_in_esp, is_in_cdp, is_in_custom, region "
                           "from staging.int_customers__unified").fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def _first_landing(wh: Warehouse) -> None:
    _land(wh, "salesforce", "contacts", [_contact(1, "p1@example.com"), _contact(3, "p3@example.com"),
                                         _contact(4, "p4@example.com"), _contact(5, "p5@example.com"),
                                         _contact(6, "p6@example.com"), _contact(7, "p7@example.com")])
    _land(wh, "salesforce", "contacts", [_contact(8, "p8@example.com", region="APAC")], integration="salesforce_eu")
    _land(wh, "salesforce", "leads", [_lead(2, "p2@example.com")])
    _land(wh, "hubspot", "contacts", [_hubspot(1, "p1@example.com"), _hubspot(2, "p2@example.com"),
                                      _hubspot(6, "p6@example.com")])
    _land(wh, "hubspot", "subscriptions", [_subscription("p1@example.com", "UNSUBSCRIBED"),
                                           _subscription("p3@example.com", "UNSUBSCRIBED")])
    _land(wh, "cdp", "profiles", [_profile(1, "p1@example.com"), _profile(3, "p3@example.com", consent=False),
                                  {**_profile(10, "p10@example.com"), "age_band": None, "age": 30.0}])
    _land(wh, "marketo", "leads", [_marketo(2, "p2@example.com", unsubscribed=True)])
    _land(wh, "custom", "people", [_custom("k4", "p4@example.com", True)], integration="klaviyo")
    _land(wh, "custom", "people", [_custom("b5", "p5@example.com", None)], integration="braze")


def _first_delta(wh: Warehouse) -> None:
    # a new person; a changed field; an email that changed (p3 -> p3new); deleted records: p6 leaves Salesforce but
    # stays in HubSpot, p7 leaves every system; the second Salesforce org changes its contact; custom systems: one
    # record changed, one deleted (the braze system then holds nobody: every custom system rank is recomputed)
    _land(wh, "salesforce", "contacts", [_contact(3, "p3new@example.com", at=T1), _contact(9, "p9@example.com", T1)],
          deleted=(_contact(6, None)["Id"], _contact(7, None)["Id"]))
    _land(wh, "salesforce", "contacts", [_contact(8, "p8@example.com", at=T1, region="LATAM")],
          integration="salesforce_eu")
    _land(wh, "hubspot", "contacts", [_hubspot(9, "p9@example.com", at=T1)])
    _land(wh, "hubspot", "subscriptions", [_subscription("p1@example.com", "SUBSCRIBED", at=T1)])
    _land(wh, "cdp", "profiles", [_profile(1, "p1@example.com", gender="male", at=T1)])
    _land(wh, "custom", "people", [_custom("k4", "p4@example.com", False, at=T1)], integration="klaviyo")
    _land(wh, "custom", "people", [], deleted=("b5",), integration="braze")


def _second_delta(wh: Warehouse) -> None:
    # after a full refresh: an opt-out made in Salesforce, a HubSpot contact whose email changed, a Marketo lead
    # re-sent
    _land(wh, "salesforce", "contacts", [_contact(1, "p1@example.com", at=T2, opted_out=True)])
    _land(wh, "hubspot", "contacts", [_hubspot(2, "p2b@example.com", at=T2)])
    _land(wh, "marketo", "leads", [_marketo(2, "p2@example.com", unsubscribed=False, at=T2)])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A warehouse built once while empty, then after the first landing: the state each delta starts from."""
    tmp_path = tmp_path_factory.mktemp("incremental_people")
    wh = Warehouse(tmp_path / "w.duckdb")
    ensure_raw_tables(wh)
    work = tmp_path / "dbt"
    _build(wh, work, tests=False)  # nothing landed yet: every incremental model is created empty
    _first_landing(wh)
    _build(wh, work)
    assert "__keys" in _compiled(work, "int_customers__unified")  # read the keys the landing logged
    return wh, work


def _check_against_full_refresh(wh: Warehouse, work, **overrides) -> None:
    _snapshot(wh)
    _build(wh, work, full_refresh=True, **overrides)
    for model in STAGING + PER_KEY:
        assert _differences(wh, model) == 0, model


def test_after_the_first_landing_the_people_tables_equal_a_full_refresh(warehouse):
    wh, work = warehouse
    assert _unified(wh)["p7@example.com"] == (True, False, False, False, "EMEA")
    assert wh.query_df("select count(*) as n from staging.int_people__opt_outs")["n"][0] > 0
    _check_against_full_refresh(wh, work)


def test_a_delta_rebuilds_only_the_people_it_touches_and_equals_a_full_refresh(warehouse):
    wh, work = warehouse
    _first_delta(wh)
    _build(wh, work)
    keys = set(wh.query_df("select email_key from staging.int_customers__unified__keys")["email_key"])
    assert keys == {"p1@example.com", "p3@example.com", "p3new@example.com", "p4@example.com", "p5@example.com",
                    "p6@example.com", "p7@example.com", "p8@example.com", "p9@example.com"}  # p2: untouched
    unified = _unified(wh)
    assert "p7@example.com" not in unified  # left every system: its row is gone
    assert unified["p6@example.com"] == (False, True, False, False, None)
    assert unified["p3@example.com"] == (False, False, True, False, "EMEA")  # only the CDP still holds the old email
    assert unified["p3new@example.com"][0] and unified["p8@example.com"][4] == "LATAM"
    assert unified["p5@example.com"][:4] == (True, False, False, False)
    _check_against_full_refresh(wh, work)


def test_a_second_delta_and_a_changed_model_sql_equal_a_full_refresh(warehouse):
    wh, work = warehouse
    _second_delta(wh)  # and int_customers__unified's SQL "changed" (its stored checksum differs): everyone rebuilt
    with wh.connect() as con:
        con.execute("update staging.int_customers__unified__built_from set checksum = 'the previous sql'")
    _build(wh, work)
    assert "__keys" not in _compiled(work, "int_customers__unified")  # every person rebuilt
    assert "__keys" in _compiled(work, "int_people__systems")
    keys = set(wh.query_df("select email_key from staging.int_people__opt_outs__keys")["email_key"])
    assert keys == {"p1@example.com", "p2@example.com", "p2b@example.com"}
    opt_outs = wh.query_df("select origin, target from staging.int_people__opt_outs "
                           "where customer_token = (select customer_token from staging.int_people__systems "
                           "where email_key = 'p1@example.com' limit 1)")
    assert sorted(zip(opt_outs.origin, opt_outs.target)) == [("salesforce", "cdp"), ("salesforce", "hubspot")]
    _check_against_full_refresh(wh, work)


def test_a_run_with_nothing_landed_recomputes_nobody(warehouse):
    wh, work = warehouse
    _build(wh, work)  # after a full refresh, nothing new: every input logs only its build's marker
    for model in PER_KEY:
        assert wh.query_df(f"select count(*) as n from staging.{model}__keys")["n"][0] == 0, model
    assert wh.query_df("select count(*) as n from staging.stg_salesforce__contacts__changes "
                       "where seq = (select max(seq) from staging.stg_salesforce__contacts__changes)")["n"][0] == 1


def test_changed_codings_band_every_age_again(warehouse):
    """stg_cdp__profiles bands ages by the policy's codings (rendered into its SQL): when they change, the incremental
    build reads all of raw again, as a full refresh would, and its people models follow."""
    wh, work = warehouse
    codings = load_policy().dbt_vars()["codings"]
    bands = {**codings["bands"], "age": {"edges": [18, 40], "labels": ["under 18", "18-39", "40+"]}}
    changed = {"codings": {**codings, "bands": bands}}
    _build(wh, work, **changed)
    assert wh.query_df("select age_band from staging.stg_cdp__profiles where profile_id = 'c10'")["age_band"][0] \
        == "18-39"
    _check_against_full_refresh(wh, work, **changed)


def test_a_consumer_behind_the_pruned_log_rebuilds_everyone(warehouse):
    """The change logs keep their last 5 builds. A per-key model that missed more builds of an input (here: the CDP
    staging model built alone six times) cannot know every person they touched: it rebuilds every person."""
    wh, work = warehouse
    dbt_vars = {**load_policy().dbt_vars(), "as_of": AS_OF.isoformat()}
    for day in range(6):
        _land(wh, "cdp", "profiles", [_profile(3, "p3@example.com", consent=bool(day % 2),
                                               at=T2 + pd.Timedelta(days=day))])
        # the model alone, without its data tests: nothing here reads their results (the builds below run them)
        dbt_build.build(wh.path, work, dbt_vars, select=["stg_cdp__profiles"], exclude=["test_type:data"])
    log = wh.query_df("select count(distinct seq) as builds, count(case when is_full then 1 end) as full_builds "
                      "from staging.stg_cdp__profiles__changes")
    assert log["builds"][0] == 5 and log["full_builds"][0] == 0  # what is kept names people, no full rebuild
    _build(wh, work)
    assert wh.query_df("select bool_and(is_all) as every from staging.int_customers__unified__keys")["every"][0]
    _check_against_full_refresh(wh, work)
