"""What a governance run's dbt build costs, and that the cheaper build still says everything the old one said.

- one ``primary_key`` test per key instead of ``not_null`` + ``unique``: a failure still becomes findings naming the
  model and the assertion that failed, with the counts the two tests reported (#12, dbtcost lever 2); likewise one
  ``columns_hold`` test per model for its key, its grain and its row-by-row column tests (not_null, non_negative,
  accepted_values);
- the parse of the project is kept in the working folder and reused while nothing it depends on changes; the vars a
  run changes (``as_of``, ``run_id``) still reach the SQL (lever 3);
- dbt's unit tests stay out of ``steward run``'s build; its data tests all run (lever 1).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from steward.contracts.codings import Codings
from steward.contracts.governance import findings_from_dbt_tests
from steward.contracts.policy import load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.transform.parsed import parse_key
from tiny import AS_OF, tiny_warehouse
from governed import demo_run_template

POLICY = load_policy()


@pytest.fixture
def dbt_parses_itself(monkeypatch):
    """The build parses as a user's run does: without the test session's shared parse (tests/dbt_parses)."""
    import dbt.cli.main

    original = getattr(dbt.cli.main.dbtRunner, "_steward_original", None)
    if original is not None:
        monkeypatch.setattr(dbt.cli.main, "dbtRunner", original)


def _batches(ids: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame({"batch_id": ids, "run_id": "r", "integration": "salesforce", "platform": "salesforce",
                         "entity": "contacts", "source": "api", "rows_read": 1, "rows_loaded": 1,
                         "rows_quarantined": 0, "contract_version": "1", "loaded_at": AS_OF})


def test_a_failed_primary_key_names_the_model_and_each_failed_assertion(tmp_path):
    wh = tiny_warehouse(tmp_path, {})
    with wh.connect() as con:  # the ledger's own key would refuse the bad rows: a copy of it without one
        con.execute("create table ledger.batches_copy as select * from ledger.batches")
        con.execute("drop table ledger.batches")
        con.execute("alter table ledger.batches_copy rename to batches")
    with wh.connect() as con:
        con.register("bad", _batches(["b-1", "b-2", "b-2", "b-3", "b-3", "b-3", None, None]))
        con.execute("insert into ledger.batches by name select * from bad")
    outcome = dbt_build.build(wh.path, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                              select=["stg_steward__batches"])

    # what dbt's not_null and unique tests reported: 2 rows with a null key, 2 duplicated key values (b-2, b-3)
    got = sorted((f.test, f.model, f.failures, f.severity) for f in outcome.test_failures)
    assert got == [("not_null_stg_steward__batches_batch_id", "stg_steward__batches", 2, "error"),
                   ("unique_stg_steward__batches_batch_id", "stg_steward__batches", 2, "error")]
    findings = findings_from_dbt_tests(outcome.test_failures, "r", POLICY)
    assert sorted((f.check_id, f.subject, f.observed) for f in findings) == [
        ("data_quality.dbt_test", "stg_steward__batches: not_null_stg_steward__batches_batch_id", 2.0),
        ("data_quality.dbt_test", "stg_steward__batches: unique_stg_steward__batches_batch_id", 2.0)]
    # one node tested the key: the two assertions cost one scan
    results = json.loads((tmp_path / "dbt" / "target" / "run_results.json").read_text())["results"]
    assert [r["unique_id"].split(".")[2] for r in results if r["unique_id"].startswith("test.")] == \
        ["primary_key_stg_steward__batches_batch_id"]


def _erasure(rid: str, sha: str | None, status: str) -> dict:
    return {"request_id": rid, "request_type": "erasure", "email_sha256": sha, "status": status,
            "requested_at": AS_OF, "completed_at": None, "updated_at": AS_OF}


def test_a_failed_columns_hold_names_each_column_test_it_holds(tmp_path):
    """A model's row-by-row column tests are one ``columns_hold`` node (macros/tests/columns_hold.sql); a failure
    names each failed column test as dbt named it, with the count it reported: rows for not_null, distinct values
    for accepted_values (nulls pass)."""
    rows = [_erasure(None, "e" * 64, "completed"), _erasure("r-1", "a" * 64, "completed"),
            _erasure("r-2", None, "completed"), _erasure("r-3", None, "lost"), _erasure("r-4", "b" * 64, "lost"), _erasure("r-5", "c" * 64, "misfiled"),
            _erasure("r-6", "d" * 64, None)]
    wh = tiny_warehouse(tmp_path, {"cdp.erasure_requests": pd.DataFrame(rows)})
    outcome = dbt_build.build(wh.path, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                              select=["stg_cdp__erasure_requests"])
    values = "received__in_progress__completed__rejected"
    got = sorted((f.test, f.model, f.failures, f.severity) for f in outcome.test_failures)
    assert got == [(f"accepted_values_stg_cdp__erasure_requests_request_status__{values}", "stg_cdp__erasure_requests",
                    2, "error"),
                   ("not_null_stg_cdp__erasure_requests_email_sha256", "stg_cdp__erasure_requests", 2, "error"),
                   ("not_null_stg_cdp__erasure_requests_request_id", "stg_cdp__erasure_requests", 1, "error")]
    assert len({f.unique_id for f in outcome.test_failures}) == 1  # all from the one node
    findings = findings_from_dbt_tests(outcome.test_failures, "r", POLICY)
    assert sorted((f.subject, f.observed) for f in findings) == [
        (f"stg_cdp__erasure_requests: accepted_values_stg_cdp__erasure_requests_request_status__{values}", 2.0),
        ("stg_cdp__erasure_requests: not_null_stg_cdp__erasure_requests_email_sha256", 2.0),
        ("stg_cdp__erasure_requests: not_null_stg_cdp__erasure_requests_request_id", 1.0)]
    results = json.loads((tmp_path / "dbt" / "target" / "run_results.json").read_text())["results"]
    tests = [r["unique_id"].split(".")[2] for r in results if r["unique_id"].startswith("test.")]
    assert len(tests) == 1 and tests[0].startswith("columns_hold_stg_cdp__erasure_requests")  # key and columns


def test_a_failed_grain_or_key_in_columns_hold_is_named_as_its_own_test_was(tmp_path):
    """The split names a duplicated key ``unique_<model>_<column>`` and a duplicated grain
    ``unique_combination_<model>_<columns>`` (dbt's names for the tests they were), with their counts."""
    from steward.integrations.transform import assertions

    wh = tiny_warehouse(tmp_path, {})
    failure = dbt_build.TestFailure("columns_hold_gov_bias__selection_rates_x", "gov_bias__selection_rates", 5,
                                    "error", "Got 5 results", "test.steward.columns_hold_x")
    sql = ("select * from (values ('unique', 'series_id', 2), ('unique_combination', 'model_name,dimension,group_value',"
           " 3)) as failing (assertion, column_name, failures)")
    got = assertions._column_failures(wh.path, sql, failure, {})
    assert [(f.test, f.failures, f.unique_id) for f in got] == [
        ("unique_combination_gov_bias__selection_rates_model_name__dimension__group_value", 3, failure.unique_id),
        ("unique_gov_bias__selection_rates_series_id", 2, failure.unique_id)]


def test_only_duplicates_are_only_a_unique_failure(tmp_path):
    wh = tiny_warehouse(tmp_path, {})
    with wh.connect() as con:
        con.execute("create table ledger.batches_copy as select * from ledger.batches")
        con.execute("drop table ledger.batches")
        con.execute("alter table ledger.batches_copy rename to batches")
        con.register("bad", _batches(["b-1", "b-1", "b-1", "b-2"]))
        con.execute("insert into ledger.batches by name select * from bad")
    outcome = dbt_build.build(wh.path, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                              select=["stg_steward__batches"])
    assert [(f.test, f.failures) for f in outcome.test_failures] == [("unique_stg_steward__batches_batch_id", 1)]


def test_a_run_reuses_the_parse_and_compiles_its_own_run_vars(tmp_path, dbt_parses_itself, monkeypatch):
    """The saved parse is read once per process: a process that builds again (``steward serve``, a worker, a test
    session) hands its next build the manifest its last completed build used (parsed.give_back); a replaced parse
    is read again, and a manifest serves one build at a time."""
    from steward.integrations.transform import parsed

    reads, read = [], parsed._read
    monkeypatch.setattr(parsed, "_read", lambda path: reads.append(path) or read(path))
    wh = tiny_warehouse(tmp_path, {})
    work, select = tmp_path / "dbt", ["+gov_data_quality__breaking_drift"]
    first = {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat(), "run_id": "run-first"}
    dbt_build.build(wh.path, work, first, select=select)
    saved = list((work / "parsed").glob("*.msgpack"))
    assert [p.stem for p in saved] == [parse_key(dbt_build.dbt_project_dir(), work / "profiles", first)]
    (work / "target" / "partial_parse.msgpack").unlink()  # dbt writes it only when it parses

    # another run, and a threshold of the policy changed (read only where a model compiles: parsed.COMPILE_VARS)
    second = {**first, "as_of": (AS_OF + pd.Timedelta(days=1)).isoformat(), "run_id": "run-second",
              "contact_cap_per_week": 7}
    for run_id in ("run-second", "run-third"):  # the second build reads the saved parse, the third is handed it
        dbt_build.build(wh.path, work, {**second, "run_id": run_id}, select=select)
        compiled = next((work / "target" / "run").rglob("gov_data_quality__breaking_drift.sql")).read_text()
        assert f"'{run_id}'" in compiled and "'run-first'" not in compiled  # the run's own vars reach its SQL
        assert len(reads) == 1
    assert not (work / "target" / "partial_parse.msgpack").exists()  # the saved parse was used: dbt did not parse
    assert list((work / "parsed").glob("*.msgpack")) == saved  # same key: as_of, run_id, thresholds are not in it
    key = saved[0].stem
    taken = parsed.load(work, key)  # in use by one build: another build meanwhile reads its own copy
    assert parsed.load(work, key) is not taken and len(reads) == 2
    parsed.give_back(work, key, taken)
    assert parsed.load(work, key) is taken and len(reads) == 2
    parsed.give_back(work, key, taken)
    replaced = saved[0].with_suffix(".part")
    replaced.write_bytes(saved[0].read_bytes())
    replaced.replace(saved[0])  # a new parse saved under the same key (parsed.keep): read again
    assert parsed.load(work, key) is not taken and len(reads) == 3

    other = Codings(bands={"age": [21, 40]}, sensitive=["age_band"], attributes={"age_band": ["21-39", "40+"]})
    codings = POLICY.model_copy(update={"codings": other}).dbt_vars()["codings"]
    changed = {**second, "codings": codings}  # the codings decide a model's ref()s: parse again
    dbt_build.build(wh.path, work, changed, select=select)
    assert (work / "target" / "partial_parse.msgpack").exists()
    assert [p.stem for p in (work / "parsed").glob("*.msgpack")] == \
        [parse_key(dbt_build.dbt_project_dir(), work / "profiles", changed)] != [p.stem for p in saved]


def test_a_damaged_saved_parse_is_parsed_again(tmp_path, dbt_parses_itself):
    """The damaged file is written where the build's own parse would be kept (its key: the profile the build writes,
    the project, the vars), instead of a first build that parses only to leave a file to damage."""
    wh = tiny_warehouse(tmp_path, {})
    work, dbt_vars = tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()}
    key = parse_key(dbt_build.dbt_project_dir(), dbt_build._write_profile(work, wh.path), dbt_vars)
    saved = work / "parsed" / f"{key}.msgpack"
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"not a manifest")
    outcome = dbt_build.build(wh.path, work, dbt_vars, select=["stg_steward__batches"])
    assert outcome.models == 1 and not outcome.test_failures
    assert list((work / "parsed").glob("*.msgpack")) == [saved]  # the build looked where it keeps its parse
    assert saved.read_bytes() != b"not a manifest"
    assert (work / "target" / "partial_parse.msgpack").exists()  # dbt parsed (a damaged file is not a parse)


