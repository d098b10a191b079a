"""Runs the bundled dbt project against the warehouse, in process, through dbt's own Python runner.

dbt's artefacts (target/, logs/, profiles.yml) go to a working folder, never into the project, so the package can be
installed read-only. A model that fails to build is a ``TransformError`` naming the model; a data test that fails
is returned as a ``TestFailure`` for the contracts to judge, because bad data is a finding, not a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Mapping

from ...contracts.errors import TransformError
from ..warehouse import Warehouse
from ..warehouse.connection import released, wait_released
from ..warehouse.landing import ensure_raw_tables
from ...contracts.registry import SOURCE_CONTRACTS
from ..warehouse.target import PostgresTarget, WarehouseTarget
from . import assertions, lighter, parsed

__all__ = ["TestFailure", "BuildOutcome", "dbt_project_dir", "build", "run_models", "parse", "preload",
           "LAUNCH_SELECT"]

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


@dataclass(frozen=True)
class TestFailure:
    test: str
    model: str | None
    failures: int
    severity: str  # dbt's own: "error" or "warn"
    message: str
    unique_id: str | None = None  # dbt's node id: a governance run keeps each test's result across builds


@dataclass
class BuildOutcome:
    models: int = 0
    tests_passed: int = 0
    unit_tests: int = 0
    test_failures: list[TestFailure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # each data test's status by dbt node id (pass, fail, warn, error, skipped): what the next governance run keeps
    # of this build for the tests it does not run again (integrations/transform/changes.py)
    test_status: dict[str, str] = field(default_factory=dict)
    note: str = ""  # what this build rebuilt and why, when it was not the whole project (changes.py)


def dbt_project_dir() -> Path:
    return Path(str(resources.files("steward.dbt_project")))


def _write_profile(work_dir: Path, warehouse: WarehouseTarget, settings: Mapping[str, str] | None = None) -> Path:
    """dbt's profile for the warehouse: a DuckDB file (dbt-duckdb) or a PostgreSQL database (dbt-postgres)."""
    profiles = work_dir / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    text = _postgres_profile(warehouse) if isinstance(warehouse, PostgresTarget) \
        else _duckdb_profile(warehouse, settings)
    (profiles / "profiles.yml").write_text(text, encoding="utf-8")
    return profiles


def _duckdb_profile(warehouse: Path, settings: Mapping[str, str] | None) -> str:
    """``threads: 2`` is how many models dbt builds at once; DuckDB's own resource settings (``Warehouse.settings``)
    go under ``settings``, which dbt-duckdb sets on every cursor it opens, except ``temp_directory``: DuckDB refuses
    to switch it once a model has spilled into it, even to the same folder, so it is given once, when dbt opens the
    database (``config_options``). ``preserve_insertion_order`` is off for the build (DuckDB's advice for large
    tables): no model reads a table in the order its rows were written (every list, first row and example is
    ordered explicitly), and DuckDB then need not keep the order through its aggregations and writes: the daily
    run's heaviest marts at 1M contacts took 12-20% less (frequency, channel purpose, references, links)."""
    text = ("steward:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
            f"      path: {json.dumps(str(warehouse))}\n      schema: main\n      threads: 2\n")
    per_cursor = {"preserve_insertion_order": "false",
                  **{k: v for k, v in (settings or {}).items() if k != "temp_directory"}}
    at_open = {k: v for k, v in (settings or {}).items() if k == "temp_directory"}
    for section, values in (("settings", per_cursor), ("config_options", at_open)):
        if values:
            text += f"      {section}:\n" + "".join(f"        {key}: {json.dumps(str(value))}\n"
                                                  for key, value in values.items())
    return text


