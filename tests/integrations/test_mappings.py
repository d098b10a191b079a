"""Mappings as configuration (issue #14, item 1), for export files: an entity read from a file of any name and format,
its columns renamed, computed by a confined expression, set to a constant or mapped value by value; a bad mapping is
refused when the config loads, with one line naming the file and the field.

Each test lands a few rows in a fresh DuckDB warehouse through the real adapter, contract check and landing."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
import yaml

from steward.contracts.errors import ConfigError
from steward.contracts.mapping import EntityMapping
from steward.flows.config import load_config, write_config
from steward.flows.pull import pull_integration
from steward.integrations.demo.generator import generate_workspace
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.sources.mapping import MappingColumnMissing, select_list
from steward.integrations.warehouse import Warehouse

SENDS = ("Event ID,Email,Sent At,Campaign,Amount\n"
         "E1,ana@example.com,05/03/2026 10:30,c1,\"1,5\"\n"
         "E2,bo@example.com,28/02/2026 23:15,c2,\"2\"\n")
TOUCHES = {"file": "sends.csv", "columns": {
    "touch_id": "Event ID", "email": {"column": "Email"}, "channel": {"const": "email"}, "campaign_id": "Campaign",
    "touched_at": {"expr": "strptime(\"Sent At\", '%d/%m/%Y %H:%M')"}}}


def _mappings(spec: dict) -> dict[str, EntityMapping]:
    return {entity: EntityMapping.model_validate(m) for entity, m in spec.items()}


def _land(tmp_path, platform: str, spec: dict, stage: bool = True, name: str = "klaviyo", wh=None):
    mappings = _mappings(spec)
    wh = wh or Warehouse(tmp_path / "w.duckdb")
    adapter = ExportFilesAdapter(name, platform, tmp_path / "e", wh, entities=list(mappings), mappings=mappings,
                                 stage=stage)
    return wh, pull_integration(adapter, wh, "r1")


def _raw(wh, table: str, order: str) -> pd.DataFrame:
    frame = wh.query_df(f"select * exclude (_batch_id, _loaded_at, _integration) from raw.{table} order by {order}")
    return frame.dropna(axis=1, how="all")


@pytest.fixture
def exports(tmp_path):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "sends.csv").write_text(SENDS)
    return tmp_path


@pytest.mark.parametrize("stage", [True, False], ids=["staged", "batched"])
def test_rename_const_expression_and_timezone(exports, stage):
    wh, landed = _land(exports, "custom", {"touches": {**TOUCHES, "timezone": "Europe/Paris"}}, stage)
    assert [(i.result.rows_loaded, i.result.rows_quarantined, i.refused) for i in landed] == [(2, 0, None)]
    got = _raw(wh, "custom__touches", "touch_id")
    assert got[["touch_id", "email", "channel", "campaign_id"]].values.tolist() == [
        ["E1", "ana@example.com", "email", "c1"], ["E2", "bo@example.com", "email", "c2"]]
    # dd/mm/yyyy parsed by the expression; a wall-clock time in Paris (CET, UTC+1) landed as its UTC instant
    assert got["touched_at"].dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2026-03-05 09:30", "2026-02-28 22:15"]


def test_a_timestamp_without_offset_is_refused_without_a_timezone(exports):
    wh, landed = _land(exports, "custom", {"touches": TOUCHES})
    assert (landed[0].result.rows_loaded, landed[0].result.rows_quarantined) == (0, 2)
    quarantined = wh.query_df("select reasons, record from ledger.quarantine order by source_row")
    assert set(quarantined["reasons"]) == {"touched_at: timestamp_with_zone"}
    assert '"touch_id":"E1"' in quarantined["record"][0].replace(" ", "")  # the mapped record is what is kept


def test_value_map_numeric_string_and_nulls(tmp_path):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "crm_people.csv").write_text(
        "ID,Mail,Sex,Age,Modified\n"
        "p1,ana@example.com, m ,\"31,5\",2026-11-01T10:00:00Z\n"
        "p2,bo@example.com,F,40,2026-11-01T10:00:00Z\n"
        "p3,cy@example.com,U,,2026-11-01T10:00:00Z\n"
        "p4,di@example.com,X,22,2026-11-01T10:00:00Z\n"
        "p5,ed@example.com,,50,2026-11-01T10:00:00Z\n")
    spec = {"people": {"file": "crm_people.csv", "columns": {
        "person_id": "ID", "email": "Mail", "updated_at": "Modified",
        "gender": {"expr": "upper(trim(Sex))", "values": {"M": "male", "F": "female", "U": "unknown"}},
        "age": {"expr": "TRY_CAST(replace(CAST(Age AS VARCHAR), ',', '.') AS DOUBLE)"}}}}
    wh, landed = _land(tmp_path, "custom", spec)
    assert (landed[0].result.rows_loaded, landed[0].result.rows_quarantined) == (5, 0)
    got = _raw(wh, "custom__people", "person_id")
    # unlisted X passes through (the codings check reports it); a missing value stays null, not "unknown"
    assert got["gender"].tolist()[:4] == ["male", "female", "unknown", "X"] and pd.isna(got["gender"][4])
    assert got["age"].tolist()[:2] == [31.5, 40.0] and pd.isna(got["age"][2])


FOREIGN_PEOPLE = pd.DataFrame({"Profile": ["p1", "p2"], "E-mail": ["ana@example.com", "bo@example.com"],
                               "Changed": ["2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z"]})
FOREIGN_SENDS = pd.DataFrame({"Event ID": ["E1", "E2"], "Profile": ["p1", "p2"], "Channel": ["SMS", "email"],
                              "Sent": ["2026-11-03T08:00:00+01:00", "2026-11-04T08:00:00Z"]})
FOREIGN = {"people": {"columns": {"person_id": "Profile", "email": "E-mail", "updated_at": "Changed"}},
           "touches": {"columns": {"touch_id": "Event ID", "person_id": "Profile", "channel": "Channel",
                                   "touched_at": "Sent", "campaign_id": {"const": None}}}}


@pytest.mark.parametrize("fmt, ext", [("csv", "csv"), ("json", "ndjson"), ("parquet", "parquet")])
def test_custom_people_and_touches_from_each_format(tmp_path, fmt, ext):
    (tmp_path / "e").mkdir()
    for entity, frame in [("people", FOREIGN_PEOPLE), ("touches", FOREIGN_SENDS)]:
        target = tmp_path / "e" / f"{entity}_export.{ext}"
        {"csv": lambda: frame.to_csv(target, index=False),
         "json": lambda: frame.to_json(target, orient="records", lines=True),
         "parquet": lambda: frame.to_parquet(target, index=False)}[fmt]()
    spec = {entity: {**m, "file": f"{entity}_export.{ext}"} for entity, m in FOREIGN.items()}
    wh, landed = _land(tmp_path, "custom", spec, name="braze")
    assert [(i.result.entity, i.result.rows_loaded, i.result.rows_quarantined) for i in landed] == [
        ("people", 2, 0), ("touches", 2, 0)]
    people = _raw(wh, "custom__people", "person_id")
    assert people[["person_id", "email"]].values.tolist() == [["p1", "ana@example.com"], ["p2", "bo@example.com"]]
    touches = _raw(wh, "custom__touches", "touch_id")
    assert touches["channel"].tolist() == ["SMS", "email"]
    assert touches["touched_at"].dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2026-11-03 07:00", "2026-11-04 08:00"]
    assert wh.query_df("select distinct _integration from raw.custom__touches")["_integration"].tolist() == ["braze"]


@pytest.fixture(scope="module")
def demo_exports(tmp_path_factory):
    return generate_workspace(tmp_path_factory.mktemp("demo"), scale=0.05).root / "exports"


DEMO_RENAMES = {  # platform, entity, the demo's file, another name, contract column -> the other file's column
    "salesforce.contacts": ("contacts.csv", "crm contacts.csv", {"Id": "Contact ID", "Email": "E-mail Address",
                                                                "Gender__c": "Gender", "SystemModstamp": "Modified"}),
    "cdp.profiles": ("profiles.parquet", "customers.parquet", {"profile_id": "customer_id", "user_id": "crm_id",
                                                               "age_band": "ageBand", "updated_at": "last_update"}),
}


@pytest.mark.parametrize("key", sorted(DEMO_RENAMES))
def test_a_demo_file_with_another_name_and_columns_lands_the_same_rows(tmp_path, demo_exports, key):
    platform, entity = key.split(".")
    original, other, renames = DEMO_RENAMES[key]
    (tmp_path / "e").mkdir()
    with duckdb.connect() as con:  # the demo's own export, columns renamed, written under another name
        source = (demo_exports / platform / original).as_posix()
        reader = f"read_csv('{source}', all_varchar = true)" if original.endswith(".csv") else f"'{source}'"
        names = [r[0] for r in con.execute(f"describe select * from {reader}").fetchall()]
        select = ", ".join(f'"{n}" as "{renames.get(n, n)}"' for n in names)
        fmt = "(header true)" if other.endswith(".csv") else "(format parquet)"
        con.execute(f"copy (select {select} from {reader}) to '{(tmp_path / 'e' / other).as_posix()}' {fmt}")
    plain = Warehouse(tmp_path / "plain.duckdb")
    [expected] = pull_integration(ExportFilesAdapter(platform, platform, demo_exports / platform, plain, [entity]),
                                  plain, "r1")
    spec = {entity: {"file": other, "columns": {new: {"column": old} if new == "Id" else old
                                                for new, old in renames.items()}}}
    mapped, [landed] = _land(tmp_path, platform, spec, name=platform)
    assert (landed.result.rows_loaded, landed.result.rows_quarantined) == (
        expected.result.rows_loaded, expected.result.rows_quarantined) and landed.result.rows_loaded > 50
    assert landed.drift is None  # the mapped file is the entity: no drift finding for its own column names
    key_column = next(iter(renames))
    pd.testing.assert_frame_equal(_raw(mapped, f"{platform}__{entity}", f'"{key_column}"'),
                                  _raw(plain, f"{platform}__{entity}", f'"{key_column}"'), check_dtype=False)
    reasons = "select reasons, count(*) n from ledger.quarantine group by all order by all"
    pd.testing.assert_frame_equal(mapped.query_df(reasons), plain.query_df(reasons))


def test_a_missing_source_column_names_the_file_and_column_and_the_other_entity_lands(tmp_path):
    (tmp_path / "e").mkdir()
    FOREIGN_PEOPLE.to_csv(tmp_path / "e" / "people.csv", index=False)
    FOREIGN_SENDS.drop(columns=["Sent"]).to_csv(tmp_path / "e" / "touches.csv", index=False)
    mappings = _mappings({entity: {**m, "file": f"{entity}.csv"} for entity, m in FOREIGN.items()})
    wh = Warehouse(tmp_path / "w.duckdb")
    adapter = ExportFilesAdapter("braze", "custom", tmp_path / "e", wh, entities=["touches", "people"],
                                 mappings=mappings)
    with pytest.raises(MappingColumnMissing) as err:
        pull_integration(adapter, wh, "r1")
    assert str(err.value).startswith(f"{tmp_path / 'e' / 'touches.csv'}: has no column 'Sent' "
                                     "(mappings.touches.columns.touched_at); found: Event ID, Profile, Channel")
    assert "\n" not in str(err.value)
    assert wh.query_df("select count(*) n from raw.custom__people")["n"][0] == 2  # landed after the refusal
    assert wh.query_df("select count(*) n from ledger.batches where entity = 'touches'")["n"][0] == 0


def test_a_changed_mapping_reads_the_same_file_again(exports):
    spec = {"touches": {**TOUCHES, "timezone": "UTC"}}
    wh, first = _land(exports, "custom", spec)
    spec["touches"]["columns"] = {**TOUCHES["columns"], "channel": {"const": "sms"}}
    _, second = _land(exports, "custom", spec, wh=wh)
    _, third = _land(exports, "custom", spec, wh=wh)
    assert (first[0].result.rows_loaded, second[0].result.rows_loaded, third[0].result.skipped) == (2, 2, True)
    assert _raw(wh, "custom__touches", "touch_id")["channel"].tolist() == ["sms", "sms"]  # merged by key


def test_constants_and_names_are_rendered_as_literals_and_identifiers():
    mapping = EntityMapping.model_validate({"columns": {
        "touch_id": 'odd "name"', "channel": {"const": "it's'); select 1; --"},
        "campaign_name": {"column": "c", "values": {"a'b": "x'); drop table t; --"}}}})
    sql = select_list(mapping, "custom.touches", ['odd "name"', "c"])
    assert '"odd ""name""" AS "touch_id"' in sql
    assert "'it''s''); select 1; --' AS \"channel\"" in sql
    assert "WHEN 'a''b' THEN 'x''); drop table t; --'" in sql