def test_a_census_records_each_dbt_build_with_the_test_that_caused_it(tmp_path, monkeypatch):
    """The suite's dbt census (tests/dbt_parses): a line per invocation naming this test, and its sums per module."""
    import dbt.cli.main
    import dbt_parse_cache
    from dbt_parses import census

    if not getattr(dbt.cli.main.dbtRunner, "_steward_parsed_once", False):
        pytest.skip("the session's dbt parse cache is off (STEWARD_TEST_DBT_PARSES empty)")
    path = tmp_path / "census.jsonl"
    monkeypatch.setenv(dbt_parse_cache.CENSUS_ENV, str(path))
    wh = tiny_warehouse(tmp_path, {})
    outcome = dbt_build.build(wh.path, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                              select=["stg_steward__batches"], unit_tests=False)
    (line,) = census.read(path)
    assert line["test"].startswith("tests/dbt/test_dbt_cost.py::test_a_census_records_each_dbt_build")
    assert (line["command"], line["select"], line["exclude"]) == ("build", ["stg_steward__batches"], ["test_type:unit"])
    assert line["kinds"]["model"] == outcome.models == 1
    assert line["nodes"] == sum(line["kinds"].values()) == 1 + outcome.tests_passed + len(outcome.test_failures)
    assert line["cpu_s"] > 0 and line["wall_s"] > 0 and line["process"] == "pytest"
    assert census.by_module(census.read(path)) == [("tests/dbt/test_dbt_cost.py", 1, line["nodes"],
                                                    line["kinds"].get("test", 0), line["cpu_s"])]


