"""dbt's parse of the project, once per test session for every process of it (workers and `steward` subprocesses).

Every ``dbt build`` parses the same project (over 200 nodes) from scratch: dbt cannot reuse its partial parse when
the ``as_of`` var (this hour, to the second) or the warehouse path changes, and each test works in its own folder.
Parsing is about a third of a build of the demo, and longer under load. dbt's programmatic API takes a parsed
manifest (``dbtRunner(manifest=...)``, dbt's documented way to invoke it repeatedly), so the session parses once for
each distinct parse input and hands that manifest to every later build: in memory within a process, and through
dbt's msgpack of it in the session's cache folder (``STEWARD_TEST_DBT_PARSES``) across processes, so the second xdist worker and
the dozens of ``steward run`` subprocesses the suite starts do not parse again. What a parse depends on is all in the
key: the project, the profile without its warehouse (a DuckDB file's path, a PostgreSQL profile's host, port and
database: dbt names the database after the file, or takes the profile's, and the manifest is pointed at the build's
database, so a run on ``partial.duckdb`` takes the parse of one on ``steward.duckdb``), and the vars
the product's ``parsed.parse_vars`` keeps: not ``as_of`` nor ``run_id``, which models only read when dbt compiles them
for the build (``as_of()`` macro), not the policy's thresholds and lists (``parsed.COMPILE_VARS``: read only in the SQL
a model compiles, never in a ``config()`` or to choose a ``ref()``), and of a pre-launch audit's ``launch`` var only its
shape, so that every audit after the first takes the session's parse. Builds, compilation, data tests and unit tests all still run for real.

Used by tests/conftest.py (the workers) and by ``sitecustomize.py`` beside this file (subprocesses: the conftest
puts this folder on their ``PYTHONPATH``). Set ``STEWARD_TEST_DBT_PARSES`` to an empty value for a process that must
parse as a user's run does (the README's own ``steward demo``).

``STEWARD_TEST_DBT_CENSUS=<file>`` makes every dbt invocation of a patched process (workers and subprocesses alike)
append one JSON line to that file: the test that caused it, the command and selection, its wall and CPU seconds and
the nodes it ran. dbt is about a third of the suite's CPU, and a census says which tests pay it
(``python tests/dbt_parses/census.py <file>`` sums it per module). Off unless set; it changes nothing dbt does.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource as _resource
import sys
import threading
import time
from pathlib import Path

ENV = "STEWARD_TEST_DBT_PARSES"
CENSUS_ENV = "STEWARD_TEST_DBT_CENSUS"
_PARSE_FLAGS = ("--project-dir", "--profiles-dir", "--target-path", "--log-path", "--vars")
_parsed: dict[str, object] = {}
_lock = threading.Lock()


def _parse_key(options: dict[str, str]) -> str:
    import yaml

    profile = yaml.safe_load((Path(options["--profiles-dir"]) / "profiles.yml").read_text(encoding="utf-8"))
    for target in profile.get("steward", {}).get("outputs", {}).values():
        if "path" in target:  # a DuckDB file: the parse is re-pointed at the database named after it (_on_database)
            target["path"] = ""
        if "dbname" in target:  # a PostgreSQL test database: the parse is re-pointed at it (_on_database)
            target.update(host="", port=0, dbname="")
    from steward.integrations.transform.parsed import parse_vars  # the product's own rule (already imported)

    dbt_vars = json.loads(options["--vars"])
    dbt_vars = {**parse_vars(dbt_vars), "as_of": bool(dbt_vars.get("as_of")), "run_id": bool(dbt_vars.get("run_id"))}
    return json.dumps([options["--project-dir"], profile, dbt_vars], sort_keys=True, default=str)


def _parse(runner_class, options: dict[str, str]):
    parse = ["parse", *[x for flag in _PARSE_FLAGS for x in (flag, options[flag])], "--no-use-colors",
             "--log-level", "none"]
    result = runner_class().invoke(parse)
    if result.exception is not None or result.result is None:
        return None  # the build itself parses again and reports the problem as it always does
    return result.result


def _save(manifest, path: Path) -> None:
    """dbt's own serialisation of a manifest, the one it keeps for partial parsing (``partial_parse.msgpack``)."""
    from dbt.parser.manifest import extended_mashumaro_encoder

    partial = path.with_suffix(f".{os.getpid()}")
    partial.write_bytes(manifest.to_msgpack(extended_mashumaro_encoder))
    partial.replace(path)  # whole or not at all


def _load(path: Path):
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    manifest = Manifest.from_msgpack(path.read_bytes(), decoder=extended_mashumuro_decoder)
    manifest.build_flat_graph()  # as `dbt parse` leaves it (ManifestLoader.get_full_manifest): the `graph` variable
    return manifest


