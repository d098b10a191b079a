"""Issue #12, the daily run: the cross-system marts gov_identity__match and gov_reconciliation__consent read
int_people__presence (one row per person, the systems holding them and the consent each holds), a per-key model
(macros/per_key.sql) that recomputes only the people int_people__systems recomputed; the marts group people by what
their systems hold and expand the groups into pairs of systems (macros/per_key_people.sql).

Two things must hold after any kind of change a real day brings (a new person, a changed email, a merged duplicate,
an opt-out, a record the platform deleted, a person who leaves every system, a re-ranked custom system): the daily
build of int_people__presence equals a `--full-refresh` build row for row, and each mart equals its definition (the
pairwise join over int_people__systems it replaced, below) row for row, example ids and column types included."""

from __future__ import annotations

import pandas as pd
import pytest

from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.landing import ensure_raw_tables
from steward.contracts.policy import load_policy
from steward.integrations.transform import dbt_build
from test_incremental_people import (AS_OF, MODELS_ONLY, T2, _compiled, _contact, _first_delta, _first_landing,
                                     _land, _profile, _second_delta)

SELECT = ["+gov_identity__match", "+gov_reconciliation__consent", "+gov_privacy__deletion_propagation"]
PRESENCE = "int_people__presence"
T3 = T2 + pd.Timedelta(days=3)

_EXAMPLES = "(array_agg(distinct {x} order by {x}) filter (where {x} is not null))[1:5]"

# The marts as they were defined before int_people__presence: every person's rows joined pairwise.
DEFINITIONS = {
    "gov_identity__match": """
        with held as (
            select system, email_key, customer_token from staging.int_people__systems where records > 0
        ),
        connected as (select distinct system from held),
        pairs as (
            select mine.system, other.system as other_system, mine.customer_token,
                   theirs.email_key is not null as is_in_other
            from held as mine
            inner join connected as other on other.system <> mine.system
            left join held as theirs on theirs.system = other.system and theirs.email_key = mine.email_key
        )
        select system, other_system, system || '~' || other_system as systems, count(*) as people,
               count(*) filter (where not is_in_other) as missing_in_other,
               cast(count(*) filter (where is_in_other) as double precision) / count(*) as match_rate,
               {examples} as example_ids
        from pairs group by system, other_system
    """.replace("{examples}", _EXAMPLES.format(x="case when not is_in_other then customer_token end")),
    "gov_reconciliation__consent": """
        with people as (
            select system, system_rank, email_key, customer_token, is_email_opted_out
            from staging.int_people__systems where is_email_opted_out is not null
        ),
        pairs as (
            select mine.system || '~' || theirs.system as systems, mine.customer_token,
                   mine.is_email_opted_out as left_out, theirs.is_email_opted_out as right_out
            from people as mine
            inner join people as theirs on theirs.email_key = mine.email_key and theirs.system_rank > mine.system_rank
        )
        select systems, count(*) as people_compared,
               sum(case when left_out <> right_out then 1 else 0 end) as mismatches,
               cast(sum(case when left_out <> right_out then 1 else 0 end) as double precision)
                   / nullif(count(*), 0) as mismatch_rate,
               {examples} as example_ids
        from pairs group by systems
    """.replace("{examples}", _EXAMPLES.format(x="case when left_out <> right_out then customer_token end")),
    "gov_privacy__deletion_propagation": """
        with deleted as (
            select platform as deleted_in, email_sha256, min(deleted_seen_at) as deleted_at
            from staging.stg_steward__tombstones
            where email_sha256 is not null and platform is not null
            group by platform, email_sha256
        ),
        -- the views the mart read then: int_people__held's CDP and Customer Match rows, int_people__contacts with the
        -- uploads (the marts now read both from int_people__presence, int_people__contacts and the uploads)
        held_view as (
            select 'cdp' as system, sha256(email_key) as email_sha256 from staging.stg_cdp__profiles
            where email_key is not null
            union select 'google_ads', hashed_email from staging.stg_google_ads__audience_uploads
        ),
        contacts_view as (
            select system, email_sha256, contacted_at from staging.int_people__contacts
            union all select 'google_ads', hashed_email, uploaded_at from staging.stg_google_ads__audience_uploads
        ),
        held as (
            select 'salesforce' as system, email_key from staging.stg_salesforce__contacts
            union all select 'salesforce', email_key from staging.stg_salesforce__leads
            union all select 'hubspot', email_key from staging.stg_hubspot__contacts
            union all select 'marketo', email_key from staging.stg_marketo__leads
            union all select system, email_key from staging.stg_custom__people
        ),
        records as (
            select distinct system, sha256(email_key) as email_sha256
            from held
            where email_key is not null and sha256(email_key) in (select email_sha256 from deleted)
        ),
        
        really_deleted as (
            select deleted.*
            from deleted
            left join records on records.system = deleted.deleted_in and records.email_sha256 = deleted.email_sha256
            where records.system is null
        ),
        
        present as (
            select system, email_sha256 from records
            union
            select system, email_sha256 from held_view
            where system in ('cdp', 'google_ads') and email_sha256 in (select email_sha256 from really_deleted)
        ),
        systems as (
            select distinct system from held where email_key is not null
            union select system from held_view
            union select system from contacts_view
            union select platform from staging.stg_steward__tombstones where platform is not null
        ),
        
        contacts as (
            select system, email_sha256, contacted_at
            from contacts_view
            where email_sha256 in (select email_sha256 from really_deleted)
        ),
        pairs as (
            select
                really_deleted.*,
                systems.system as still_in,
                row_number() over (order by really_deleted.deleted_in, really_deleted.email_sha256, systems.system)
                    as pair
            from really_deleted
            cross join systems
            where systems.system <> really_deleted.deleted_in
        ),
        
        judged as (
            select
                pairs.deleted_in,
                pairs.still_in,
                pairs.email_sha256,
                present.system is not null as is_present,
                count(contacts.contacted_at) as contacts_after_deletion
            from pairs
            left join present on present.system = pairs.still_in and present.email_sha256 = pairs.email_sha256
            left join contacts
                on contacts.system = pairs.still_in and contacts.email_sha256 = pairs.email_sha256
               and contacts.contacted_at > pairs.deleted_at
            group by pairs.pair, pairs.deleted_in, pairs.still_in, pairs.email_sha256, present.system
        )
        
        select
            deleted_in,
            still_in,
            deleted_in || '->' || still_in as propagation,
            count(*) as people_deleted,
            count(*) filter (where is_present) as people_still_present,
            cast(sum(contacts_after_deletion) as bigint) as contacts_after_deletion,
            count(*) filter (where is_present or contacts_after_deletion > 0) as people_not_deleted,
            {examples}
                as example_ids
        from judged
        group by deleted_in, still_in
    """.replace("{examples}", _EXAMPLES.format(
        x="case when is_present or contacts_after_deletion > 0 "
          "then 'h:' || left(md5(lower(trim(email_sha256))), 10) end")),
}