def test_unit_tests_are_left_out_only_when_asked(tmp_path):
    wh = tiny_warehouse(tmp_path, {})
    dbt_vars = {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()}
    select = ["+int_decisions__review_rules"]
    kept = dbt_build.build(wh.path, tmp_path / "with", dbt_vars, select=select)
    left = dbt_build.build(wh.path, tmp_path / "without", dbt_vars, select=select, unit_tests=False)
    assert kept.unit_tests >= 1 and left.unit_tests == 0
    assert left.models == kept.models and left.tests_passed == kept.tests_passed > 0  # every data test still ran


@pytest.mark.slow
def test_the_governance_run_builds_no_unit_test_and_every_data_test(prefect_harness, tmp_path_factory):
    """``steward run``'s transform (here the session's governed demo run) leaves dbt's unit tests out; the suite runs
    them in its template build (tests/dbt/test_injections.py::test_dbt_unit_tests_pass_in_the_template_build)."""
    run = demo_run_template(tmp_path_factory, scale=0.2)
    results = json.loads((run / "ws" / "work" / "dbt" / "target" / "run_results.json").read_text())["results"]
    kinds = {}
    for r in results:
        kinds.setdefault(r["unique_id"].split(".")[0], []).append(r["status"])
    assert "unit_test" not in kinds
    assert len(kinds["test"]) > 75 and set(kinds["test"]) == {"pass"} and len(kinds["model"]) > 70


