"""Shared fixtures: one Prefect server per session (shared_prefect.py), and governed demo workspaces built once and
reused."""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Compiled code is cached (__pycache__, git-ignored), as Python does by default, even where the environment turned it
# off (PYTHONDONTWRITEBYTECODE, set on some CI images): otherwise every worker compiled and assertion-rewrote the ~300
# test files again at each collection (6 of its 10 CPU seconds), and each of the suite's ~30 `steward` and Prefect
# processes compiled Steward's modules again. Set here, before the test modules are collected; the environment
# variable goes too, for the processes the tests start.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# Each xdist worker (and every `steward` subprocess it starts) gets its own Prefect home: the temporary servers of
# two workers must not migrate and write one SQLite database at the same time. Set before Prefect is imported.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["PREFECT_HOME"] = _home = tempfile.mkdtemp(prefix=f"steward-prefect-{_worker}-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
# A loaded machine can take longer than Prefect's default 20 s to start a temporary server for a `steward` subprocess;
# a test must not fail because the machine is busy.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")

from hypothesis import settings  # noqa: E402

from steward.flows.runtime import apply_defaults  # noqa: E402

import shared_prefect  # noqa: E402

apply_defaults()

# CI (CI=true) draws the same examples every run: a red CI then means the change broke something, never that a new
# random draw found an old problem. Runs on a developer's machine keep exploring; `--hypothesis-seed` replays one.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def prefect_harness():
    """A real Prefect server for the whole session: the one the xdist controller launched for every worker
    (tests/shared_prefect.py), else, in a run without workers, a temporary one of this process's own."""
    from steward.flows.runtime import flow_settings

    with shared_prefect.connected() as shared, flow_settings():
        if shared:
            yield
            return
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=300):
            yield


@pytest.fixture(scope="session")
def prefect_api(prefect_harness) -> dict[str, str]:
    """The environment that points a ``steward`` subprocess at the session's Prefect server.

    Without ``PREFECT_API_URL`` every ``steward`` process starts (and migrates) a temporary Prefect server of its own,
    6-13 s each on this machine; the suite starts dozens. A test that is about that first-run experience (the
    README's ``steward demo``) leaves this fixture out; the others share the one server, as a team's runs share
    their ``prefect server start``."""
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": str(PREFECT_API_URL.value())}


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- spreading the work
# A module's tests share its module-scoped fixtures (a workspace built once), so each module is one unit of work for
# pytest-xdist, as with ``--dist loadfile`` -- except the modules in SPREAD, whose tests each build their own
# warehouse and share nothing: those are handed to the workers one test at a time.
SPREAD = {"tests/dbt/test_injections.py", "tests/contracts/test_sql_checks.py"}
# The longest modules start first (longest processing time first), so no worker picks one up near the end while
# the other runs dry; the rest keep their collection order behind them (``--no-loadscope-reorder``).
# Ranked by their summed durations in a full run (docs/testing.md); a new module starts behind these.
FIRST = [
    "tests/flows/test_bad_input.py",  # `steward run` subprocesses, on the governed demo run (tests/governed.py)
    "tests/flows/test_interrupt.py",  # runs started and signalled, each with its own Prefect server, and killed
    # the README's `steward demo` at scale 1, injected and clean (tests/governed.py cli_demo_copy), once per session
    # for these two modules: started on the two workers at once, each builds one of the two runs (the injected one
    # for the first, the clean one for the second) while the other worker builds the other
    "tests/flows/test_cli_end_to_end.py",  # the injected demo as a newcomer runs it
    "tests/flows/test_prelaunch_audit.py",  # the launch specs on the warehouses those two runs left
    "tests/integrations/test_api_salesforce.py",
    "tests/flows/test_no_pii_leaves.py",  # `steward demo --verbose` with Slack: the PII scan and the alerts
    "tests/flows/test_writer_lock.py",  # four `steward` processes on one warehouse
    "tests/contracts/test_sql_checks.py",  # spread: its property tests share no fixture
    "tests/integrations/test_pg_runs.py",
    "tests/flows/test_demo_over_api.py",  # the demo over the emulators' APIs, twice, against the governed demo
    "tests/flows/test_approvals.py",  # a demo governed once; its next run paused and answered, five act steps
    "tests/flows/test_own_stack.py",  # four first runs of examples/own-stack: files and tables, planted and clean
    "tests/flows/test_breaking_drift.py",
    "tests/integrations/test_pg_demo.py",  # whole runs on PostgreSQL next to their DuckDB templates (pg_scenarios.py)
    "tests/dbt/test_postgres_per_key_identity.py",  # a daily build and a full refresh per kind of delta, PostgreSQL
    "tests/dbt/test_incremental_consent.py",
    "tests/dbt/test_postgres_incremental_consent.py",
    "tests/dbt/test_per_key_identity.py",
    "tests/dbt/test_incremental_late_sends.py",
    "tests/dbt/test_postgres_incremental_late_sends.py",
    "tests/flows/test_deployments.py",  # a process worker runs two deployments
    "tests/flows/test_report_demo.py",
    "tests/flows/test_governance_source_down.py",  # the governed demo's next run, HubSpot down
    "tests/integrations/test_landed_files.py",  # a moved copy of the governed demo run, run again
    "tests/integrations/test_api_hubspot.py",
    "tests/integrations/test_api_marketo.py",
    "tests/integrations/test_marketo_cross_system.py",
    "tests/dbt/test_postgres_parity.py",
    "tests/integrations/test_demo_workspace.py",
    "tests/dbt/test_injections.py",  # spread: one test at a time fills the gaps between the modules above
]


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_configure(config):
    """``STEWARD_TEST_DUCKDB_CENSUS=<file>``: count every DuckDB start in the workers (tests/duckdb_census.py). In
    the xdist controller: launch the session's one Prefect server, before the workers start (shared_prefect.py)."""
    from duckdb_census import register

    register(config)
    shared_prefect.launch(config)


