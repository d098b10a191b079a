"""Mappings on synced warehouse tables (issue #14, item 1): a custom system's entities read from a table or a view of a
DuckDB file or a PostgreSQL database, and a built-in platform's synced table remapped column by column."""

from __future__ import annotations

import duckdb
import pytest
import yaml

from steward.contracts.errors import ConfigError
from steward.contracts.mapping import EntityMapping
from steward.flows.config import load_config
from steward.flows.pull import pull_integration
from steward.integrations.sources import build_adapter
from steward.integrations.sources.mapping import MappingColumnMissing, MappingFailed
from steward.integrations.warehouse import Warehouse

SENDS_SQL = """
create schema klaviyo;
create table klaviyo.sends ("Event ID" varchar, "Email" varchar, "Sent At" timestamp, "Campaign" varchar,
                            "Sex" varchar, _fivetran_synced timestamptz);
insert into klaviyo.sends values
  ('E1', 'ana@example.com', '2026-03-05 10:30:00', 'c1', 'F', '2026-11-25 10:00:00+00'),
  ('E2', 'bo@example.com', '2026-02-28 23:15:00', 'c2', 'M', '2026-11-25 10:00:01+00');
create view klaviyo.sends_v as select "Event ID", "Email", "Sent At", "Campaign", "Sex" from klaviyo.sends;
create table klaviyo.profiles (profile_id varchar, email varchar, age_text varchar, sex varchar,
                               modified varchar);
insert into klaviyo.profiles values ('p1', 'ana@example.com', '31', 'F', '05/03/2026'),
                                    ('p2', 'bo@example.com', null, 'M', '06/03/2026');
"""
TOUCHES = {"timezone": "Europe/Paris", "columns": {
    "touch_id": "Event ID", "email": "Email", "channel": {"const": "email"}, "campaign_id": "Campaign",
    "touched_at": "Sent At"}}
PEOPLE = {"table": "klaviyo.profiles", "columns": {
    "person_id": "profile_id", "age": {"expr": "TRY_CAST(age_text AS DOUBLE)"},
    "gender": {"column": "sex", "values": {"F": "female", "M": "male"}},
    "updated_at": {"expr": "strftime(strptime(modified, '%d/%m/%Y'), '%Y-%m-%dT00:00:00Z')"}}}


def _mappings(spec: dict) -> dict[str, EntityMapping]:
    return {entity: EntityMapping.model_validate(m) for entity, m in spec.items()}


@pytest.fixture
def synced(tmp_path):
    path = tmp_path / "elt.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(SENDS_SQL)
    return path


def _pull(tmp_path, spec: dict, path=None, dsn=None, wh=None):
    wh = wh or Warehouse(tmp_path / "w.duckdb")
    adapter = build_adapter("klaviyo", "custom", "warehouse_tables", path, wh, None, base_url=dsn,
                            mappings=_mappings(spec), batch_rows=100)
    return wh, adapter, pull_integration(adapter, wh, "r1")


def _landed(wh) -> tuple[list, list]:
    touches = wh.query_df("select touch_id, email, channel, campaign_id, strftime(touched_at, '%Y-%m-%d %H:%M') t "
                          "from raw.custom__touches order by touch_id").values.tolist()
    people = wh.query_df("select person_id, age, gender, strftime(updated_at, '%Y-%m-%d') u "
                         "from raw.custom__people order by person_id")
    people = people.astype(object).where(people.notna(), None).values.tolist()
    return touches, people


EXPECTED_TOUCHES = [["E1", "ana@example.com", "email", "c1", "2026-03-05 09:30"],
                    ["E2", "bo@example.com", "email", "c2", "2026-02-28 22:15"]]


@pytest.mark.parametrize("table", ["klaviyo.sends", "klaviyo.sends_v"], ids=["table", "view"])
def test_custom_entities_from_a_duckdb_table_or_view(tmp_path, synced, table):
    wh, adapter, landed = _pull(tmp_path, {"touches": {**TOUCHES, "table": table}, "people": PEOPLE}, path=synced)
    assert adapter.probe().state == "healthy"
    assert sorted((i.result.entity, i.result.rows_loaded, i.result.rows_quarantined) for i in landed) == [
        ("people", 2, 0), ("touches", 2, 0)]
    touches, people = _landed(wh)
    assert touches == EXPECTED_TOUCHES  # a naive TIMESTAMP column read as Paris wall-clock time
    assert people[0] == ["p1", 31.0, "female", "2026-03-05"] and people[1][2:] == ["male", "2026-03-06"]
    _, _, again = _pull(tmp_path, {"touches": {**TOUCHES, "table": table}, "people": PEOPLE}, path=synced, wh=wh)
    # a view has no sync column: read whole again, the same content is skipped; a table re-reads its boundary row,
    # which merges by key: nothing is duplicated either way
    assert sum(i.result.rows_loaded for i in again) == (0 if table.endswith("_v") else 1)
    assert _landed(wh) == (touches, people)


