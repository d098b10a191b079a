"""A `platform: custom` system takes part in every people-grain cross-system check as one more system (#14 item 2).

Two tiny worlds, worked out by hand: Salesforce, a CDP with its erasure log, a Google Ads Customer Match upload, and a
custom email platform named ``klaviyo`` (people, consent events, touches and its own erasure log). In the planted
world klaviyo carries one problem per check family, each listed below with the finding it must raise; its clean twin
holds the same people kept consistent, and raises nothing. AS_OF is 20 Nov 2026 12:00 UTC.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from steward.contracts.governance import evaluate
from steward.contracts.policy import load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.target import PostgresTarget
from pg import copy_schema_to_postgres
from tiny import AS_OF, build, mart, tiny_policy, tiny_warehouse, ts

pytestmark = pytest.mark.slow

MARTS = ["gov_reconciliation__consent", "gov_identity__match", "gov_timeliness__propagation",
         "gov_identity__duplicates", "gov_identity__links", "gov_privacy__erasure",
         "gov_privacy__deletion_propagation", "gov_consent__channel_purpose", "gov_privacy__retention",
         "gov_integration_health__freshness"]
_POLICY = load_policy()
POLICY = tiny_policy(_POLICY.model_copy(update={"checks": {k: r for k, r in _POLICY.checks.items()
                                                           if r.mart in MARTS}}),
                     retention_days={**_POLICY.scope.retention_days, "custom.touches": 60})
SF = {"ana": "003000000000000001", "cy": "003000000000000003", "dee": "003000000000000004",
      "eve": "003000000000000005", "fay": "003000000000000006"}
FRESH = "2026-11-19 10:00"  # 26 hours before AS_OF: within the 48-hour freshness SLA


# what the planted world must raise, and nothing else (worked out in the comments of planted())
PLANTED_FINDINGS = {
    ("reconciliation.consent_crm_vs_esp", "salesforce~klaviyo"),
    ("reconciliation.consent_crm_vs_esp", "cdp~klaviyo"),
    ("timeliness.change_not_propagated", "email_opt_out:klaviyo->salesforce"),
    ("timeliness.change_not_propagated", "email_opt_out:klaviyo->cdp"),
    # the people erased or deleted elsewhere (bo, fay) and cy, erased through klaviyo, break the match
    ("identity.match_rate", "klaviyo~salesforce"), ("identity.match_rate", "klaviyo~cdp"),
    ("identity.match_rate", "salesforce~klaviyo"), ("identity.match_rate", "salesforce~cdp"),
    ("identity.duplicate_records", "klaviyo.people"),
    ("identity.broken_links", "klaviyo.crm_person_id"),
    ("privacy.erasure_not_honoured", "klaviyo"), ("privacy.erasure_not_honoured", "salesforce"),
    ("privacy.deletion_not_propagated", "salesforce->klaviyo"),
    ("consent.email_without_consent", "email/marketing in klaviyo"),
    ("consent.ad_upload_without_consent", "ads/customer_match in klaviyo"),
    ("privacy.retention_exceeded", "klaviyo.touches"),
    ("integration_health.stale_source", "klaviyo"),
}


def _email(name: str) -> str:
    return f"{name}@x.io"


def _sha(name: str) -> str:
    return hashlib.sha256(_email(name).encode()).hexdigest()


def _contact(name: str, opted_out: bool = False) -> dict:
    return {"Id": SF[name], "FirstName": name.title(), "LastName": "T", "Email": _email(name),
            "HasOptedOutOfEmail": opted_out, "CreatedDate": ts("2025-01-01"), "SystemModstamp": ts(FRESH)}


def _profile(name: str, email_ok: bool = True) -> dict:
    return {"profile_id": f"prof_{name}", "email": _email(name), "consent_email": email_ok, "consent_ads": True,
            "updated_at": ts(FRESH)}


def _request(rid: str, name: str) -> dict:
    return {"request_id": rid, "request_type": "erasure", "email_sha256": _sha(name), "status": "completed",
            "requested_at": ts("2026-10-01"), "completed_at": ts("2026-10-02"), "updated_at": ts("2026-10-02")}


def _builtins(contacts: list[dict], profiles: list[dict]) -> dict[str, pd.DataFrame]:
    return {
        "salesforce.contacts": pd.DataFrame(contacts),
        "cdp.profiles": pd.DataFrame(profiles),
        "cdp.erasure_requests": pd.DataFrame([_request("dsr-1", "bo")]),  # bo asked the CDP to erase him
        "google_ads.audience_uploads": pd.DataFrame([{  # eve is in a Customer Match list (the CDP says yes)
            "user_list.id": "9100000001", "offline_user_data_job.id": "1", "upload_time": ts("2026-11-18"),
            "user_identifiers.hashed_email": _sha("eve")}]),
    }


def _person(pid: str, name: str, updated: str, **extra) -> dict:
    return {"person_id": pid, "email": _email(name), "created_at": ts("2026-01-01"), "updated_at": ts(updated),
            **extra}


def _touch(tid: str, name: str, at: str) -> dict:
    return {"touch_id": tid, "email": _email(name), "channel": "email", "campaign_id": "k-c1", "touched_at": ts(at)}


def _ads_event(eid: str, status: str, at: str) -> dict:
    return {"event_id": eid, "person_id": "k6", "email": None, "channel": "ads", "purpose": "advertising",
            "status": status, "occurred_at": ts(at)}  # names only klaviyo's person id: the email comes from k6


def _email_event(eid: str, pid: str, status: str, at: str) -> dict:
    return {"event_id": eid, "person_id": pid, "email": None, "channel": "email", "purpose": "marketing",
            "status": status, "occurred_at": ts(at)}


def planted() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Salesforce holds ana, cy, dee, eve and deleted fay; the CDP holds ana, dee, eve."""
    builtins = _builtins([_contact(n) for n in ("ana", "cy", "dee", "eve")],
                         [_profile(n) for n in ("ana", "dee", "eve")])
    custom = {
        "people": pd.DataFrame([
            # ana opted out in klaviyo on 1 Nov; Salesforce and the CDP still say yes
            _person("k1", "ana", "2026-11-01", email_opt_out=True, opted_out_at=ts("2026-11-01"), gender="female"),
            # bo was erased through the CDP and is still held here
            _person("k2", "bo", "2026-11-01", age_band="35-44", gender="male", region="EMEA"),
            # dee: one person, two records; her record says opted in (1 Nov), her email event of 3 Nov (newer,
            # naming only k4) says she withdrew: klaviyo holds her opt-out too
            _person("k4", "dee", "2026-11-01", email_opt_out=False), _person("k5", "dee", "2026-11-01"),
            _person("k6", "eve", "2026-11-01", crm_person_id="003000000000000999"),  # a link to no CRM record
            _person("k7", "fay", "2026-11-01"),  # deleted in Salesforce, still held here
        ]),
        "consent_events": pd.DataFrame([_ads_event("e1", "withdrawn", "2026-11-05"),  # eve: no ads for me
                                        _email_event("e3", "k4", "withdrawn", "2026-11-03")]),
        "touches": pd.DataFrame([
            _touch("t1", "ana", "2026-11-10"),  # mailed nine days after her opt-out
            _touch("t0", "dee", "2026-08-01"),  # 111 days old against a 60-day retention; the newest touch
        ]),                                     # (10 Nov) is 10.5 days old against the 48-hour SLA
        "erasure_requests": pd.DataFrame([_request("q1", "cy")]),  # cy asked klaviyo; Salesforce still holds cy
    }
    return builtins, custom


