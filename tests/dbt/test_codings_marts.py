"""Issue #14 item 3 in the warehouse: bands applied in staging by the policy's edges, a team's own codes landed and
reported (gov_data_quality__codings, data_quality.unknown_codes), and a missing value kept apart from "unknown".

The tiny workspace, worked by hand:

    CDP profiles (landed from a Parquet export through the contract, as a team's sync writes it)
        age     16 -> under 18, 18 -> 18-24, 24.9 -> 18-24, 25 -> 25-34, 64 -> 55-64, 65 -> 65+, 90 -> 65+, none -> none
        one profile gives age_band 35-44 with age 20: the given band wins
        gender  M x3, F x2, U x1, female x1, unknown x1, null x1   -> unknown codes M 3, F 2, U 1 of 8 coded rows
    custom people   age 31 -> 25-34; gender "F" -> an unknown code of system "custom"; two mis-mapped genders (an
                    email address, a 30-character text) -> reported masked
    custom touches  channel email x2, pigeon x1 -> pigeon unknown, 1 of 3
    decision log    lead_score x10, churn_risk x2 (both decisions of lead_scoring) -> churn_risk 2 of 12
    CRM contacts    gender female x4, unknown x3, null x3: the bias mart keeps "unknown" (3) and "(missing)" (3) apart
    launch audience female x4, unknown x2, null x3: launch__bias keeps them apart the same way
"""

from __future__ import annotations

import pandas as pd
import pytest

from steward.contracts.codings import Codings
from steward.contracts.governance import judge
from steward.flows.launch_checks import launch_vars
from steward.flows.launch_spec import LaunchSpec
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.demo.injections import Injections
from steward.integrations.warehouse.landing import land_batch
from steward.integrations.warehouse.validation import check_batch
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.target import PostgresTarget
from governed import governed_copy
from pg import copy_schema_to_postgres
from tiny import AS_OF, build, mart, tiny_policy, tiny_warehouse, ts

pytestmark = pytest.mark.slow
CHECK = "data_quality.unknown_codes"
POLICY = tiny_policy(bias_dimensions=["gender"])
AGES = [16, 18, 24.9, 25, 64, 65, 90, None, 20]
GENDERS = ["M", "M", "F", "U", "female", "unknown", "M", None, "F"]


def _profiles() -> pd.DataFrame:
    n = len(AGES)
    return pd.DataFrame({
        "profile_id": [f"p{i}" for i in range(n)], "user_id": [None] * n,
        "email": [f"c{i}@example.com" for i in range(n)], "age": AGES,
        "age_band": [None] * (n - 1) + ["35-44"], "gender": GENDERS, "region": ["EMEA"] * n,
        "consent_email": [True] * n, "consent_ads": [None] * n, "audiences": [None] * n,
        "first_seen_at": [ts("2026-10-01")] * n, "updated_at": [ts("2026-11-01")] * n})


def _land_profiles(wh, folder) -> None:
    """Through the real path: the export file, the adapter, the contract, the landing."""
    folder.mkdir()
    _profiles().to_parquet(folder / "profiles.parquet", index=False)
    for batch in ExportFilesAdapter("cdp", "cdp", folder, wh, entities=["profiles"]).pull("profiles"):
        verdict = check_batch(batch)
        assert len(verdict.quarantined) == 0  # a team's codes land: before, M/F/U broke isin and were quarantined
        land_batch(wh, batch, verdict.valid, verdict.quarantined, verdict.drift, verdict.contract.version, "t",
                   verdict.contract.owner)


def _contacts() -> pd.DataFrame:
    genders = ["female"] * 4 + ["unknown"] * 3 + [None] * 3
    return pd.DataFrame({"Id": [f"003{i:015d}" for i in range(10)], "LastName": "x",
                         "Email": [f"s{i}@example.com" for i in range(10)], "Gender__c": genders,
                         "HasOptedOutOfEmail": False, "CreatedDate": AS_OF, "SystemModstamp": AS_OF})


