"""A governance build rebuilds only what changed since the last complete build, and its findings are those of a
build of everything (integrations/transform/changes.py, contracts/rebuild.py).

Real dbt on a copy of the session's governed demo run (tests/governed.py ``demo_run_copy``), whose governance run
stored its build state: partial builds, compared with one build of everything at the same run time.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from governed import demo_run_copy
from steward.contracts.errors import TransformError
from steward.contracts.governance import evaluate, findings_from_dbt_tests
from steward.contracts.policy import load_policy
from steward.flows.config import load_config
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.transform import changes, dbt_build
from steward.integrations.warehouse import Warehouse, ledger
from steward.integrations.warehouse.landing import land_batch
from steward.integrations.warehouse.sample_queries import governance_sample_query
from steward.integrations.warehouse.validation import check_batch

pytestmark = pytest.mark.slow

AS_OF = pd.Timestamp.now(tz="UTC").floor("s")


def _vars(policy, as_of=AS_OF, run_id="r") -> dict:
    return {**policy.dbt_vars(), "as_of": as_of.isoformat(), "run_id": run_id}


def _findings(wh, policy, outcome) -> set[tuple]:
    """What a run judges from the build: the marts' findings and the failed data tests (id, subject, severity)."""
    with wh.pinned():  # every mart read through one open of the file, not one open and checkpoint per mart
        found = evaluate(policy, wh.mart, "r", governance_sample_query)
    found += findings_from_dbt_tests(outcome.test_failures, "r", policy)
    return {(f.check_id, f.subject, f.severity.value) for f in found}


def _built_models(work) -> set[str]:
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}


class Demo:
    """The copied demo, its policy and dbt folder, and the full rebuild's outcome and findings once made."""

    def __init__(self, demo) -> None:
        cfg = load_config(demo.config)
        self.demo, self.wh, self.work = demo, Warehouse(cfg.warehouse), cfg.work_dir / "dbt"
        self.policy = load_policy(cfg.policy)
        self.full = None
        self.full_findings: set[tuple] = set()


@pytest.fixture(scope="module")
def built(prefect_harness, tmp_path_factory) -> Demo:
    return Demo(demo_run_copy(tmp_path_factory, "changed-build", scale=0.2))


def test_the_governance_run_stored_its_build_state(built):
    state = ledger.load_build_state(built.wh)
    assert built.demo.result.transform.startswith("all models rebuilt")
    assert state is not None and state.run_id == built.demo.result.run_id
    assert state.fingerprints["hubspot.email_events"].startswith("rows ")
    assert state.fingerprints["steward.batches"].startswith("rows ")
    assert len(state.tests) > 75 and {t.status for t in state.tests} == {"pass"}  # every data test's result
    planned = changes.plan_build(built.wh, built.work, _vars(built.policy))
    assert planned.rebuild.select is not None and not planned.rebuild.changed_sources  # copied: still comparable


def test_a_change_landed_in_one_source_rebuilds_its_descendants_and_matches_a_full_rebuild(built):
    wh, policy, work = built.wh, built.policy, built.work
    # one more CDP profile lands, through Steward's landing (the cdp export file, changed)
    profiles = built.demo.ws.files["cdp.profiles"]
    frame = pd.read_parquet(profiles)
    pd.concat([frame, frame.tail(1).assign(profile_id="profile-changed-build-1")], ignore_index=True) \
        .to_parquet(profiles, index=False)
    for batch in ExportFilesAdapter("cdp", "cdp", profiles.parent, wh).pull("profiles"):
        v = check_batch(batch)
        land_batch(wh, batch, v.valid, v.quarantined, v.drift, v.contract.version, "t", v.contract.owner)
    partial = changes.governed_build(wh, work, _vars(policy, run_id="run-partial"), "run-partial")
    assert "sources changed: cdp.profiles, steward.batches;" in partial.note  # the batch is a ledger row too
    assert {"stg_cdp__profiles", "int_customers__unified"} <= _built_models(work)
    assert "stg_salesforce__leads" not in _built_models(work)
    partial_findings = _findings(wh, policy, partial)
    full = changes.governed_build(wh, work, _vars(policy, run_id="run-full"), "run-full", full_refresh=True)
    assert full.note == "all models rebuilt: --full-refresh"
    built.full, built.full_findings = full, _findings(wh, policy, full)
    assert partial_findings == built.full_findings
    assert {f.test for f in partial.test_failures} == {f.test for f in full.test_failures}
    assert partial.test_status == full.test_status