def clean() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The same people, kept consistent: ana opted out everywhere, bo, cy and fay held nowhere."""
    builtins = _builtins([_contact("ana", opted_out=True), _contact("dee"), _contact("eve")],
                         [_profile("ana", email_ok=False), _profile("dee"), _profile("eve")])
    custom = {
        "people": pd.DataFrame([
            _person("k1", "ana", FRESH, email_opt_out=True, opted_out_at=ts("2026-11-01")),
            _person("k4", "dee", FRESH),
            _person("k6", "eve", FRESH, crm_person_id=SF["eve"]),  # a link to eve's own CRM record
        ]),
        # eve withdrew her ads consent on 5 Nov and gave it again on 8 Nov: the latest event counts
        "consent_events": pd.DataFrame([_ads_event("e1", "withdrawn", "2026-11-05"),
                                        _ads_event("e2", "granted", "2026-11-08"),
                                        # older than ana's opt-out on her record: the record's flag stands
                                        _email_event("e3", "k1", "granted", "2026-10-01")]),
        "touches": pd.DataFrame([_touch("t1", "ana", "2026-10-20"), _touch("t0", "dee", "2026-11-18")]),
        "erasure_requests": pd.DataFrame([_request("q1", "cy")]),
    }
    return builtins, custom


def _load(wh: Warehouse, world) -> None:
    """The world's rows in the raw tables, replacing the previous world's (one warehouse, one dbt parse)."""
    builtins, custom = world
    with wh.connect() as con:
        for key in [*builtins, *(f"custom.{entity}" for entity in custom)]:
            con.execute(f'delete from raw."{key.replace(".", "__")}"')
        for key, frame in builtins.items():
            con.register("rows", frame.assign(_batch_id="b-tiny", _integration=key.split(".")[0], _loaded_at=AS_OF))
            con.execute(f'insert into raw."{key.replace(".", "__")}" by name select * from rows')
            con.unregister("rows")
        for entity, frame in custom.items():  # the integration's name is the system's: klaviyo
            con.register("rows", frame.assign(_batch_id="b-k", _integration="klaviyo", _loaded_at=AS_OF))
            con.execute(f"insert into raw.custom__{entity} by name select * from rows")
            con.unregister("rows")


def _govern(wh: Warehouse, work: Path, world) -> tuple[dict[str, pd.DataFrame], set[tuple[str, str]]]:
    _load(wh, world)
    build(wh, work, POLICY, [f"+{m}" for m in MARTS] + ["int_customers__unified"])
    with wh.pinned():  # one open of the file for the judging and the marts' reads
        findings = evaluate(POLICY, lambda m: wh.query_df(f"select * from governance.{m}"), "t")
        marts = {m: mart(wh, m) for m in MARTS}
        marts["int_customers__unified"] = wh.query_df("select * from staging.int_customers__unified order by email_key")
    return marts, {(f.check_id, f.subject) for f in findings}


def _tombstone(wh: Warehouse) -> None:
    with wh.connect() as con:
        con.execute("insert into ledger.tombstones (integration, entity, record_id, batch_id, seen_at, email_sha256) "
                    "values ('salesforce', 'contacts', ?, 'b-del', timestamptz '2026-10-15', ?)",
                    [SF["fay"], _sha("fay")])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both worlds governed in turn in one warehouse. In both, Salesforce reported fay's contact deleted on 15 Oct
    (ledger.tombstones, the platform read from the batch)."""
    root = tmp_path_factory.mktemp("custom-people")
    batches = pd.DataFrame([{"batch_id": "b-del", "integration": "salesforce", "platform": "salesforce",
                             "entity": "contacts"}])
    wh = tiny_warehouse(root, {}, batches=batches)
    _tombstone(wh)
    return {"planted": _govern(wh, root / "work", planted()), "clean": _govern(wh, root / "work", clean())}