def _decisions(contacts: pd.DataFrame) -> pd.DataFrame:
    ids = list(contacts["Id"]) + list(contacts["Id"][:2])
    return pd.DataFrame({"decision_id": [f"d{i}" for i in range(12)], "decided_at": AS_OF,
                         "model_name": "lead_scoring", "model_version": "3.2.0",
                         "decision_type": ["lead_score"] * 10 + ["churn_risk"] * 2, "subject_id": ids,
                         "decision": ["priority", "nurture"] * 6, "human_reviewed": False, "executed": True})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("codings")
    contacts = _contacts()
    people = pd.DataFrame({"person_id": ["x1", "x2", "x3"], "email": ["x1@example.com", None, None],
                           "age": [31.0, None, None], "gender": ["F", "ana@example.com", "x" * 30],
                           "updated_at": [ts("2026-11-01")] * 3})
    touches = pd.DataFrame({"touch_id": ["t1", "t2", "t3"], "person_id": "x1", "channel": ["email", "email", "pigeon"],
                            "campaign_id": "c1", "touched_at": ts("2026-11-02")})
    wh = tiny_warehouse(root, {"salesforce.contacts": contacts, "decisions.ai_decisions": _decisions(contacts),
                               "custom.people": people, "custom.touches": touches})
    _land_profiles(wh, root / "cdp")
    build(wh, root / "dbt", POLICY, ["+gov_data_quality__unknown_codes", "+gov_bias__selection_rates"])
    return wh


def test_numeric_ages_are_banded_in_staging_by_the_policys_edges(built):
    got = built.query_df("select profile_id, age_band from staging.stg_cdp__profiles order by profile_id")
    assert got["age_band"].fillna("-").tolist() == ["under 18", "18-24", "18-24", "25-34", "55-64", "65+", "65+",
                                                    "-", "35-44"]  # p8: the band the CDP gave wins over its age (20)
    custom = built.query_df("select age, age_band from staging.stg_custom__people where person_id = 'x1'")
    assert custom.to_dict("records") == [{"age": 31.0, "age_band": "25-34"}]


def test_other_edges_in_the_policy_give_other_bands(tmp_path):
    wh = tiny_warehouse(tmp_path, {"cdp.profiles": _profiles()})
    policy = POLICY.model_copy(update={"codings": Codings(bands={"age": [21, 40]}, sensitive=["age_band"],
                                                          attributes={"age_band": ["21-39", "40+"]})})
    build(wh, tmp_path / "dbt", policy, ["stg_cdp__profiles"])
    got = wh.query_df("select age_band from staging.stg_cdp__profiles order by profile_id")["age_band"]
    assert got.fillna("-").tolist() == ["under 21", "under 21", "21-39", "21-39", "40+", "40+", "40+", "-", "35-44"]


def test_unknown_codes_are_counted_per_system_entity_column_and_code(built):
    rows = mart(built, "gov_data_quality__codings", "system, entity, column_name, code")
    masked = rows[rows["code"].str.startswith("h:")]
    assert len(masked) == 2 and set(masked["code"].str.len()) == {12}  # md5 tokens: no address, no long text
    got = [(r.system, r.entity, r.column_name, r.coding, r.code, r.row_count, r.column_rows, r.is_sensitive)
           for r in rows.itertuples(index=False) if not r.code.startswith("h:")]
    assert got == [
        ("cdp", "profiles", "gender", "attribute", "F", 2, 8, True),
        ("cdp", "profiles", "gender", "attribute", "M", 3, 8, True),
        ("cdp", "profiles", "gender", "attribute", "U", 1, 8, True),
        ("custom", "people", "gender", "attribute", "F", 1, 3, True),
        ("custom", "touches", "channel", "channel", "pigeon", 1, 3, False),
        ("decisions", "ai_decisions", "decision_type", "decision_type", "churn_risk", 2, 12, False),
    ]  # "unknown" is a listed gender, null is missing (not a code), the bands are the policy's own labels