def _build(wh: Warehouse, work, full_refresh: bool = False, tests: bool = True) -> None:
    dbt_vars = {**load_policy().dbt_vars(), "as_of": AS_OF.isoformat()}
    outcome = dbt_build.build(wh.path, work, dbt_vars, select=SELECT, full_refresh=full_refresh,
                              exclude=None if tests else MODELS_ONLY)
    assert not outcome.test_failures, [(f.test, f.message) for f in outcome.test_failures]


def _rows(frame: pd.DataFrame) -> list[tuple]:
    """A result as sorted tuples; an example-id list as a tuple (an empty one and none alike: the mart coalesces)."""
    def cell(value):
        if pd.api.types.is_scalar(value) and pd.isna(value):
            return None
        if hasattr(value, "__len__") and not isinstance(value, str):
            return tuple(value)
        return value
    rows = [tuple(cell(v) for v in row) for row in frame.itertuples(index=False)]
    return sorted((tuple(() if v is None and i == len(row) - 1 else v for i, v in enumerate(row)) for row in rows),
                  key=repr)


def _merged_duplicate_delta(wh: Warehouse) -> None:
    # two Salesforce contacts of one person (a duplicate), a CDP opt-out of someone Salesforce holds opted in
    _land(wh, "salesforce", "contacts", [_contact(11, "p11@example.com", at=T3), _contact(12, "p11@example.com", T3)])
    _land(wh, "cdp", "profiles", [_profile(4, "p4@example.com", consent=False, at=T3)])


def _merge_delta(wh: Warehouse) -> None:
    # the duplicate merged (one record deleted, the other's email changed), a Salesforce opt-out
    _land(wh, "salesforce", "contacts", [_contact(11, "p11b@example.com", at=T3 + pd.Timedelta(days=1)),
                                         _contact(4, "p4@example.com", at=T3, opted_out=True)],
          deleted=(_contact(12, None)["Id"],))


def _mart_and_definition(wh: Warehouse, mart: str) -> tuple:
    """What the mart holds and what its definition gives: columns, rows, column types (a sum of ones is a HUGEINT on
    DuckDB), each as (built, defined)."""
    built = wh.query_df(f"select * from governance.{mart}")
    defined = wh.query_df(DEFINITIONS[mart])
    with wh.connect() as con:
        types = [[row[:2] for row in con.execute(f"describe {sql}").fetchall()]
                 for sql in (f"select * from governance.{mart}", DEFINITIONS[mart])]
    return (list(built.columns), list(defined.columns)), (_rows(built), _rows(defined)), tuple(types)


