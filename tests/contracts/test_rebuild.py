"""The rule that decides what a governance build rebuilds (contracts/rebuild.py), without a database."""

from __future__ import annotations

from dataclasses import replace

from steward.contracts.rebuild import BuildState, CodeUnit, TestResult, carried_results, clock_readers, code_changed, \
    plan_rebuild, vouched_tests, without_comments

STATE = BuildState("run-1", "k", {"a.x": "1", "a.y": "2"}, ("stg_skipped",),
                   (TestResult("test.steward.t_fail.h1", "fail", "t_fail"), TestResult("test.steward.t_ok.h2", "pass")))


def test_the_whole_project_is_rebuilt_when_the_earlier_build_is_not_comparable():
    assert plan_rebuild(None, "k", {}, [], []).select is None
    assert "project" in plan_rebuild(STATE, "other", {}, [], []).reason
    assert plan_rebuild(STATE, "k", {}, [], [], full_refresh=True).reason == "--full-refresh"
    assert plan_rebuild(STATE, "k", {}, [], [], exclude=["path:models"]).select is None  # a reach only dbt knows


def test_a_source_left_out_by_the_drift_gate_does_not_make_the_rest_a_whole_rebuild():
    plan = plan_rebuild(STATE, "k", {"a.x": "1", "a.y": "3"}, [], ["a.x", "a.y"], exclude=["source:a.x+"])
    assert plan.select == ["source:a.y+", "stg_skipped+", "t_fail"]  # dbt's --exclude keeps a.x's part out


def test_a_change_of_code_rebuilds_incremental_models_from_all_of_raw_and_a_policy_change_does_not():
    built = replace(STATE, project_key="vars1-code-c1-steward-1.0")
    policy = plan_rebuild(built, "vars2-code-c1-steward-1.0", {}, [], [])  # a policy var changed: same code
    assert policy.select is None and not policy.full_refresh and "policy" in policy.reason
    for key in ("vars1-code-c2-steward-1.0", "vars1-code-c1-steward-1.1"):  # a macro changed; Steward upgraded
        plan = plan_rebuild(built, key, {}, [], [])
        assert plan.select is None and plan.full_refresh and "code" in plan.reason
    assert code_changed(replace(STATE, project_key="k-steward-0.9"), "k-code-c1-steward-1.0")  # an older key's shape
    assert not code_changed(None, "k-code-c1-steward-1.0")  # a first build creates every table anyway
    # asked or not, the other reasons for a whole rebuild keep it when the code changed too
    assert plan_rebuild(built, "vars1-code-c2-steward-1.0", {}, [], [], exclude=["source:a.x+"]).full_refresh
    assert plan_rebuild(built, "vars1-code-c1-steward-1.0", {}, [], [], full_refresh=True).full_refresh
    assert not plan_rebuild(built, "vars1-code-c1-steward-1.0", {}, [], [], exclude=["source:a.x+"]).full_refresh


def test_changed_sources_clock_readers_and_what_failed_are_selected():
    plan = plan_rebuild(STATE, "k", {"a.x": "1", "a.y": "3", "b.z": "9"}, ["int_clock"], ["a.x", "a.y"])
    assert plan.select == ["source:a.y+", "int_clock+", "stg_skipped+", "t_fail"]  # b.z: no model reads it
    assert plan.changed_sources == ["a.y"] and plan.since == "run-1" and plan.retried == 2


def test_stored_results_are_carried_only_for_tests_not_run_and_still_in_the_project():
    carried = carried_results(STATE, ran=["test.steward.t_fail.h1"], in_project=["test.steward.t_ok.h2"])
    assert carried == [STATE.tests[1]]
    assert carried_results(STATE, ran=[], in_project=[]) == []


def test_clock_readers_follow_macros_and_dispatch():
    macros = {"macro.steward.as_of": CodeUnit("as_of", "{{ var('as_of') }}"),
              "macro.steward.default__window": CodeUnit("default__window", "current_date - 7"),
              "macro.steward.window": CodeUnit("window", "{{ adapter.dispatch('window', 'steward')() }}"),
              "macro.steward.caller": CodeUnit("caller", "{{ as_of() }}", ("macro.steward.as_of",)),
              "macro.steward.pure": CodeUnit("pure", "lower(x)")}
    nodes = {"m.a": CodeUnit("a", "select {{ caller() }}", ("macro.steward.caller",)),
             "m.b": CodeUnit("b", "select {{ window() }}"),
             "m.c": CodeUnit("c", "select {{ pure() }} from {{ ref('a') }}", ("macro.steward.pure",)),
             "m.d": CodeUnit("d", "select now()"),
             "m.e": CodeUnit("e", "select '{{ var(\"run_id\") }}'")}
    assert clock_readers(nodes, macros) == {"a", "b", "d", "e"}


def test_a_clock_named_in_a_comment_is_not_read_but_one_in_a_string_with_dashes_is():
    """gov_consent__channel_purpose's comment "does not say yes now (no, unknown, ...)" made it a clock reader, and
    every run rebuilt it (8.6 s at 1M people). Comments are not code; a `--` inside a quoted string is."""
    macros = {"macro.steward.noted": CodeUnit("noted", "{# as_of() is not called here #} lower(x)")}
    nodes = {"m.a": CodeUnit("a", "-- the CDP does not say yes now (no, unknown)\nselect 1"),
             "m.b": CodeUnit("b", "/* current_date\n   is only mentioned */ select {{ noted() }}"),
             "m.c": CodeUnit("c", "select '--' || now() as stamp"),
             "m.d": CodeUnit("d", "select 1 -- a comment\n, now()"),
             "m.e": CodeUnit("e", "{# {{ as_of() }} #}\nselect 2")}
    assert clock_readers(nodes, macros) == {"c", "d"}
    assert without_comments("a -- b\n'x--y' -- z") == "a \n'x--y' "


def test_only_tests_that_passed_in_the_last_build_of_the_same_project_are_vouched_for():
    """A per-key model's data test may read only the recomputed people (dbt_project/macros/per_key_tests.sql) when it
    passed in the last complete build of the same project and vars: not after a failure (one assertion failing
    among several still fails the test), a full refresh, a changed project, or with no build stored."""
    state = BuildState("run-1", "key-1", {}, (), (
        TestResult("test.steward.passed", "pass"),
        TestResult("test.steward.failed", "fail", "failed", "m", 2),
        TestResult("test.steward.split", "pass"), TestResult("test.steward.split", "fail", "split", "m", 1),
        TestResult("test.steward.warned", "warn", "warned", "m", 1)))
    assert vouched_tests(state, "key-1", full_refresh=False) == ["test.steward.passed"]
    assert vouched_tests(state, "key-1", full_refresh=True) == []
    assert vouched_tests(state, "key-2", full_refresh=False) == []  # another project or policy: every row again
    assert vouched_tests(None, "key-1", full_refresh=False) == []