def _postgres_profile(target: PostgresTarget) -> str:
    """The password never enters the file: dbt reads it from the environment variable the config names, through
    ``env_var`` when it renders the profile (no variable: trust, peer or .pgpass authentication, as for psycopg).
    The schemas are the ones the DuckDB file has (``main``, and ``staging``/``governance`` from the folders)."""
    password = f"      pass: \"{{{{ env_var('{target.password_env}') }}}}\"\n" if target.password_env else \
        "      pass: \"\"\n"
    return ("steward:\n  target: postgres\n  outputs:\n    postgres:\n      type: postgres\n"
            f"      host: {json.dumps(target.host)}\n      port: {int(target.port)}\n"
            f"      user: {json.dumps(target.user)}\n{password}      dbname: {json.dumps(target.database)}\n"
            "      schema: main\n      threads: 2\n")


def build(warehouse: WarehouseTarget, work_dir: Path, dbt_vars: dict, select: list[str] | None = None,
          exclude: list[str] | None = None, full_refresh: bool = False,
          settings: Mapping[str, str] | None = None, unit_tests: bool = True) -> BuildOutcome:
    """``dbt build`` (models, data tests and unit tests) with the policy's scope as vars; ``exclude`` leaves nodes
    out (``source:salesforce.opportunities+``: a refused source and everything built on it keep their last build);
    ``full_refresh`` rebuilds the incremental event models from all of raw instead of the batches landed since.
    ``settings`` are DuckDB's resource settings (``Warehouse.settings``; not used on PostgreSQL). ``warehouse`` is
    the DuckDB file or a :class:`PostgresTarget`. ``unit_tests=False`` leaves dbt's unit tests out: they check the
    models' SQL on fixed fixture rows, not the team's data, so a governance run need not pay for them each time
    (the test suite runs them all; docs/architecture.md says how to run them on a workspace)."""
    if not unit_tests:
        exclude = [*(exclude or []), "test_type:unit"]
    return _invoke("build", warehouse, work_dir, dbt_vars, select, exclude, full_refresh, settings, forget=True)


def run_models(warehouse: WarehouseTarget, work_dir: Path, dbt_vars: dict, select: list[str] | None = None,
               full_refresh: bool = False, settings: Mapping[str, str] | None = None) -> BuildOutcome:
    """``dbt run``: models only, for measuring what the audits themselves cost."""
    return _invoke("run", warehouse, work_dir, dbt_vars, select, None, full_refresh, settings, forget=True)


def _before_dbt(warehouse: WarehouseTarget):
    """The DuckDB file held open (``Warehouse.pinned``) for what a build does to it before dbt opens it (forget the
    last build's state, look at the raw tables): each of those opened and checkpointed the file itself, twice over
    with its ``Warehouse``. Closed before dbt starts; inside a run's pin, and on PostgreSQL, nothing changes."""
    if isinstance(warehouse, PostgresTarget):
        return contextlib.nullcontext()
    return Warehouse(warehouse).pinned()


def _forget_changes(warehouse: WarehouseTarget, select: list[str] | None) -> None:
    """A build outside a governance run's transform step (a test, a benchmark, a person's script) may rebuild the
    governance models with other vars: the next governance run must not trust what the last one left, so it
    rebuilds everything. A pre-launch build only builds the launch models, which governance builds leave out."""
    if select and all(s.startswith(LAUNCH_SELECT) for s in select):
        return
    from ..warehouse import ledger

    ledger.forget_build_state(Warehouse(warehouse))


LAUNCH_SELECT = "path:models/launch"