def _assert_marts_equal_definitions(seen: dict) -> None:
    for mart, (columns, rows, types) in seen.items():
        assert columns[0] == columns[1], mart
        assert rows[0] == rows[1], mart
        assert types[0] == types[1], mart


# each day's deltas, and whether int_people__presence recomputes only some people (the first delta removes a custom
# system's last person: every custom system is re-ranked, so int_people__systems and int_people__presence rebuild
# everyone). The second delta and the duplicate touch different people (p1, p2; p4, p11): one daily build and one full
# refresh for both, where each paid its own pair; the merge of the duplicate is the next day.
DAYS = [((_first_delta,), False), ((_second_delta, _merged_duplicate_delta), True), ((_merge_delta,), True)]
DELTAS = [(delta, per_key) for deltas, per_key in DAYS for delta in deltas]


def _daily_and_full_refresh(wh: Warehouse, work) -> dict:
    """After a daily build: the marts against their definitions, then a full refresh, the rows of
    int_people__presence in one build and not (as often) in the other, and the marts against their definitions
    again."""
    seen = {"daily": {mart: _mart_and_definition(wh, mart) for mart in DEFINITIONS}}
    with wh.connect() as con:
        con.execute(f"create or replace table main.inc_{PRESENCE} as select * from staging.{PRESENCE}")
    _build(wh, work, full_refresh=True)
    with wh.connect() as con:
        seen["differences"] = con.execute(
            f"select (select count(*) from (select * from main.inc_{PRESENCE} except all "
            f"select * from staging.{PRESENCE})) + (select count(*) from (select * from staging.{PRESENCE} "
            f"except all select * from main.inc_{PRESENCE}))").fetchone()[0]
    seen["full"] = {mart: _mart_and_definition(wh, mart) for mart in DEFINITIONS}
    return seen


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> dict[str, dict]:
    """The module's one chain of builds: an empty build, the first landing's, then each day of DAYS, each daily build
    followed by a full refresh. What each test asserts is recorded here, under the delta's name (``first_landing``
    for the landing), so the tests read it in any order."""
    tmp_path = tmp_path_factory.mktemp("per_key_identity")
    wh = Warehouse(tmp_path / "w.duckdb")
    ensure_raw_tables(wh)
    work = tmp_path / "dbt"
    _build(wh, work, tests=False)  # nothing landed: the marts are empty (models only: MODELS_ONLY says why)
    seen: dict[str, dict] = {"empty": {mart: wh.query_df(f"select count(*) as n from governance.{mart}")["n"][0]
                                       for mart in DEFINITIONS}}
    _first_landing(wh)
    _build(wh, work)
    seen["first_landing"] = {
        "match": wh.query_df("select systems, people, missing_in_other from governance.gov_identity__match"),
        "mismatches": wh.query_df("select mismatches from governance.gov_reconciliation__consent").mismatches,
        **_daily_and_full_refresh(wh, work)}
    for deltas, _ in DAYS:
        for delta in deltas:
            delta(wh)
        _build(wh, work)
        day = {"per_key": "__keys" in _compiled(work, PRESENCE),
               "propagation": wh.query_df("select people_deleted, people_still_present "
                                          "from governance.gov_privacy__deletion_propagation "
                                          "where propagation = 'salesforce->hubspot'")}
        day.update(_daily_and_full_refresh(wh, work))
        seen.update({delta.__name__: day for delta in deltas})
    return seen


def test_after_the_first_landing(days):
    assert all(n == 0 for n in days["empty"].values()), days["empty"]
    seen = days["first_landing"]
    match = seen["match"]
    assert len(match) > 0 and (match.missing_in_other > 0).any()
    assert (seen["mismatches"] > 0).any()
    _assert_marts_equal_definitions(seen["daily"])
    assert seen["differences"] == 0
    _assert_marts_equal_definitions(seen["full"])


@pytest.mark.parametrize("delta,per_key", DELTAS, ids=[d.__name__.strip("_") for d, _ in DELTAS])
def test_a_daily_build_after_each_delta_equals_a_full_refresh(days, delta, per_key):
    seen = days[delta.__name__]
    assert seen["per_key"] == per_key  # only the people int_people__systems recomputed
    if delta is _first_delta:  # p6 deleted in Salesforce, still held by HubSpot; p7 held nowhere else
        propagation = seen["propagation"]
        assert (propagation.people_deleted[0], propagation.people_still_present[0]) == (2, 1)
    _assert_marts_equal_definitions(seen["daily"])
    assert seen["differences"] == 0
    _assert_marts_equal_definitions(seen["full"])