@pytest.fixture(scope="module")
def planted_run(runs):
    return runs["planted"]


@pytest.fixture(scope="module")
def clean_run(runs):
    return runs["clean"]


def _row(frame: pd.DataFrame, **key) -> dict:
    hit = frame
    for column, value in key.items():
        hit = hit[hit[column] == value]
    assert len(hit) == 1, (key, frame)
    return hit.iloc[0].to_dict()


def test_consent_agreement_and_propagation_name_the_custom_system(planted_run):
    marts, _ = planted_run
    # klaviyo ranks after the built-ins: salesforce~klaviyo and cdp~klaviyo, each disagreeing on ana and dee (the
    # only people klaviyo holds an email consent for: the others' records carry no flag and no email event)
    consent = marts["gov_reconciliation__consent"].set_index("systems")
    assert consent.loc[["salesforce~cdp", "salesforce~klaviyo", "cdp~klaviyo"], "mismatches"].tolist() == [0, 2, 2]
    assert consent.loc["salesforce~klaviyo", "people_compared"] == 2
    # ana's opt-out of 1 Nov and dee's of 3 Nov reached neither Salesforce nor the CDP within 24 hours
    late = marts["gov_timeliness__propagation"].set_index("propagation")
    assert late.loc[["email_opt_out:klaviyo->salesforce", "email_opt_out:klaviyo->cdp"], "late_changes"].tolist() \
        == [2, 2]
    assert late.loc["email_opt_out:klaviyo->salesforce", "oldest_late_hours"] == pytest.approx(19 * 24 + 12)
    # match: klaviyo holds bo and fay, whom Salesforce and the CDP do not; Salesforce holds cy, klaviyo does not
    match = marts["gov_identity__match"].set_index("systems")
    assert match.loc["klaviyo~salesforce", ["people", "missing_in_other"]].tolist() == [5, 2]
    assert match.loc["salesforce~klaviyo", ["people", "missing_in_other"]].tolist() == [4, 1]
    assert match.loc["cdp~klaviyo", "missing_in_other"] == 0