def test_the_finding_names_the_column_the_codes_and_the_counts(built):
    summary = mart(built, "gov_data_quality__unknown_codes")
    findings = {f.subject: f for f in judge(CHECK, POLICY.checks[CHECK], summary, "t", POLICY)}
    assert {s: (f.severity.value, round(f.observed, 4)) for s, f in findings.items()} == {
        "cdp/profiles.gender": ("critical", 0.75),  # 6 of 8 coded rows: past the 0.5 critical share
        "custom/people.gender": ("critical", 1.0),
        "custom/touches.channel": ("warn", round(1 / 3, 4)),
        "decisions/ai_decisions.decision_type": ("warn", round(2 / 12, 4))}
    cdp = findings["cdp/profiles.gender"]
    assert cdp.family == "data_quality" and cdp.owner == "data-platform"  # the CDP contract's owner
    assert cdp.evidence["example_codes"] == "M (3), F (2), U (1)"
    assert (cdp.evidence["unknown_rows"], cdp.evidence["coded_rows"], cdp.evidence["unknown_codes"]) == (6, 8, 3)
    assert cdp.explanation.startswith("6 of 8 profiles rows of cdp hold a gender the policy's codings do not list "
                                      "(75.0%; 3 codes: M (3), F (2), U (1)).")


def test_missing_is_its_own_group_apart_from_unknown_in_the_bias_mart(built):
    groups = mart(built, "gov_bias__selection_rates").set_index("group_value")
    assert groups.loc[["female", "unknown", "(missing)"], "n"].tolist() == [6, 3, 3]  # 4 + 2 churn_risk decisions


def test_the_launch_bias_mart_keeps_missing_apart_from_unknown(tmp_path):
    wh = Warehouse(tmp_path / "tiny.duckdb")
    audience = pd.DataFrame({"gender": ["female"] * 4 + ["unknown"] * 2 + [None] * 3, "age_band": None,
                             "region": None, "is_eligible": True, "is_selected": [True, False, True] * 3})
    with wh.connect() as con:
        con.execute("create schema if not exists launch")
        con.register("audience", audience)
        con.execute("create or replace table launch.launch__audience as select * from audience")
    spec = LaunchSpec.model_validate({"id": "winback", "name": "Win-back", "starts_on": "2026-12-01",
                                      "ends_on": "2026-12-14", "platforms": ["hubspot"], "channels": ["email"],
                                      "planned": {"emails_per_week": 1}, "audience": {"segment": "high_intent"}})
    dbt_build.build(wh.path, tmp_path / "dbt", launch_vars(spec, POLICY, AS_OF, "launch-winback-1"),
                    select=["launch__bias"])
    groups = wh.query_df("select group_value, n from launch.launch__bias order by group_value")
    assert groups.values.tolist() == [["(missing)", 3], ["female", 4], ["unknown", 2]]


def test_the_demo_holds_only_the_policys_codes(tmp_path_factory):
    """The session's governed demo template (every injection on): no unknown code, so no finding."""
    demo = governed_copy(tmp_path_factory, "codings-demo", seed=11, scale=0.5, injections=Injections())
    assert mart(demo.wh, "gov_data_quality__codings").empty
    assert not [f for f in demo.findings if f.check_id == CHECK]


def test_postgres_bands_and_counts_the_same(built, pg_server, tmp_path):
    """The demo's parity test (tests/dbt/test_postgres_parity.py) holds no unknown code; these rows do."""
    url = pg_server.fresh_database("codings")
    for schema in ("raw", "ledger"):
        copy_schema_to_postgres(pg_server.psycopg, url, built.path, schema)
    outcome = dbt_build.build(PostgresTarget.from_url(url), tmp_path / "dbt",
                              {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                              select=["+gov_data_quality__unknown_codes"])
    assert not outcome.test_failures
    with pg_server.psycopg.connect(url) as con:
        for query in ("select profile_id, age_band from staging.stg_cdp__profiles order by 1",
                      "select system, entity, column_name, code, row_count, column_rows "
                      "from governance.gov_data_quality__codings order by 1, 2, 3, 4",
                      "select system, entity, column_name, unknown_rows, coded_rows, unknown_share, example_codes "
                      "from governance.gov_data_quality__unknown_codes order by 1, 2, 3"):
            pg = [tuple(row) for row in con.execute(query).fetchall()]
            duck = [tuple(None if pd.isna(v) else v for v in row)
                    for row in built.query_df(query).itertuples(index=False)]
            assert pg == duck and pg