CONFIG_ERRORS = {
    "unknown target column": ({"touches": {"columns": {"sent_at": "Sent"}}},
                              "integrations[0].mappings.touches.columns.sent_at: not a column of custom.touches"),
    "unknown entity": ({"sends": {"columns": {}}},
                       "integrations[0].mappings.sends: custom has no entity 'sends' (entities: ad_spend,"),
    "bad expression": ({"touches": {"columns": {"touched_at": {"expr": "strptime(\"Sent At\", "}}}},
                       "integrations[0].mappings.touches.columns.touched_at.expr: is not a valid SQL expression"),
    "read_csv": ({"touches": {"columns": {"email": {"expr": "read_csv('/etc/passwd')"}}}},
                 "columns.email.expr: calls function read_csv, which is not on the allowed list"),
    "subquery": ({"touches": {"columns": {"email": {"expr": "(select max(x) from raw.custom__people)"}}}},
                 "columns.email.expr: holds a subquery, which is not allowed"),
    "second statement": ({"touches": {"columns": {"email": {"expr": "1; drop table x"}}}},
                         "columns.email.expr: must be one expression, found 2 statements"),
    "getenv": ({"touches": {"columns": {"email": {"expr": "getenv('SLACK_BOT_TOKEN')"}}}},
               "columns.email.expr: calls function getenv, which is not on the allowed list"),
    "pragma": ({"touches": {"columns": {"email": {"expr": "pragma enable_external_access"}}}},
               "columns.email.expr: holds PRAGMA, which is not allowed in an expression"),
    "setting": ({"touches": {"columns": {"email": {"expr": "current_setting('home_directory')"}}}},
                "columns.email.expr: calls function current_setting, which is not on the allowed list"),
    "aggregate": ({"touches": {"columns": {"email": {"expr": "max(Email)"}}}},
                  "columns.email.expr: calls function max, which is not on the allowed list"),
    "two sources": ({"touches": {"columns": {"email": {"column": "a", "expr": "b"}}}},
                    "integrations[0].mappings.touches.columns.email: give exactly one of column, const or expr"),
    "table on files": ({"touches": {"table": "klaviyo.sends"}},
                       "integrations[0].mappings.touches.table: export files are read from 'file', not 'table'"),
    "file outside": ({"touches": {"file": "../../etc/passwd"}},
                     "mappings.touches.file: '../../etc/passwd' must be a file inside the integration's path"),
    "unknown zone": ({"touches": {"timezone": "CEST+1"}}, "mappings.touches.timezone: 'CEST+1' is not a time zone"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_a_bad_mapping_is_one_line_naming_the_file_and_field(tmp_path, case):
    mappings, expected = CONFIG_ERRORS[case]
    path = tmp_path / "steward.yaml"
    path.write_text(yaml.safe_dump({"integrations": [{"name": "klaviyo", "platform": "custom", "path": "e",
                                                      "mappings": mappings}]}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: integrations[0].mappings.") and expected in message, message
    assert "\n" not in message


def test_mappings_are_refused_for_an_api_integration_and_fine_without_any(tmp_path):
    path = tmp_path / "steward.yaml"
    api = {"name": "sf", "platform": "salesforce", "kind": "api", "base_url": "http://127.0.0.1:1",
           "mappings": {"contacts": {"columns": {"Email": "Mail"}}}}
    path.write_text(yaml.safe_dump({"integrations": [api]}))
    with pytest.raises(ConfigError, match=r"integrations\[0\]\.mappings: apply to kind export_files or "
                                          r"warehouse_tables, not api"):
        load_config(path)
    path.write_text(yaml.safe_dump({"integrations": [{"name": "sf", "platform": "salesforce", "path": "e"}]}))
    assert load_config(path).integrations[0].mappings == {}


def test_an_expression_failing_on_a_value_refuses_the_file_without_quoting_the_value(exports):
    spec = {"touches": {**TOUCHES, "timezone": "UTC", "columns": {**TOUCHES["columns"],
                                                                   "campaign_id": {"expr": "CAST(Email AS INTEGER)"}}}}
    wh, [landed] = _land(exports, "custom", spec)
    assert landed.refused_kind == "unreadable" and landed.result.rows_loaded == 0
    assert landed.refused.startswith(f"{exports / 'e' / 'sends.csv'}: cannot read custom.touches through its "
                                     "mapping: ConversionException"), landed.refused
    assert "ana@example.com" not in landed.refused


def test_a_config_with_mappings_written_back_reads_the_same(tmp_path):
    path = tmp_path / "steward.yaml"
    columns = {"touch_id": "Event ID", "campaign_id": {"const": None}, "channel": {"const": "email"},
               "email": {"column": "Email", "values": {"-": None}}, "touched_at": {"expr": "epoch_ms(ts)"}}
    path.write_text(yaml.safe_dump({"integrations": [{"name": "klaviyo", "platform": "custom", "path": "e",
                                                      "mappings": {"touches": {"file": "s.csv",
                                                                               "columns": columns}}}]}))
    cfg = load_config(path)
    write_config(cfg, tmp_path / "again.yaml")
    assert load_config(tmp_path / "again.yaml").integrations[0].mappings == cfg.integrations[0].mappings