def test_identity_duplicates_and_links_within_the_custom_system(planted_run):
    marts, _ = planted_run
    dup = _row(marts["gov_identity__duplicates"], scope="klaviyo.people")
    assert (dup["people"], dup["records"], dup["duplicated_people"], dup["duplicate_records"]) == (5, 6, 1, 1)
    link = _row(marts["gov_identity__links"], link="klaviyo.crm_person_id")
    assert (link["system"], link["links"], link["broken_links"]) == ("klaviyo", 1, 1)


def test_erasure_and_deletion_reach_the_custom_system(planted_run):
    marts, _ = planted_run
    erasure = marts["gov_privacy__erasure"].set_index("system")
    cols = ["requests_completed", "people_still_present", "contacts_after_request", "people_not_erased"]
    # two completed requests: bo's from the CDP's log, cy's from klaviyo's; klaviyo still holds bo, Salesforce cy
    assert erasure.loc["klaviyo", cols].tolist() == [2, 1, 0, 1]
    assert erasure.loc["salesforce", cols].tolist() == [2, 1, 0, 1]
    assert erasure.loc["cdp", "people_not_erased"] == erasure.loc["google_ads", "people_not_erased"] == 0
    assert list(erasure.loc["salesforce", "example_requests"]) == ["klaviyo:q1"]
    deletion = marts["gov_privacy__deletion_propagation"].set_index("propagation")
    assert deletion.loc["salesforce->klaviyo", ["people_deleted", "people_still_present"]].tolist() == [1, 1]
    assert deletion.loc["salesforce->cdp", "people_not_deleted"] == 0


def test_consent_by_channel_judges_custom_sends_and_custom_consent(planted_run):
    marts, _ = planted_run
    got = marts["gov_consent__channel_purpose"].set_index(["channel", "system"])
    cols = ["purpose", "people_contacted", "people_known", "people_without_consent", "contacts_without_consent"]
    # klaviyo's two email touches (ana, dee) are sends; both withdrew in klaviyo, only ana's send came after it
    assert got.loc[("email", "klaviyo"), cols].tolist() == ["marketing", 2, 2, 1, 1]
    assert got.loc[("email", "salesforce"), cols].tolist() == ["marketing", 2, 2, 0, 0]
    # eve is in a Customer Match list while her latest ads consent event in klaviyo is a withdrawal
    assert got.loc[("ads", "klaviyo"), cols].tolist() == ["customer_match", 1, 1, 1, 1]
    assert got.loc[("ads", "cdp"), "people_without_consent"] == 0