def test_nothing_new_rebuilds_only_the_time_dependent_nodes_with_the_same_findings(built):
    wh, policy, work, full = built.wh, built.policy, built.work, built.full
    assert full is not None, "runs after the full rebuild of the test above"
    second = changes.governed_build(wh, work, _vars(policy, run_id="run-2"), "run-2")
    manifest = dbt_build.parse(wh.path, work, _vars(policy))
    clock = changes.time_dependent(manifest)
    assert "int_metrics__daily" in clock and "stg_cdp__profiles" not in clock
    assert 0 < second.models < full.models
    assert second.note.startswith(f"built {second.models} of {full.models} models")
    assert "unchanged since run run-full" in second.note and "sources changed" not in second.note
    assert f"time-dependent: {len(clock)}" in second.note
    assert _built_models(work) <= _descendants(manifest, clock)  # only the clock readers and what reads them
    assert second.test_status == full.test_status  # each data test: run again, or its stored result
    assert second.tests_passed == full.tests_passed
    assert _findings(wh, policy, second) == built.full_findings


def _descendants(manifest, names: set[str]) -> set[str]:
    seen = changes.descendants(manifest, [uid for uid, n in manifest.nodes.items() if n.name in names])
    return {manifest.nodes[uid].name for uid in seen if uid in manifest.nodes}


def test_a_stored_failure_shows_until_its_test_passes_again(built):
    """A stored failing result is carried while its test is not run; a rebuilt test that passes drops it."""
    copy, policy, work = built, built.policy, built.work
    state = ledger.load_build_state(copy.wh)
    passing = next(t for t in state.tests if t.status == "pass")
    name = passing.unique_id.split(".")[2]
    failed = type(passing)(passing.unique_id, "fail", name, None, 3, "error", "Got 3 results")
    rest = tuple(t for t in state.tests if t.unique_id != passing.unique_id)
    ledger.save_build_state(copy.wh, type(state)(state.run_id, state.project_key, state.fingerprints, state.skipped,
                                                 rest + (failed,)))
    planned = changes.plan_build(copy.wh, work, _vars(policy))
    assert name in planned.rebuild.select  # a failing test is run again
    again = changes.governed_build(copy.wh, work, _vars(policy, run_id="run-6"), "run-6")
    assert again.test_status[passing.unique_id] == "pass"
    assert name not in {f.test for f in again.test_failures}
    assert "failed or skipped last time: 1" in again.note
    # carried as it was stored when the test is not run (the rule, on the stored state)
    from steward.contracts.rebuild import carried_results
    assert carried_results(type(state)(state.run_id, state.project_key, state.fingerprints, (), (failed,)), [],
                           [passing.unique_id]) == [failed]


def _land_profile(demo: Demo, profile_id: str) -> None:
    """One more CDP profile lands (the export file, changed), through Steward's landing."""
    profiles = demo.demo.ws.files["cdp.profiles"]
    frame = pd.read_parquet(profiles)
    pd.concat([frame, frame.tail(1).assign(profile_id=profile_id, email=f"{profile_id}@example.com")],
              ignore_index=True).to_parquet(profiles, index=False)
    for batch in ExportFilesAdapter("cdp", "cdp", profiles.parent, demo.wh).pull("profiles"):
        v = check_batch(batch)
        land_batch(demo.wh, batch, v.valid, v.quarantined, v.drift, v.contract.version, "t", v.contract.owner)


def _ran_tests(work) -> dict[str, str]:
    """The data tests the last build ran (by name), with the SQL it compiled for each."""
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["compiled_code"] for r in results if r["unique_id"].startswith("test.")}