def _invoke(command: str, warehouse: WarehouseTarget, work_dir: Path, dbt_vars: dict, select: list[str] | None,
            exclude: list[str] | None = None, full_refresh: bool = False,
            settings: Mapping[str, str] | None = None, indirect_selection: str = "buildable",
            manifest=None, forget: bool = False) -> BuildOutcome:
    """``indirect_selection`` is how a selection takes the data tests of selected models that also read a model
    outside it (dbt's ``--indirect-selection``); ``manifest``: the parse (``parsed.load``) when the caller has it;
    ``forget``: the last governance build's state is forgotten first (``_forget_changes``)."""
    from dbt.cli.main import dbtRunner  # imported late: dbt's import takes a second and most commands skip it

    work_dir.mkdir(parents=True, exist_ok=True)
    with _before_dbt(warehouse):
        if forget:
            _forget_changes(warehouse, select)
        _ensure_raw_tables(warehouse)  # platforms not connected yet build as empty, not as errors
    profiles, target = _write_profile(work_dir, warehouse, settings), work_dir / "target"
    # --no-write-json: dbt would also write manifest.json (2 MB at every run), graph.gpickle and the semantic
    # manifest, which nothing reads; run_results.json, which people and the benchmarks read, is written below
    args = [command, "--project-dir", str(dbt_project_dir()), "--profiles-dir", str(profiles),
            "--target-path", str(target), "--log-path", str(work_dir / "logs"),
            "--vars", json.dumps(dbt_vars, default=str), "--no-use-colors", "--no-write-json",
            "--log-level", "none"]  # stdout belongs to Steward (--json); failures reach us as results
    if select:
        # by default a data test runs only when every model it reads is built here or upstream: dbt's own default
        # ("eager") also runs a relationships test whose other side this selection never built, and it fails on a
        # missing relation (a governance run's partial rebuild passes "eager": there the other side exists)
        args += ["--select", *select, "--indirect-selection", indirect_selection]
    if exclude:
        args += ["--exclude", *exclude]
    if full_refresh:
        args.append("--full-refresh")
    verbose = os.environ.get("STEWARD_DBT_LOG_LEVEL", "none") != "none"
    key = parsed.parse_key(dbt_project_dir(), profiles, dbt_vars)
    manifest = manifest if manifest is not None else parsed.load(work_dir, key)
    if manifest is None:
        parsed.forget_partial(target)
    _lighter_adapter_start()
    _open_after_release()
    lighter.use_template_cache(work_dir / "jinja")
    # a pin of the file (a run's) is closed while dbt opens it with its own settings; Python's collector paced for
    # the objects a build makes and drops (lighter.collector_during_build)
    with released(warehouse), lighter.collector_during_build():
        try:
            res = dbtRunner(manifest=manifest, callbacks=[_echo_to_stderr] if verbose else []).invoke(args)
        finally:
            _release_duckdb()
    if res.exception is not None:
        raise TransformError(f"dbt {command} did not run: {str(res.exception).strip().splitlines()[0]}") \
            from res.exception
    if manifest is None:
        parsed.keep(work_dir, target, key)
    else:  # for this process's next build (parsed.load): the completed build is done with it
        parsed.give_back(work_dir, key, manifest)
    if hasattr(res.result, "write"):
        res.result.write(str(target / "run_results.json"))
    outcome = _outcome(res.result)
    outcome.test_failures = assertions.split_failures(warehouse, res.result, outcome.test_failures)
    return outcome


def parse(warehouse: WarehouseTarget, work_dir: Path, dbt_vars: dict, settings: Mapping[str, str] | None = None):
    """dbt's parse of the project, the saved one when ``parsed`` has it for these vars, else a ``dbt parse`` (kept
    as a build's parse is): for a caller that reads the project's graph before it decides what to build."""
    from dbt.cli.main import dbtRunner

    work_dir.mkdir(parents=True, exist_ok=True)
    profiles, target = _write_profile(work_dir, warehouse, settings), work_dir / "target"
    key = parsed.parse_key(dbt_project_dir(), profiles, dbt_vars)
    manifest = parsed.load(work_dir, key)
    if manifest is not None:
        return manifest
    parsed.forget_partial(target)
    _lighter_adapter_start()
    _open_after_release()
    lighter.use_template_cache(work_dir / "jinja")
    with released(warehouse), lighter.collector_during_build():
        try:
            res = dbtRunner().invoke(["parse", "--project-dir", str(dbt_project_dir()), "--profiles-dir",
                                      str(profiles), "--target-path", str(target), "--log-path", str(work_dir / "logs"),
                                      "--vars", json.dumps(dbt_vars, default=str), "--no-use-colors",
                                      "--no-write-json", "--log-level", "none"])
        finally:
            _release_duckdb()
    if res.exception is not None or not res.success:
        raise TransformError(f"dbt parse did not run: {str(res.exception or 'failed').strip().splitlines()[0]}")
    parsed.keep(work_dir, target, key)
    return parsed.load(work_dir, key) or res.result