def test_a_table_with_the_sync_column_is_read_from_its_watermark(tmp_path, synced):
    wh, _, first = _pull(tmp_path, {"touches": {**TOUCHES, "table": "klaviyo.sends"}}, path=synced)
    assert first[-1].watermark == "2026-11-25T10:00:01.000000Z"
    with duckdb.connect(str(synced)) as con:
        con.execute("insert into klaviyo.sends values ('E3', 'cy@example.com', '2026-03-07 08:00:00', 'c1', 'F', "
                    "'2026-11-26 10:00:00+00')")
    _, _, second = _pull(tmp_path, {"touches": {**TOUCHES, "table": "klaviyo.sends"}}, path=synced, wh=wh)
    assert [i.result.rows_read for i in second] == [2]  # the boundary row and the new one, not the whole table
    assert wh.query_df("select count(*) n from raw.custom__touches")["n"][0] == 3


def test_a_missing_column_in_a_table_names_the_table_and_column(tmp_path, synced):
    spec = {"touches": {**TOUCHES, "table": "klaviyo.sends_v",
                        "columns": {**TOUCHES["columns"], "campaign_name": "Campaign Name"}}, "people": PEOPLE}
    wh = Warehouse(tmp_path / "w.duckdb")
    with pytest.raises(MappingColumnMissing, match=rf"^{synced}#klaviyo\.sends_v: has no column 'Campaign Name' "
                                                   r"\(mappings\.touches\.columns\.campaign_name\); found: Event ID"):
        _pull(tmp_path, spec, path=synced, wh=wh)
    assert wh.query_df("select person_id from raw.custom__people order by 1")["person_id"].tolist() == ["p1", "p2"]


def test_a_built_in_synced_table_remapped_by_column(tmp_path):
    path = tmp_path / "fivetran.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema salesforce; create table salesforce.contact (id varchar, first_name varchar, "
                    "last_name varchar, email varchar, mailing_country varchar, age_band_c varchar, gender_c "
                    "varchar, region_c varchar, has_opted_out_of_email boolean, created_date timestamptz, "
                    "system_modstamp timestamptz, _fivetran_synced timestamptz, _fivetran_deleted boolean)")
        con.execute("insert into salesforce.contact values ('003A', 'Ana', 'T', 'ana@example.com', 'GB', '25-34', "
                    "'F', 'EMEA', false, '2026-01-01', '2026-11-01', '2026-11-25', false), ('003B', 'Bo', 'T', "
                    "'bo@example.com', 'GB', '25-34', 'M', 'EMEA', false, '2026-01-01', '2026-11-01', "
                    "'2026-11-25', false)")
    wh = Warehouse(tmp_path / "w.duckdb")
    spec = {"contacts": {"columns": {"Gender__c": {"column": "Gender__c", "values": {"F": "female", "M": "male"}}}}}
    adapter = build_adapter("crm", "salesforce", "warehouse_tables", path, wh, ["contacts"], mappings=_mappings(spec))
    [landed] = pull_integration(adapter, wh, "r1")
    assert (landed.result.rows_loaded, landed.result.rows_quarantined) == (2, 0)
    assert wh.query_df('select "Gender__c" g from raw.salesforce__contacts order by "Id"')["g"].tolist() == [
        "female", "male"]


@pytest.mark.parametrize("mapping, expected", [
    ({"touches": {"table": "klaviyo.sends; drop table x"}},
     "integrations[0].mappings.touches.table: 'klaviyo.sends; drop table x' is not a table name (schema.table)"),
    ({"touches": {"columns": {"touch_id": "id"}}},
     "integrations[0].mappings.touches.table: a custom entity on warehouse_tables needs the table or view to read"),
    ({"touches": {"file": "sends.csv", "table": "klaviyo.sends"}},
     "integrations[0].mappings.touches.file: warehouse tables are read from 'table', not 'file'"),
])
def test_a_bad_table_mapping_is_refused_when_the_config_loads(tmp_path, mapping, expected):
    path = tmp_path / "steward.yaml"
    path.write_text(yaml.safe_dump({"integrations": [{"name": "klaviyo", "platform": "custom",
                                                      "kind": "warehouse_tables", "path": "elt.duckdb",
                                                      "mappings": mapping}]}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: {expected}"


def test_custom_entities_from_a_postgresql_table_and_view(tmp_path, pg_server):
    dsn = pg_server.fresh_database("mapping")
    with pg_server.psycopg.connect(dsn, autocommit=True) as pg:
        pg.execute(SENDS_SQL)
    wh, _, landed = _pull(tmp_path, {"touches": {**TOUCHES, "table": "klaviyo.sends_v"}, "people": PEOPLE}, dsn=dsn)
    assert sorted((i.result.entity, i.result.rows_loaded, i.result.rows_quarantined) for i in landed) == [
        ("people", 2, 0), ("touches", 2, 0)]
    touches, people = _landed(wh)
    assert touches == EXPECTED_TOUCHES
    assert people[0] == ["p1", 31.0, "female", "2026-03-05"]


def test_an_expression_failing_on_a_table_value_names_the_table_not_the_value(tmp_path, synced):
    spec = {"touches": {**TOUCHES, "table": "klaviyo.sends",
                        "columns": {**TOUCHES["columns"], "campaign_id": {"expr": "CAST(Email AS INTEGER)"}}},
            "people": PEOPLE}
    wh = Warehouse(tmp_path / "w.duckdb")
    with pytest.raises(MappingFailed) as err:
        _pull(tmp_path, spec, path=synced, wh=wh)
    assert str(err.value) == (f"{synced}#klaviyo.sends: cannot read custom.touches through its mapping: "
                              "ConversionException; DuckDB's message is withheld because it may quote data values")
    assert wh.query_df("select count(*) n from raw.custom__people")["n"][0] == 2