def test_a_per_key_models_tests_read_only_the_people_it_recomputed_while_they_pass(built):
    """dbt_project/macros/per_key_tests.sql: a daily build's key-local tests of a per-key model read the people it
    recomputed (and null keys), once the test passed in the last complete build; after a failure, a full refresh, or
    in a build outside a governance run, the whole table."""
    wh, policy, work = built.wh, built.policy, built.work
    if ledger.load_build_state(wh) is None:
        changes.governed_build(wh, work, _vars(policy, run_id="run-base-v"), "run-base-v")
    pk = "primary_key_int_customers__unified_email_key"
    _land_profile(built, "profile-vouched-1")
    daily = changes.governed_build(wh, work, _vars(policy, run_id="run-v1"), "run-v1")
    ran = _ran_tests(work)
    scoped = ran[pk]
    assert '"email_key" is null or "email_key" in (select per_key."email_key" from ' in scoped
    assert "int_customers__unified__keys" in scoped
    assert all(s == "pass" for s in daily.test_status.values())
    with wh.connect() as con:
        keys = con.execute("select email_key, is_all from staging.int_customers__unified__keys").fetchall()
        assert ("profile-vouched-1@example.com", False) in keys and not any(all_ for _, all_ in keys)
        assert con.execute("select count(*) from ledger.vouched_tests").fetchone() == (0,)  # emptied after dbt
    # the CDP staging model's key test reads the people its latest build logged (it merges by profile id)
    staged = ran["primary_key_stg_cdp__profiles_profile_id"]
    assert "stg_cdp__profiles__changes" in staged and "per_key.seq = (select max(newest.seq)" in staged
    # a model's one columns_hold test (its grain holds the key, the rest judges rows) reads the same people
    for model in ("int_consent__email_people", "int_people__presence"):
        (held,) = [sql for name, sql in ran.items() if name.startswith(f"columns_hold_{model}_")]
        assert f"{model}__keys" in held and held.count('"email_key" is null or "email_key" in (') >= 1, model
    # a test of a table rebuilt whole (a mart) reads all of it
    marts = [sql for name, sql in ran.items() if "_gov_" in name]
    assert marts and not any("__keys" in sql or "__changes" in sql for sql in marts)
    # the last build's result is a failure: the next daily build looks for it in the whole table
    state = ledger.load_build_state(wh)
    uid = next(t.unique_id for t in state.tests if t.unique_id.split(".")[2] == pk)
    failed = tuple(type(t)(t.unique_id, "fail", pk, "int_customers__unified", 2, "error", "Got 2 results")
                   if t.unique_id == uid else t for t in state.tests)
    ledger.save_build_state(wh, type(state)(state.run_id, state.project_key, state.fingerprints, state.skipped,
                                            failed))
    _land_profile(built, "profile-vouched-2")
    again = changes.governed_build(wh, work, _vars(policy, run_id="run-v2"), "run-v2")
    assert "__keys" not in _ran_tests(work)[pk] and again.test_status[uid] == "pass"
    # vouched again (it passed), a person the model holds twice among the people that build recomputed fails it
    complete = ledger.load_build_state(wh)
    twin_of = "email_key = 'profile-vouched-2@example.com'"
    with wh.connect() as con:
        con.execute(f"insert into staging.int_customers__unified select * from staging.int_customers__unified "
                    f"where {twin_of}")
    ledger.vouch_tests(wh, [uid])
    try:
        twin = dbt_build.build(wh.path, work, {**_vars(policy, run_id="run-twin"), "per_key_vouched": True},
                               select=[pk], unit_tests=False)
    finally:
        ledger.vouch_tests(wh, [])
        with wh.connect() as con:  # the twin out, the complete build's state back (a build outside a run forgets it)
            con.execute(f"delete from staging.int_customers__unified where rowid = (select max(rowid) from "
                        f"staging.int_customers__unified where {twin_of})")
        ledger.save_build_state(wh, complete)
    assert "int_customers__unified__keys" in _ran_tests(work)[pk]
    assert twin.test_status[uid] == "fail" and [f.failures for f in twin.test_failures] == [1]
    with wh.connect() as con:
        assert con.execute(f"select count(*) from staging.int_customers__unified where {twin_of}").fetchone() == (1,)

def test_a_policy_change_a_left_out_source_or_a_model_error_makes_the_next_build_everything(built):
    copy, policy, work = built, built.policy, built.work
    assert changes.plan_build(copy.wh, work, _vars(policy)).rebuild.select is not None
    changed = {**_vars(policy), "contact_cap_per_week": 6}
    planned = changes.plan_build(copy.wh, work, changed)
    assert planned.rebuild.select is None and "policy" in planned.rebuild.reason
    # a build that leaves a refused source out is not complete: nothing is stored, the next one builds everything
    complete = ledger.load_build_state(copy.wh)
    left_out = changes.governed_build(copy.wh, work, _vars(policy, run_id="run-7"), "run-7",
                                      exclude=["path:models"])
    assert left_out.note.startswith("all models rebuilt: a source was left out")
    assert ledger.load_build_state(copy.wh) is None
    assert changes.plan_build(copy.wh, work, _vars(policy)).rebuild.select is None
    # the complete state back (the marts are still those it describes), then a model error forgets it
    ledger.save_build_state(copy.wh, complete)
    assert changes.plan_build(copy.wh, work, _vars(policy)).rebuild.select is not None
    with pytest.raises(TransformError):
        changes.governed_build(copy.wh, work, {**_vars(policy), "as_of": "not a time"}, "run-9")
    assert ledger.load_build_state(copy.wh) is None
    # the complete state back once more for the tests below, instead of a build of everything to store one: the
    # failed build replaced no table (a model that fails keeps its last table, those after it are skipped, the
    # rest rebuilt the same rows), and the next test stores a build of everything (a full refresh) in its place
    ledger.save_build_state(copy.wh, complete)