def preload(warehouse: WarehouseTarget) -> None:
    """Import now what a build imports when it starts (dbt's runner and parse, the warehouse's adapter: 1.5 CPU
    seconds), for a caller with time to spare before its build: a run waiting for Prefect's temporary server, which
    starts on the other core, imports dbt during the wait instead of after it."""
    import importlib

    adapter = "dbt.adapters.postgres" if isinstance(warehouse, PostgresTarget) else "dbt.adapters.duckdb"
    for module in ("dbt.cli.main", "dbt.parser.manifest", adapter):
        importlib.import_module(module)


def _lighter_adapter_start() -> None:
    """dbt-adapters appends the adapter's own behaviour flags to its module-level default list at every adapter start
    (PostgreSQL's one flag), so in a long-lived process (a pytest worker, ``steward serve``) the list, and the work of
    every later adapter start (each flag inspects the stack), grew with every build; repeats are dropped before each
    build (the first of each name is the one dbt reads). Each flag's source is named by ``_flag_source`` instead of
    a walk of ``inspect.stack()``. dbt's own behaviour is otherwise untouched."""
    from dbt.adapters.base import impl
    from dbt_common import behavior_flags

    lighter.install()  # templates compiled once, log events built without ParseDict (lighter.py)
    defaults, seen = impl.DEFAULT_BASE_BEHAVIOR_FLAGS, set()
    defaults[:] = [flag for flag in defaults if not (flag["name"] in seen or seen.add(flag["name"]))]
    global _DBT_FLAG_SOURCE
    rendered = getattr(behavior_flags, "BehaviorFlagRendered", None)
    own = vars(rendered).get("_default_source") if rendered is not None else None
    if isinstance(own, staticmethod) and own.__func__ is not _flag_source:
        _DBT_FLAG_SOURCE = own.__func__
        rendered._default_source = staticmethod(_flag_source)


def _open_after_release() -> None:
    """dbt-duckdb opens the warehouse file only once the pin ``released`` closes on a thread of its own is closed
    (``connection.wait_released``): the close, with its checkpoint, overlaps the second of Python dbt spends before
    its first query, and DuckDB never sees the file opened twice in this process with two sets of settings. Wraps
    dbt-duckdb's ``Environment.initialize_db`` once; what it opens, and how, is unchanged."""
    try:
        from dbt.adapters.duckdb.environments import Environment
    except ImportError:  # pragma: no cover - another adapter
        return
    own = vars(Environment).get("initialize_db")
    if not isinstance(own, classmethod) or getattr(own.__func__, "_steward_waits", False):
        return
    original = own.__func__

    def initialize_db(cls, creds, plugins=None):
        if creds.path and creds.path != ":memory:":
            wait_released(creds.path)
        return original(cls, creds, plugins)

    initialize_db._steward_waits = True  # type: ignore[attr-defined]
    Environment.initialize_db = classmethod(initialize_db)


_DBT_FLAG_SOURCE = None  # dbt-common's own, once replaced (the tests compare the two)