def pytest_unconfigure(config):
    shared_prefect.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session):
    """Python's cyclic collector, set for a long-lived worker that builds with dbt all session.

    A worker holds every module the suite imports and the session's dbt parses, and each dbt build makes and drops
    hundreds of thousands of objects: with CPython's default thresholds (700, 10, 10) a dbt-heavy module spent ~12%
    of its CPU in collections, most of it in full ones walking everything the worker holds (4.3 of 36 CPU s in
    ``tests/dbt/test_incremental_people.py``). What is loaded once collection is done is frozen out of the walks
    (``gc.freeze``: kept, not walked), and the youngest generation is collected every 10,000 allocations instead of
    700 (1.5-1.9 CPU s there). Garbage is still collected; the product's own processes do the same for what a run
    loads (``steward.flows.runtime.loading``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(_module(item.nodeid), len(FIRST)))


# The modules whose tests spend most of their time waiting, not computing: for a pause to be answered and noticed
# (Prefect polls each second), for an emulator's slow page or rate-limit window, for a health check's re-check. On
# the compute workers (one per core) such a wait left its core idle whenever the other worker waited too: a run of
# the suite was 87% busy. They run on a worker of their own, one more than the cores (``pytest_xdist_auto_num_workers``),
# whose waits the compute workers fill; it takes nothing else, so it competes for a core only in its modules' bursts
# of work. A compute worker takes one of these modules only once no other work is left. Chosen from a timed run
# (docs/testing.md): modules whose waits are sleeps, not a process computing meanwhile (a PostgreSQL build, a
# `steward` subprocess). The lane must end well before the compute workers: twice as many modules, with more CPU of
# their own, made it the run's last worker and the third CPU-bound process most of the time (13 min 12 s).
LANE = [
    "tests/integrations/test_api_salesforce.py",  # a page slower than the client's timeout
    "tests/flows/test_approvals.py",  # pauses answered through Prefect, each noticed at its next poll
    "tests/integrations/test_api_hubspot.py",  # slow pages, a rate-limit window
    "tests/integrations/test_adapter_suite.py",
    "tests/flows/test_slack_approvals.py",  # clicks answered from Slack, noticed at the pause's next poll
    "tests/flows/test_approval_auth.py",
    "tests/flows/test_alert_backlog.py",
    "tests/flows/test_health_flow.py",  # a bad probe confirmed after a pause
    "tests/integrations/test_health.py",
    "tests/integrations/test_pg_suites.py",  # health probes of a slow or stopped PostgreSQL
    "tests/integrations/test_pg_lock.py",
    "tests/integrations/test_slack.py",  # Slack's Retry-After storms
]


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: a worker per core for the suite's computing, and one more for the waiting modules (LANE).
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores + 1 if cores > 1 else cores


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None  # another --dist on the command line: xdist's own scheduler for it
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        """One unit of work per module, one per test in the SPREAD modules; with three workers or more, one of them
        runs the LANE modules and nothing else, the others everything else and, once that is done, what is left
        of LANE."""

        def _split_scope(self, nodeid: str) -> str:
            module = _module(nodeid)
            return nodeid if module in SPREAD else module

        def schedule(self) -> None:
            if self.collection is None:  # the first distribution: every worker is up; the last is the lane's
                self.lane = self.nodes[-1] if len(self.nodes) >= 3 else None
            super().schedule()

        def _next_for(self, node) -> str | None:
            waiting = [scope for scope in self.workqueue if _module(scope) in LANE]
            if node is getattr(self, "lane", None):
                return waiting[0] if waiting else None
            computing = [scope for scope in self.workqueue if _module(scope) not in LANE]
            return computing[0] if computing else (waiting[0] if waiting else None)

        def _assign_work_unit(self, node) -> None:
            scope = self._next_for(node)
            if scope is None:
                return
            work_unit = self.workqueue.pop(scope)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some([collection.index(nodeid) for nodeid, done in work_unit.items() if not done])

        def _reschedule(self, node) -> None:
            if node.shutting_down:
                return
            if self._next_for(node) is None:  # nothing this worker may take is left: it ends after what it has
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) > 2:
                return
            self._assign_work_unit(node)

    return ModuleScheduling(config, log)


# ------------------------------------------------------------------------------------------- dbt's parse, once
# Every dbt build of the session, in a worker or in a `steward` subprocess, takes the session's parse of the project
# (tests/dbt_parses/dbt_parse_cache.py says why and how). The controller makes the cache folder before it starts the
# workers, so they and every process they start share it; tests/dbt_parses on PYTHONPATH brings its sitecustomize.py
# into each subprocess.
_PARSES = str(Path(__file__).resolve().parent / "dbt_parses")
if "STEWARD_TEST_DBT_PARSES" not in os.environ:
    os.environ["STEWARD_TEST_DBT_PARSES"] = _parses = tempfile.mkdtemp(prefix="steward-dbt-parses-")
    atexit.register(shutil.rmtree, _parses, ignore_errors=True)
if _PARSES not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_PARSES, os.environ.get("PYTHONPATH")) if p)


@pytest.fixture(scope="session", autouse=True)
def _dbt_parses_once():
    import importlib.util
    import sys

    import dbt.cli.main

    cache = sys.modules.get("dbt_parse_cache")  # imported already when this process started with sitecustomize.py
    if cache is None:
        spec = importlib.util.spec_from_file_location("dbt_parse_cache", Path(_PARSES) / "dbt_parse_cache.py")
        cache = sys.modules["dbt_parse_cache"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cache)
    cache.patch(dbt.cli.main)
    try:
        yield
    finally:
        cache.unpatch(dbt.cli.main)


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server per test process (tests/pg.py); take a clean database with ``fresh_database()``."""
    from pg import start_pg_server

    yield from start_pg_server()
