"""The scale benchmark's data: copies are new people and events, never duplicates, and the demo's problems keep their
rates. Only the data is built here, from the demo at scale 0.1 (300 people, 15k email events) to keep it quick; the
timed runs are the benchmark's, never the suite's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from _scale_data import build_stack, write_delta  # noqa: E402
from bench_audits import translate  # noqa: E402
from bench_scale import (TreeMemory, _copy_stack, _landed_so_far, _last_stage, _restore_stack,  # noqa: E402
                         _slowest_from_log, _wait, compare, figures, floor, launch, launched_rusage, median_of)

from steward.integrations.warehouse import Warehouse  # noqa: E402

from governed import land_exports  # noqa: E402


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # 500 contacts -> 2 copies of the demo's 300 people; 40k events -> 3 copies of its ~15k email events
    return build_stack(tmp_path_factory.mktemp("scale"), contacts=500, events=40_000, scale=0.1)


def read(stack, rel: str, fmt: str) -> str:
    path = (stack.exports / rel).as_posix()
    return {"csv": f"read_csv('{path}', all_varchar = true)", "json": f"read_json('{path}')",
            "parquet": f"read_parquet('{path}')"}[fmt]


def demo(stack, rel: str, fmt: str) -> str:
    path = (stack.demo_config.parent / "exports" / rel).as_posix()
    return {"csv": f"read_csv('{path}', all_varchar = true)", "json": f"read_json('{path}')",
            "parquet": f"read_parquet('{path}')"}[fmt]


def one(sql: str):
    return duckdb.connect().execute(sql).fetchone()


def test_people_grow_with_contacts_and_events_with_events(stack):
    assert (stack.people_copies, stack.event_copies) == (2, 3)
    base = {k: one(f"select count(*) from {demo(stack, *v)}")[0] for k, v in {
        "contacts": ("salesforce/contacts.csv", "csv"), "leads": ("salesforce/leads.csv", "csv"),
        "hubspot": ("hubspot/contacts.jsonl", "json"), "events": ("hubspot/email_events.jsonl", "json"),
        "decisions": ("decisions/ai_decisions.parquet", "parquet"), "ads": ("google_ads/campaign_stats.csv", "csv"),
        "profiles": ("cdp/profiles.parquet", "parquet"), "uploads": ("google_ads/audience_uploads.csv", "csv"),
        "erasures": ("cdp/erasure_requests.parquet", "parquet"), "members": ("salesforce/campaign_members.csv", "csv"),
        "accounts": ("salesforce/accounts.csv", "csv")}.items()}
    s = stack.sizes
    people = base["contacts"] + base["leads"]
    assert s["salesforce.contacts"] + s["salesforce.leads"] == 2 * people == s["hubspot.contacts"] == s["cdp.profiles"]
    assert s["hubspot.subscriptions"] == s["hubspot.contacts"]
    for key, name in [("salesforce.campaign_members", "members"), ("google_ads.audience_uploads", "uploads"),
                      ("cdp.erasure_requests", "erasures")]:
        assert s[key] == 2 * base[name], key
    for key, name in [("hubspot.email_events", "events"), ("decisions.ai_decisions", "decisions"),
                      ("google_ads.campaign_stats", "ads")]:
        assert s[key] == 3 * base[name], key
    assert s["salesforce.accounts"] == base["accounts"]  # copies join to the same accounts


def test_copies_keep_every_key_unique_and_every_reference_whole(stack):
    keys = {"salesforce/contacts.csv": ("csv", "Id"), "salesforce/leads.csv": ("csv", "Id"),
            "salesforce/campaigns.csv": ("csv", "Id"), "salesforce/opportunities.csv": ("csv", "Id"),
            "salesforce/campaign_members.csv": ("csv", "Id"), "hubspot/contacts.jsonl": ("json", "id"),
            "hubspot/email_events.jsonl": ("json", "id"), "cdp/profiles.parquet": ("parquet", "profile_id"),
            "decisions/ai_decisions.parquet": ("parquet", "decision_id"),
            "google_ads/campaign_stats.csv": ("csv", '"campaign.id", "segments.date"'),
            "google_ads/audience_uploads.csv": ("csv", '"offline_user_data_job.id", "user_identifiers.hashed_email"'),
            "hubspot/subscriptions.jsonl": ("json", "recipient, subscriptionId"),
            "cdp/erasure_requests.parquet": ("parquet", "request_id")}
    for rel, (fmt, key) in keys.items():
        total, distinct = one(f"select count(*), count(distinct ({key})) from {read(stack, rel, fmt)}")
        assert total == distinct, rel
    # every email event's recipient and every decision's subject is a person of the stack
    emails = f"(select Email from {read(stack, 'salesforce/contacts.csv', 'csv')} union all " \
             f"select Email from {read(stack, 'salesforce/leads.csv', 'csv')})"
    assert one(f"select count(*) from {read(stack, 'hubspot/email_events.jsonl', 'json')} "
               f"where recipient not in {emails}") == one(
        f"select count(*) * 3 from {demo(stack, 'hubspot/email_events.jsonl', 'json')} where recipient not in "
        f"(select Email from {demo(stack, 'salesforce/contacts.csv', 'csv')} union all "
        f"select Email from {demo(stack, 'salesforce/leads.csv', 'csv')})")
    ids = f"(select Id from {read(stack, 'salesforce/contacts.csv', 'csv')} union all " \
          f"select Id from {read(stack, 'salesforce/leads.csv', 'csv')})"
    assert one(f"select count(*) from {read(stack, 'decisions/ai_decisions.parquet', 'parquet')} "
               f"where subject_id not in {ids}") == (0,)
    # a paid campaign's copies each have their Google Ads days and their CRM campaign
    assert one(f"""select count(distinct "campaign.id") from {read(stack, 'google_ads/campaign_stats.csv', 'csv')}
                   where "campaign.id" not in (select Google_Ads_Campaign_Id__c from
                   {read(stack, 'salesforce/campaigns.csv', 'csv')})""") == (0,)
    # hashed addresses of copies are the hashes of the copies' addresses
    assert one(f"""select count(*) from {read(stack, 'google_ads/audience_uploads.csv', 'csv')}
                   where "user_identifiers.hashed_email" not in (select sha256(lower(trim(email)))
                   from {read(stack, 'cdp/profiles.parquet', 'parquet')})""") == (0,)


def test_the_demos_problems_keep_their_rates(stack):
    def rates(src) -> tuple:
        events = src("hubspot/email_events.jsonl", "json")
        decisions = src("decisions/ai_decisions.parquet", "parquet")
        contacts = src("salesforce/contacts.csv", "csv")
        return (
            one(f"select round(avg((type = 'SENT')::int), 6) from {events}"),
            one(f"select round(avg((confidence < 0.6 and executed and not human_reviewed)::int), 6) from {decisions}"),
            one(f"select round(avg((HasOptedOutOfEmail = 'true')::int), 6) from {contacts}"),
            one(f"select round(avg((input_snapshot_id is null)::int), 6) from {decisions}"),
        )

    assert rates(lambda *a: read(stack, *a)) == rates(lambda *a: demo(stack, *a))
    # copy 0 is the demo itself
    assert one(f"select count(*) from (select * from {demo(stack, 'salesforce/contacts.csv', 'csv')} except "
               f"select * from {read(stack, 'salesforce/contacts.csv', 'csv')})") == (0,)


def test_the_stack_lands_whole_through_the_source_contracts(stack, tmp_path):
    """Every copied row passes its source contract as its original does: ids and addresses keep their formats, and
    what the demo quarantines on purpose is quarantined once per copy."""
    def by_entity(results) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for r in results:
            loaded, quarantined = out.get(r.entity, (0, 0))
            out[r.entity] = (loaded + r.rows_loaded, quarantined + r.rows_quarantined)
        return out

    wh = Warehouse(tmp_path / "w.duckdb")
    landed = by_entity(land_exports(wh, stack.exports))
    base = by_entity(land_exports(Warehouse(tmp_path / "d.duckdb"), stack.demo_config.parent / "exports"))
    event_grain = {"email_events": stack.event_copies, "ai_decisions": stack.event_copies,
                   "campaign_stats": stack.event_copies}
    for entity in ("contacts", "leads", "campaign_members", "subscriptions", "profiles", "audience_uploads",
                   "erasure_requests", *event_grain):
        copies = event_grain.get(entity, stack.people_copies)
        assert landed[entity][1] == copies * base[entity][1], entity
    assert sum(landed["email_events"]) == stack.sizes["hubspot.email_events"]
    assert sum(landed["contacts"]) == stack.sizes["salesforce.contacts"] + stack.sizes["hubspot.contacts"]
    seconds, sizes = floor(wh.path)
    assert sizes["hubspot__email_events"] == landed["email_events"][0] and seconds > 0


def test_the_daily_delta_is_small_and_keyed_to_what_is_there(stack, tmp_path):
    events_before = stack.sizes["hubspot.email_events"]
    written = write_delta(stack)
    assert abs(written["hubspot.email_events"] - round(events_before * 0.01)) <= 1
    assert 0 < written["salesforce.contacts"] <= stack.sizes["salesforce.contacts"] * 0.02
    new = read(stack, "hubspot/email_events.jsonl", "json")
    assert one(f"select count(*) from {new} where type = 'SENT' or not ends_with(id, '-d1')") == (0,)
    from steward.flows.config import load_config  # the integrations now say they deliver deltas

    assert {i.delivery for i in load_config(stack.config).integrations if i.kind == "export_files"} == {"delta"}


def test_a_snapshot_delta_is_the_whole_entity_with_the_changes(tmp_path):
    stack = build_stack(tmp_path, contacts=300, events=15_000, scale=0.1)
    before = stack.sizes["salesforce.contacts"], stack.sizes["hubspot.email_events"]
    written = write_delta(stack, mode="snapshot")
    assert written["salesforce.contacts"] == before[0]  # changed rows replaced, none added
    assert written["hubspot.email_events"] == before[1] + round(before[1] * 0.01)
    contacts = read(stack, "salesforce/contacts.csv", "csv")
    assert one(f"select count(*), count(distinct Id) from {contacts}") == (before[0], before[0])
    assert one(f"select count(*) > 0 from {contacts} where FirstName like '%e'") == (True,)


def test_the_report_helpers():
    # bench_audits.py, the old name, passes its options on with --customers spelled --contacts
    assert translate(["--customers", "5", "--events=9", "--customers=7"]) == [
        "--contacts", "5", "--events=9", "--contacts=7"]
    assert compare({"findings": {"a/warn": 1}}, {"findings": {"a/warn": 9, "b/info": 1}}) == {
        "same": False, "only_at_scale": ["b/info"], "only_in_demo": []}


def test_slowest_models_are_read_from_the_dbt_log_of_a_stopped_run(tmp_path):
    log = tmp_path / "dbt.log"
    log.write_text("      start  run run-1 -> w.duckdb\n"
                   "dbt: 3 of 80 START sql table model main_governance.gov_a .................... [RUN]\n"
                   "dbt: 3 of 80 OK created sql table model main_governance.gov_a ....... [OK in 12.50s]\n"
                   "dbt: 4 of 80 OK created sql view model main_staging.stg_b ........... [OK in 0.20s]\n"
                   "dbt: 5 of 80 PASS unique_stg_b_id ................................... [PASS in 1.05s]\n"
                   "dbt: 6 of 80 FAIL 3 accepted_values_stg_b_a_rather_long_test_name_that_fills_the_line [FAIL 3 in "
                   "2.00s]\n")
    long = "accepted_values_stg_b_a_rather_long_test_name_that_fills_the_line"
    assert _slowest_from_log(log) == [["gov_a", 12.5], [long, 2.0], ["unique_stg_b_id", 1.05], ["stg_b", 0.2]]
    assert json.dumps(_slowest_from_log(tmp_path / "missing.log")) == "[]"


def test_a_stopped_runs_stage_and_rows_so_far_are_read_from_its_progress_lines(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("      start  run run-1 -> w.duckdb\n"
                   "     ingest  hubspot.email_events: 51,200 rows\n"
                   "     ingest  hubspot.email_events: 50,087 rows, 3 quarantined\n"
                   "     ingest  salesforce.leads: 907 rows, schema drift\n"
                   "     ingest  salesforce.accounts: unchanged, skipped\n")
    assert _last_stage(log) == "ingest"
    assert _landed_so_far(log) == {"hubspot.email_events": 101_287, "salesforce.leads": 907}
    with log.open("a") as fh:  # the transform reports itself when it is done; dbt's node lines say it has begun
        fh.write("dbt: 1 of 232 START sql view model staging.stg_cdp__profiles ........ [RUN]\n")
    assert _last_stage(log) == "transform"


def test_a_runs_peak_memory_is_its_own_and_not_the_benchmarks(tmp_path):
    # The benchmark holds the stack's DuckDB pages after building it. Linux hands a child the resident peak of the
    # address space its exec replaced, so a run spawned straight from the benchmark reported the benchmark's memory
    # (2970 MiB for a scale-1 run that never held 560 MiB). Started through the launcher, the figure is the run's.
    held = bytearray(b"\1") * (400 * 2**20)  # what the benchmark holds
    child = [sys.executable, "-c", "import time; b = bytearray(b'\\1') * (120 * 2**20); time.sleep(1.5)"]
    direct = subprocess.Popen(child, start_new_session=True)
    assert os.wait4(direct.pid, 0)[2].ru_maxrss / 1024 >= 400  # the old figure: the spawner's peak

    err = tmp_path / "run.log"
    err.touch()
    with err.open("w") as stderr:
        proc = launch(child, tmp_path / "run.rusage", stdout=subprocess.DEVNULL, stderr=stderr)
        tree = TreeMemory(proc.pid)
        status, _, stopped, _ = _wait(proc, time.perf_counter() + 120, err, "mem", 6144, None, tree)
    figures = tree.figures(launched_rusage(tmp_path / "run.rusage"))
    assert (os.waitstatus_to_exitcode(status), stopped) == (0, "")
    assert 120 <= figures["peak_rss_mib"] < 300, figures  # the child's own ~130 MiB, not 400 more
    assert 120 <= figures["peak_rss_sampled_mib"] <= figures["peak_rss_mib"], figures
    assert figures["peak_rss_processes"][0][0] >= 120
    assert len(held) == 400 * 2**20


def _completed(wall: float, findings=None) -> dict:
    return {"status": "completed", "wall_s": wall, "peak_rss_mib": 100 + wall, "findings": findings or {"a/warn": 1}}


def test_a_repeat_restores_the_stack_as_it_was_and_keeps_each_runs_output(tmp_path):
    stack_dir = tmp_path / "stack"
    (stack_dir / "exports" / "hubspot").mkdir(parents=True)
    export = stack_dir / "exports" / "hubspot" / "email_events.jsonl"
    export.write_text('{"id": "1"}\n')
    os.utime(export, (1_700_000_000, 1_700_000_000))
    with duckdb.connect(str(stack_dir / "steward.duckdb")) as con:
        con.execute("create table t as select 1 as x")
    (stack_dir / "run-full.json").write_text("full")
    before = _copy_stack(stack_dir, tmp_path / "before-full")
    assert not list(before.glob("run-*"))  # the runs' output is not part of the state a run starts from

    export.write_text('{"id": "1"}\n{"id": "2"}\n')  # what a run and the day's delta do to the folder
    with duckdb.connect(str(stack_dir / "steward.duckdb")) as con:
        con.execute("insert into t values (2)")
    (stack_dir / "work" / "dbt" / "target").mkdir(parents=True)
    (stack_dir / "work" / "dbt" / "target" / "state").write_text("the daily run's")
    (stack_dir / "work" / "dbt" / "jinja").mkdir()  # dbt's compiled templates: what the next run would find
    (stack_dir / "work" / "dbt" / "jinja" / "t.cache").write_text("compiled by the daily run")
    (stack_dir / "run-daily.json").write_text("daily")

    _restore_stack(before, stack_dir)
    with duckdb.connect(str(stack_dir / "steward.duckdb")) as con:
        assert con.execute("select list(x) from t").fetchone()[0] == [1]
    assert export.read_text() == '{"id": "1"}\n' and export.stat().st_mtime == 1_700_000_000  # known as landed
    assert not (stack_dir / "work" / "dbt" / "target").exists()
    assert (stack_dir / "work" / "dbt" / "jinja" / "t.cache").read_text() == "compiled by the daily run"
    assert not list(tmp_path.glob(".*-kept"))
    assert (stack_dir / "run-full.json").read_text() == "full" and (stack_dir / "run-daily.json").read_text() == "daily"


def test_daily_vs_full_is_judged_on_the_medians_of_the_repeated_pairs():
    stack = SimpleNamespace(as_of=pd.Timestamp("2026-12-01T00:00:00Z"), people_copies=1, event_copies=1, sizes={})
    args = SimpleNamespace(contacts=10, events=10, delta="incremental")
    runs = {"first": _completed(90.0), "governance": _completed(10.0), "full": _completed(50.0),
            "daily": _completed(20.0)}
    repeats = {"full": [_completed(60.0), _completed(58.0)], "daily": [_completed(17.0), _completed(16.0)]}
    out = figures(stack, args, 1.0, runs, {}, 1.0, repeats)
    assert out["full_s"] == 58.0 and out["daily_vs_full"] == round(17.0 / 58.0, 2) == 0.29
    assert out["steady_s"] is None and out["daily_beyond_steady_vs_full"] is None  # no steady run, no figure
    assert out["targets"]["daily_le_30pct_of_full"]
    assert out["repeats"] == {"pairs": 3, "full_wall_s": [50.0, 60.0, 58.0], "daily_wall_s": [20.0, 17.0, 16.0],
                              "daily_vs_full_each": [0.4, 0.28, 0.28], "findings_same": True}
    assert out["peak_rss_landed_runs_mib"] == 160.0  # the repeats' peaks count too
    assert median_of(runs["full"], repeats["full"]) == 58.0

    # the day's part: the medians beyond the run with nothing new, (17 - 8) / (58 - 8)
    runs["steady"] = _completed(8.0)
    out = figures(stack, args, 1.0, runs, {}, 1.0, repeats)
    assert out["steady_s"] == 8.0 and out["daily_beyond_steady_vs_full"] == 0.18
    assert out["steady_findings_vs_governance"]["same"]
    runs["steady"] = {"status": "failed", "wall_s": 3.0}
    assert figures(stack, args, 1.0, runs, {}, 1.0, repeats)["daily_beyond_steady_vs_full"] is None
    del runs["steady"]

    # a repeat that failed or found something else is never hidden behind the others
    repeats["daily"][1] = {"status": "failed", "wall_s": 3.0}
    out = figures(stack, args, 1.0, runs, {}, 1.0, repeats)
    assert out["daily_vs_full"] is None and not out["targets"]["daily_le_30pct_of_full"]
    assert out["repeats"]["findings_same"] is False
    repeats["daily"][1] = _completed(16.0, {"b/critical": 1})
    assert figures(stack, args, 1.0, runs, {}, 1.0, repeats)["repeats"]["findings_same"] is False


def test_repeat_is_refused_where_a_copy_of_the_folder_cannot_restore_the_warehouse():
    script = Path(__file__).parents[2] / "benchmarks" / "bench_scale.py"
    for args in (["--repeat", "2", "--postgres"], ["--repeat", "0"]):
        done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 2 and "--repeat" in done.stderr.splitlines()[-1], done.stderr[-500:]