def _flag_source() -> str:
    """What dbt-common's ``BehaviorFlagRendered._default_source`` answers (the module that started the flag: the
    first caller outside ``dbt_common.behavior_flags``, ``dbt.adapters.base.impl`` for an adapter's flags), read
    from each frame's module name. dbt computes it for every flag at every adapter start, whether or not the flag
    names its source, through ``inspect.stack()``, which reads every calling frame's source file and looks each one
    up among all loaded modules (~20 ms a flag in a test worker with 2,500 modules loaded, more with more and a
    deep stack), twice a build, for a name only shown if the flag's warning fires. Same answer, no file read."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != "dbt_common.behavior_flags":
            return name
        frame = frame.f_back
    return "Unknown"


def _ensure_raw_tables(warehouse: WarehouseTarget) -> None:
    """Every raw table the sources name, before dbt reads them. On PostgreSQL the password variable is checked first,
    so a missing one is one line naming it (ConfigError), not dbt's error from deep inside its profile."""
    if isinstance(warehouse, PostgresTarget):
        warehouse.password()
    wh = Warehouse(warehouse)
    if not wh.is_postgres and _raw_tables_complete(wh):
        return  # every run after the first: one query instead of a look at each table
    with wh.pinned():  # one open of the DuckDB file for every table, not one open (and checkpoint) per table
        ensure_raw_tables(wh)


def _raw_tables_complete(wh: Warehouse) -> bool:
    """Whether every raw table the source contracts name exists with every column its contract has (what
    ``ensure_raw_tables`` would otherwise create or add)."""
    with wh.connect() as con:
        rows = con.execute("select table_name, column_name from information_schema.columns "
                           "where table_schema = 'raw'").fetchall()
    have: dict[str, set[str]] = {}
    for table, column in rows:
        have.setdefault(table, set()).add(column)
    # a landed table's columns are the contract's and ``_unmapped`` (``empty_frame``'s shape, read off the schema:
    # building and validating 26 empty frames through pandera cost 1-3 s of every run)
    return all({*contract.columns(), "_unmapped"} <= have.get(key.replace(".", "__"), set())
               for key, contract in SOURCE_CONTRACTS.items())


def _release_duckdb() -> None:
    """Close the database dbt-duckdb keeps open in this process after a build. Open, it pins the warehouse file to
    dbt's connection settings, and the confined connection that runs a launch spec's SQL (``confined_sql``, with
    external access off) could not be opened on the same file until the process ends."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - another adapter
        return
    env = getattr(DuckDBConnectionManager, "_ENV", None)
    if env is not None and hasattr(env, "close"):
        env.close()
    DuckDBConnectionManager.close_all_connections()


@lighter.listens_to(frozenset({"info", "warn", "error"}))
def _echo_to_stderr(event) -> None:
    """dbt's own log lines, for --verbose, on stderr so that stdout stays one JSON document."""
    if event.info.level in ("info", "warn", "error") and event.info.msg:
        print(f"dbt: {event.info.msg}", file=sys.stderr)


def _outcome(results) -> BuildOutcome:
    out = BuildOutcome()
    for r in results or []:
        node, status = r.node, str(r.status)
        kind = node.resource_type.value if hasattr(node.resource_type, "value") else str(node.resource_type)
        if kind == "model":
            if status == "error":
                raise TransformError(f"dbt model {node.name} failed: {_database_error(r.message)}")
            if status == "skipped":
                out.skipped.append(node.name)
            else:
                out.models += 1
        elif kind in ("test", "unit_test"):
            if kind == "test":
                out.test_status[node.unique_id] = status
            if status in ("fail", "warn", "error"):
                model = (node.attached_node or "").split(".")[-1] or None if hasattr(node, "attached_node") else None
                out.test_failures.append(TestFailure(node.name, model, int(r.failures or 0),
                                                     "warn" if status == "warn" else "error", (r.message or "")[:300],
                                                     node.unique_id))
            elif kind == "unit_test":
                out.unit_tests += 1
            else:
                out.tests_passed += 1
    return out


def _database_error(message: str | None) -> str:
    """The line that says what went wrong: dbt's first line only names the model, the database's error follows."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith("Runtime Error in model")]
    return (said or lines or ["no message"])[0]