def parsed_manifest(runner_class, args: list[str]):
    """The manifest for ``args``' parse inputs: parsed by ``dbt parse`` the first time in the session, from memory
    or the session's cache folder afterwards. None: let dbt parse (an unusual command line, or no cache)."""
    options = {flag: args[i + 1] for i, flag in enumerate(args[:-1]) if flag in _PARSE_FLAGS}
    if set(options) != set(_PARSE_FLAGS):
        return None
    key = _parse_key(options)
    folder = os.environ.get(ENV)
    with _lock:
        if key in _parsed:
            return _on_database(_parsed[key], _database(options))
        if not folder:
            manifest = _parse(runner_class, options)
        else:
            path = Path(folder) / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.msgpack"
            with open(path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one process parses, the others wait and read what it saved
                if path.exists():
                    manifest = _load(path)
                else:
                    manifest = _parse(runner_class, options)
                    if manifest is not None:
                        _save(manifest, path)
        if manifest is not None:
            _parsed[key] = manifest
            return _on_database(manifest, _database(options))
        return manifest


def _database(options: dict[str, str]) -> str | None:
    """The database a build's profile names: a PostgreSQL profile's, or the one dbt-duckdb names after the DuckDB
    file (its own rule: ``my.db.duckdb`` is ``my``). None: neither (the manifest is used as parsed)."""
    import yaml

    profile = yaml.safe_load((Path(options["--profiles-dir"]) / "profiles.yml").read_text(encoding="utf-8"))
    for target in profile.get("steward", {}).get("outputs", {}).values():
        if "dbname" in target:
            return str(target["dbname"])
        if "path" in target:
            from dbt.adapters.duckdb.credentials import DuckDBCredentials  # imported already: dbt is building

            return DuckDBCredentials.path_derived_database_name(target["path"])
    return None


def _on_database(manifest, database: str | None):
    """``manifest`` naming ``database`` where the parse named another one, or None (dbt then parses) when it does not
    name exactly one database.

    dbt writes the target's database into every node, source and seed at parse time (``database`` and the quoted
    ``relation_name`` it renders into SQL); a PostgreSQL test takes a database of its own (tests/pg.py), and a DuckDB
    warehouse's database is named after its file (``steward.duckdb``, ``w.duckdb``, ``partial.duckdb``,
    ``steward-warehouse-run.duckdb``), so keyed on the name each of them would parse again. Nothing else of a parse
    depends on the name: re-pointing those two fields (and the ``graph`` variable dbt builds from them) is what a parse
    against the other database gives. A relation left naming the old database would fail the build loudly
    (PostgreSQL refuses cross-database references; DuckDB has no catalog of that name)."""
    if database is None:
        return manifest
    resources = [*manifest.nodes.values(), *manifest.sources.values()]
    named = {r.database for r in resources if getattr(r, "database", None)}
    if len(named) != 1:
        return None
    (old,) = named
    if old == database:
        return manifest
    before, after = f'"{old}".', f'"{database}".'
    for resource in resources:
        if getattr(resource, "database", None) == old:
            resource.database = database
        relation = getattr(resource, "relation_name", None)
        if relation and relation.startswith(before):
            resource.relation_name = after + relation[len(before):]
    manifest.build_flat_graph()
    return manifest


def patch(main_module) -> None:
    """Make ``dbt.cli.main.dbtRunner`` hand builds, runs and parses the session's manifest; undone by
    :func:`unpatch`."""
    original = main_module.dbtRunner
    if getattr(original, "_steward_parsed_once", False):
        return

    class ParsedOnceRunner(original):
        _steward_parsed_once = True
        _steward_original = original

        def invoke(self, args, **kwargs):
            # `parse` too when it is asked to write nothing (dbt_build.parse: a governance run that plans a
            # changed-only build parses first): dbt's parse command takes a manifest it is handed as its result
            # and then writes no file (requires.setup_manifest); a parse run for its manifest.json still parses
            census = os.environ.get(CENSUS_ENV)
            started, cpu = time.monotonic(), _cpu_seconds()
            if self.manifest is None and args and (args[0] in ("build", "run") or
                                                   (args[0] == "parse" and "--no-write-json" in args)):
                self.manifest = parsed_manifest(original, list(args))
            result = super().invoke(args, **kwargs)
            if census:
                _count(census, list(args), result, time.monotonic() - started, _cpu_seconds() - cpu)
            return result

    main_module.dbtRunner = ParsedOnceRunner


def _cpu_seconds() -> float:
    usage = _resource.getrusage(_resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _count(path: str, args: list[str], result, wall: float, cpu: float) -> None:
    """One census line for a dbt invocation. The CPU is the whole process's over the call: in a worker, whatever
    else ran on its threads meanwhile too (little: a test waits for its build)."""
    options: dict[str, list[str]] = {}
    flag = None
    for arg in args[1:]:
        if arg.startswith("--"):
            flag = arg
            options.setdefault(flag, [])
        elif flag in ("--select", "--exclude"):
            options[flag].append(arg)
    results = getattr(getattr(result, "result", None), "results", None) or []
    kinds: dict[str, int] = {}
    for node_result in results:
        kind = str(getattr(getattr(node_result, "node", None), "resource_type", "other")).rsplit(".", 1)[-1]
        kinds[kind] = kinds.get(kind, 0) + 1
    line = {"test": os.environ.get("PYTEST_CURRENT_TEST", ""), "pid": os.getpid(),
            "process": "pytest" if "pytest" in sys.modules else "subprocess",  # a worker, or a process it started
            "command": args[0] if args else "", "select": options.get("--select", []),
            "exclude": options.get("--exclude", []), "full_refresh": "--full-refresh" in args,
            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "nodes": len(results), "kinds": kinds}
    with open(path, "a", encoding="utf-8") as out:  # one write per line: lines from several processes stay whole
        out.write(json.dumps(line) + "\n")


def unpatch(main_module) -> None:
    runner = main_module.dbtRunner
    if getattr(runner, "_steward_parsed_once", False):
        main_module.dbtRunner = runner._steward_original