def test_a_raw_table_missing_a_contract_column_gets_it_before_the_build(tmp_path):
    """The build first checks every raw table against its contract in one query; one short of a column (a contract
    that gained one since the table was landed) still gets it, as before."""
    from steward.contracts.registry import SOURCE_CONTRACTS

    wh = tiny_warehouse(tmp_path, {})
    column = list(SOURCE_CONTRACTS["salesforce.contacts"].empty_frame().columns)[-1]
    with wh.connect() as con:
        con.execute(f'alter table raw.salesforce__contacts drop column "{column}"')
    dbt_build.build(wh.path, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                    select=["stg_steward__batches"])
    with wh.connect() as con:
        columns = {r[0] for r in con.execute("select column_name from information_schema.columns where "
                                             "table_schema = 'raw' and table_name = 'salesforce__contacts'").fetchall()}
    assert column in columns


def test_a_failed_primary_key_is_split_the_same_on_postgres(pg_server, tmp_path):
    pytest.importorskip("dbt.adapters.postgres")  # the `postgres` extra (dbt-postgres)
    from steward.integrations.warehouse import Warehouse
    from steward.integrations.warehouse.target import PostgresTarget

    url = pg_server.fresh_database("primary_key")
    target = PostgresTarget.from_url(url)
    Warehouse(target)  # the ledger, with its own key on batch_id: dropped so that the bad rows can be there
    with pg_server.psycopg.connect(url) as con:
        con.execute("alter table ledger.batches drop constraint if exists batches_pkey")
        con.execute("alter table ledger.batches alter column batch_id drop not null")
        for batch_id in ["b-1", "b-2", "b-2", None, None, None]:
            con.execute("insert into ledger.batches (batch_id, run_id, integration, platform, entity, loaded_at) "
                        "values (%s, 'r', 'salesforce', 'salesforce', 'contacts', now())", [batch_id])
    outcome = dbt_build.build(target, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                              select=["stg_steward__batches"])
    assert sorted((f.test, f.failures) for f in outcome.test_failures) == [
        ("not_null_stg_steward__batches_batch_id", 3), ("unique_stg_steward__batches_batch_id", 1)]