def test_retention_and_freshness_judge_the_custom_system(planted_run):
    marts, _ = planted_run
    kept = _row(marts["gov_privacy__retention"], entity="klaviyo.touches")
    assert (kept["retention_days"], kept["records"], kept["records_past_retention"]) == (60, 2, 1)
    fresh = _row(marts["gov_integration_health__freshness"], platform="klaviyo")
    assert set(fresh["entities"].split(", ")) == {"people", "consent_events", "touches", "erasure_requests"}
    assert fresh["hours_since_last_record"] == pytest.approx(10 * 24 + 12)  # the 10 Nov touch
    assert fresh["staleness_ratio"] == pytest.approx((10 * 24 + 12) / 48)


def test_custom_people_are_unified_customers_with_their_groups(planted_run):
    """A decision log that names klaviyo's person ids finds them, and their groups (joinactivity's decisions)."""
    got = planted_run[0]["int_customers__unified"].set_index("email_key").astype(object)
    got = got.where(got.notna(), None)
    cols = ["crm_person_id", "custom_system", "custom_person_id", "age_band", "gender", "region", "is_in_crm",
            "is_in_custom"]
    # bo is held by klaviyo only: his klaviyo person id stands in for a CRM id, his attributes are klaviyo's
    assert got.loc["bo@x.io", cols].tolist() == ["k2", "klaviyo", "k2", "35-44", "male", "EMEA", False, True]
    # ana is in Salesforce: its id wins; neither Salesforce nor the CDP knows her gender, klaviyo does
    assert got.loc["ana@x.io", cols].tolist() == [SF["ana"], "klaviyo", "k1", None, "female", None, True, True]
    assert got.loc["ana@x.io", "is_opted_out_in_custom"]
    # eve's klaviyo record links to a CRM id that does not exist: Salesforce's own record of her is used
    assert got.loc["eve@x.io", "crm_person_id"] == SF["eve"]
    assert len(got) == 6 and got["crm_person_id"].notna().all()


def test_planted_world_raises_exactly_the_planted_findings(planted_run):
    assert planted_run[1] == PLANTED_FINDINGS


def test_postgres_judges_the_planted_world_the_same(tmp_path_factory, pg_server):
    """The custom paths (the rank after the built-ins, the newer-wins consent, first_row_per) on PostgreSQL."""
    root = tmp_path_factory.mktemp("custom-people-pg")
    duck = tiny_warehouse(root, {}, batches=pd.DataFrame([{"batch_id": "b-del", "integration": "salesforce",
                                                          "platform": "salesforce", "entity": "contacts"}]))
    _tombstone(duck)
    _load(duck, planted())
    url = pg_server.fresh_database("custom_people")
    for schema in ("raw", "ledger"):
        copy_schema_to_postgres(pg_server.psycopg, url, duck.path, schema)
    outcome = dbt_build.build(PostgresTarget.from_url(url), root / "pg",
                              {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()}, select=[f"+{m}" for m in MARTS])
    assert not outcome.test_failures and not outcome.skipped, outcome
    pg = Warehouse(url)
    findings = evaluate(POLICY, lambda m: pg.query_df(f"select * from governance.{m}"), "t")
    assert {(f.check_id, f.subject) for f in findings} == PLANTED_FINDINGS


def test_clean_twin_raises_nothing(clean_run):
    marts, findings = clean_run
    assert findings == set()
    # and klaviyo did take part: compared, matched, judged
    assert marts["gov_reconciliation__consent"].set_index("systems").loc["salesforce~klaviyo", "people_compared"] == 1
    assert set(marts["gov_privacy__erasure"]["system"]) == {"salesforce", "cdp", "google_ads", "klaviyo"}
    assert _row(marts["gov_consent__channel_purpose"], channel="ads", system="klaviyo")["people_known"] == 1
    assert _row(marts["gov_integration_health__freshness"], platform="klaviyo")["staleness_ratio"] < 1