def test_every_node_whose_sql_reads_the_run_time_is_time_dependent(built, tmp_path):
    """Compile the project at two run times and ids: every node whose compiled SQL differs is in the set, so a
    future model that reads the clock is never silently kept from an earlier build. (Not against a build's SQL: a
    full refresh compiles the incremental models without their filter on new batches.)"""
    wh, policy, work = built.wh, built.policy, built.work
    compiled = _compile(wh.path, work, tmp_path / "a", _vars(policy, AS_OF, "run-one"))
    later = _compile(wh.path, work, tmp_path / "b", _vars(policy, AS_OF + pd.Timedelta(days=40), "run-other"))
    assert later.keys() == compiled.keys() and len(compiled) > 100
    manifest = dbt_build.parse(wh.path, work, _vars(policy))
    differ = {manifest.nodes[uid].name for uid, sql in compiled.items() if later[uid] != sql}
    assert differ, "the run's time reaches no node: the comparison proves nothing"
    assert differ <= changes.time_dependent(manifest), differ - changes.time_dependent(manifest)


def _compile(warehouse, parsed_in, work, dbt_vars) -> dict[str, str]:
    """Every node's SQL compiled with ``dbt_vars``, from the parse a build with them takes (``dbt_build.parse`` in
    ``parsed_in``: the run vars are not part of a parse, a governance build hands dbt the same one), not a new parse
    per compile."""
    from dbt.cli.main import dbtRunner

    manifest = dbt_build.parse(warehouse, parsed_in, dbt_vars)
    profiles = dbt_build._write_profile(work, warehouse)
    res = dbtRunner(manifest=manifest).invoke(["compile", "--project-dir", str(dbt_build.dbt_project_dir()), "--profiles-dir",
                              str(profiles), "--target-path", str(work / "target"), "--log-path",
                              str(work / "logs"), "--vars", json.dumps(dbt_vars), "--no-write-json",
                              "--log-level", "none", "--exclude", "test_type:unit"])
    dbt_build._release_duckdb()
    assert res.success, res.exception
    out = {r.node.unique_id: r.node.compiled_code for r in res.result}
    shutil.rmtree(work, ignore_errors=True)
    return out


def test_a_change_of_steward_or_its_models_code_rebuilds_the_incremental_tables_from_all_of_raw(built):
    """An upgrade (another Steward version, or a changed model or macro file) makes the next build a full refresh,
    since an incremental model would keep rows the old code computed; a policy change (above) does not."""
    wh, policy, work = built.wh, built.policy, built.work
    if ledger.load_build_state(wh) is None:  # run alone (-k): the policy test above puts the complete state back
        changes.governed_build(wh, work, _vars(policy, run_id="run-base"), "run-base")
    state = ledger.load_build_state(wh)
    assert "-code-" in state.project_key
    older = state.project_key.rsplit("-steward-", 1)[0] + "-steward-0.0.1"  # built by another Steward version
    ledger.save_build_state(wh, type(state)(state.run_id, older, state.fingerprints, state.skipped, state.tests))
    planned = changes.plan_build(wh, work, _vars(policy))
    assert planned.rebuild.select is None and planned.rebuild.full_refresh and "code" in planned.rebuild.reason
    upgraded = changes.governed_build(wh, work, _vars(policy, run_id="run-upgraded"), "run-upgraded")
    assert "code" in upgraded.note
    with wh.connect() as con:  # the people staging model was created anew, not merged into (macros/per_key.sql)
        newest = con.execute("select is_full from staging.stg_cdp__profiles__changes "
                             "order by seq desc limit 1").fetchone()
    assert newest == (True,)
    again = changes.plan_build(wh, work, _vars(policy))
    assert again.rebuild.select is not None and not again.rebuild.full_refresh  # the new state is this code's


def test_a_source_left_out_keeps_its_part_and_the_rest_is_built_as_after_any_change(built):
    """The drift gate's exclude (``source:<s>+``) no longer makes the build everything: the rest is planned as usual,
    the left-out part keeps its tables and its tests are neither run nor carried (not evaluated), and nothing is
    stored, so the next run builds everything."""
    wh, policy, work = built.wh, built.policy, built.work
    if ledger.load_build_state(wh) is None:
        changes.governed_build(wh, work, _vars(policy, run_id="run-base2"), "run-base2")
    previous = ledger.load_build_state(wh)
    left = changes.governed_build(wh, work, _vars(policy, run_id="run-left"), "run-left",
                                  exclude=["source:cdp.profiles+"])
    assert left.note.startswith("built ") and "unchanged since run" in left.note
    models = _built_models(work)
    assert models and not models & {"stg_cdp__profiles", "int_customers__unified", "gov_consent__channel_purpose"}
    manifest = dbt_build.parse(wh.path, work, _vars(policy))
    part = changes._left_out(manifest, ["source:cdp.profiles+"])  # noqa: SLF001 - the set the carry leaves out
    part_tests = {uid for uid in part if uid.startswith("test.")}
    assert part_tests and not part_tests & set(left.test_status)
    kept = {t.unique_id for t in previous.tests} - part_tests
    assert kept <= set(left.test_status)  # every other test: run again or carried
    assert ledger.load_build_state(wh) is None
    assert changes.plan_build(wh, work, _vars(policy)).rebuild.select is None
