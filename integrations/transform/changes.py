"""A governance run's dbt build, limited to what changed since the last complete build (rule: contracts/rebuild.py).

What counts as a change of a source (``fingerprints``; all sources together cost a few milliseconds at 1M people):

- a ``raw`` table is written only by Steward's landing, which records every change in the same transaction as a
  ``ledger.batches`` row (and ``ledger.tombstones`` rows for deletions): its fingerprint is its row count plus the
  count, newest time and rows of its batches and the count of its tombstones. A write that bypasses landing and
  keeps the row count (an ``update`` by hand) is not seen: run ``steward run --full-refresh`` after one;
- a ``ledger`` table (small) is hashed whole: row count and an order-independent sum of every row's hash;
- a relation that does not exist is ``absent``.

After a complete build (no source left out, no model error; failing data tests are findings, not errors) the
fingerprints, the project key (``parsed.parse_key``: the project's files, dbt's versions, the profile, the vars but
``as_of``/``run_id``) and every data test's result are stored in ``ledger.build_state`` in one transaction. The run's
test results are this build's plus the stored ones of the tests it did not run, so its findings are those of a run
that rebuilds everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from ...contracts.yaml_input import read_yaml_mapping
from ...contracts.rebuild import CODE_MARK, BuildState, CodeUnit, Rebuild, TestResult, carried_results, \
    clock_readers, plan_rebuild, vouched_tests
from ..warehouse import Warehouse, ledger
from . import dbt_build, parsed

__all__ = ["SourceRelation", "Planned", "source_relations", "fingerprints", "time_dependent", "build_key",
           "plan_build", "governed_build", "descendants"]

_HASHED_SCHEMAS = ("ledger", "launch_input")  # small tables Steward writes: hashed whole


@dataclass(frozen=True)
class SourceRelation:
    source: str  # "<source>.<table>", as dbt's ``source:`` selector names it
    schema: str
    identifier: str


# a properties file that declares sources has a top-level ``sources:`` key (block or flow style, quoted or not);
# the others (model docs and tests, 90% of the project's YAML) are not parsed: reading all 19 files cost 1-2 s a run
_DECLARES_SOURCES = re.compile(r"""^(?:\{\s*)?["']?sources["']?\s*:""", re.MULTILINE)


def source_relations(project: Path | None = None) -> list[SourceRelation]:
    """Every source the project's ``sources:`` files declare (read from the YAML: no dbt parse needed)."""
    found = []
    for path in sorted((project or dbt_build.dbt_project_dir()).joinpath("models").rglob("*.yml")):
        if not _DECLARES_SOURCES.search(path.read_text(encoding="utf-8", errors="replace")):
            continue
        doc = read_yaml_mapping(path, "dbt properties file", "'version' and 'sources' or 'models'")
        for source in doc.get("sources") or []:
            for table in source.get("tables") or []:
                found.append(SourceRelation(f"{source['name']}.{table['name']}", source.get("schema", source["name"]),
                                            table.get("identifier", table["name"])))
    return found


def fingerprints(wh: Warehouse, sources: list[SourceRelation]) -> dict[str, str]:
    """Each source's fingerprint (see the module's docstring); identifiers are the project's, quoted."""
    with wh.connect() as con:
        present = {(s, t) for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables").fetchall()}
        batches = {t: "/".join(map(str, rest)) for t, *rest in con.execute(
            "select platform || '__' || entity, count(*), max(loaded_at), sum(rows_loaded), "
            "count(distinct batch_id) from ledger.batches group by 1").fetchall()}
        tombstones = {t: str(n) for t, n in con.execute(
            "select b.platform || '__' || t.entity, count(*) from ledger.tombstones t "
            "left join ledger.batches b on b.batch_id = t.batch_id group by 1").fetchall()}
        out: dict[str, str] = {}
        for s in sources:
            if (s.schema, s.identifier) not in present:
                out[s.source] = "absent"
            elif s.schema in _HASHED_SCHEMAS:
                out[s.source] = _content_hash(con, s)
            else:
                rows = con.execute(f"select count(*) from {_q(s.schema)}.{_q(s.identifier)}").fetchone()[0]
                out[s.source] = f"rows {rows}; batches {batches.get(s.identifier, '-')}; " \
                                f"tombstones {tombstones.get(s.identifier, '0')}"
    return out


def _content_hash(con, s: SourceRelation) -> str:
    """Row count and an order-independent sum of row hashes (DuckDB's ``hash``, PostgreSQL's ``md5``)."""
    relation = f"{_q(s.schema)}.{_q(s.identifier)}"
    if getattr(con, "dialect", "duckdb") == "postgres":
        cur = con.raw.execute(f"select count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)"
                              f"::bigint), 0)::text from {relation} as t")
        n, total = cur.fetchone()
    else:
        n, total = con.execute(f"select count(*), coalesce(sum(hash(t)::hugeint), 0)::varchar "
                               f"from {relation} as t").fetchone()
    return f"rows {n}; hash {total}"


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def time_dependent(manifest) -> set[str]:
    """The names of the parsed project's nodes that read the run's time or id (``rebuild.clock_readers``)."""
    nodes = {uid: CodeUnit(n.name, getattr(n, "raw_code", "") or "", tuple(n.depends_on.macros))
             for uid, n in manifest.nodes.items() if n.resource_type.value in ("model", "test", "seed", "snapshot")}
    macros = {uid: CodeUnit(m.name, m.macro_sql or "", tuple(m.depends_on.macros))
              for uid, m in manifest.macros.items() if m.package_name == "steward"}
    return clock_readers(nodes, macros)


def governed_build(wh: Warehouse, work_dir: Path, dbt_vars: dict, run_id: str | None,
                   exclude: list[str] | None = None, full_refresh: bool = False) -> dbt_build.BuildOutcome:
    """The governance run's ``dbt build`` (data tests, no unit tests), of only what changed since the last complete
    build; the outcome's ``note`` says what was rebuilt and why."""
    warehouse, settings = wh.path, wh.settings
    with wh.pinned():  # one open of the DuckDB file for the reads and the write before dbt opens it
        dbt_build._ensure_raw_tables(warehouse)  # noqa: SLF001 - the fingerprints read every raw table
        key, prints, previous = _read_state(wh, dbt_vars)
        ledger.forget_build_state(wh)  # until this build completes, nothing is vouched for
        vouched = vouched_tests(previous, key, full_refresh)
        if vouched:
            ledger.vouch_tests(wh, vouched)
    planned = _plan(wh, work_dir, dbt_vars, key, prints, previous, exclude, full_refresh)
    plan, manifest = planned.rebuild, planned.manifest
    try:
        if plan.select == []:
            outcome = dbt_build.BuildOutcome()
        else:
            outcome = dbt_build._invoke(  # noqa: SLF001 - build() would forget the state this function keeps
                "build", warehouse, work_dir, {**dbt_vars, **({"per_key_vouched": True} if vouched else {})},
                plan.select, [*(exclude or []), "test_type:unit"],
                plan.full_refresh, settings, indirect_selection="eager", manifest=manifest)
    finally:
        if vouched:
            ledger.vouch_tests(wh, [])  # only this build's dbt reads them
    total = _model_count(manifest) if manifest is not None else outcome.models
    outcome = _with_carried(outcome, previous if plan.select is not None else None, manifest, exclude or [])
    outcome.note = _note(plan, outcome.models, total)
    if not exclude:
        ledger.save_build_state(wh, BuildState(run_id or "-", planned.key, planned.fingerprints,
                                               tuple(outcome.skipped),
                                               tuple(_results(outcome))))
    return outcome


@dataclass(frozen=True)
class Planned:
    """A governance build's scope and what it was decided from."""

    rebuild: Rebuild
    key: str
    fingerprints: dict[str, str]
    previous: BuildState | None
    manifest: object | None  # dbt's parse, when the scope needed it


def plan_build(wh: Warehouse, work_dir: Path, dbt_vars: dict, exclude: list[str] | None = None,
               full_refresh: bool = False) -> Planned:
    """What this run's build must rebuild (no build): compares the sources and the project with the stored state
    and, when they are comparable, reads the time-dependent nodes from dbt's parse (parsing first if needed)."""
    with wh.pinned():
        key, prints, previous = _read_state(wh, dbt_vars)
    return _plan(wh, work_dir, dbt_vars, key, prints, previous, exclude, full_refresh)


def _read_state(wh: Warehouse, dbt_vars: dict) -> tuple[str, dict[str, str], BuildState | None]:
    return build_key(wh, dbt_vars), fingerprints(wh, source_relations()), ledger.load_build_state(wh)


def _plan(wh: Warehouse, work_dir: Path, dbt_vars: dict, key: str, prints: dict[str, str],
          previous: BuildState | None, exclude: list[str] | None, full_refresh: bool) -> Planned:
    manifest = None
    if previous is not None and previous.project_key == key and not full_refresh:
        manifest = dbt_build.parse(wh.path, work_dir, dbt_vars, wh.settings)
    plan = plan_rebuild(previous, key, prints, time_dependent(manifest) if manifest is not None else (),
                        _known_sources(manifest), exclude or [], full_refresh)
    return Planned(plan, key, prints, previous, manifest)


def build_key(wh: Warehouse, dbt_vars: dict) -> str:
    """What decides whether an earlier build is comparable: the project's files, dbt's and the adapter's versions
    and every var but ``as_of``/``run_id`` (``parsed.parse_key``), the adapter, and Steward's version. Not the
    warehouse's path or DuckDB's resource settings: a copied warehouse folder keeps its state."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="steward-key-") as folder:
        Path(folder, "profiles.yml").write_text(f"adapter: {'postgres' if wh.is_postgres else 'duckdb'}\n")
        key = parsed.parse_key(dbt_build.dbt_project_dir(), Path(folder), dbt_vars, compile_vars=True)
        code = parsed.parse_key(dbt_build.dbt_project_dir(), Path(folder), {})  # the same without the policy's vars
    return f"{key}{CODE_MARK}{code}-steward-{_steward_version()}"


def _steward_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("steward")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "-"


def _known_sources(manifest) -> list[str]:
    if manifest is None:
        return []
    return [f"{s.source_name}.{s.name}" for s in manifest.sources.values()]


def _model_count(manifest) -> int:
    return sum(1 for n in manifest.nodes.values() if n.resource_type.value == "model")


def _with_carried(outcome: dbt_build.BuildOutcome, previous: BuildState | None, manifest,
                  exclude: list[str]) -> dbt_build.BuildOutcome:
    """This build's test results plus the stored ones of the tests it did not run (still in the project), except
    the tests of what ``exclude`` left out: not evaluated this run, as their marts' checks are not."""
    if previous is None or manifest is None:
        return outcome
    left_out = _left_out(manifest, exclude)
    tests = [uid for uid, n in manifest.nodes.items() if n.resource_type.value == "test" and uid not in left_out]
    carried = carried_results(previous, outcome.test_status, tests)
    status = dict(outcome.test_status)
    failures = list(outcome.test_failures)
    for t in carried:
        status[t.unique_id] = t.status
        if t.status in ("fail", "warn", "error"):
            failures.append(dbt_build.TestFailure(t.test, t.model, t.failures, t.severity, t.message, t.unique_id))
    passed = sum(1 for uid, s in status.items() if s == "pass" and uid not in outcome.test_status)
    return replace(outcome, test_failures=failures, test_status=status,
                   tests_passed=outcome.tests_passed + passed)


def _left_out(manifest, exclude: list[str]) -> set[str]:
    """The unique ids of the nodes ``source:<source>.<table>+`` selectors reach (the source and what is built on
    it); the rule rebuilds everything for an exclude of another shape."""
    return descendants(manifest, [uid for e in exclude if e.startswith("source:") and e.endswith("+")
                                  for uid, s in manifest.sources.items() if f"source:{s.source_name}.{s.name}+" == e])


def descendants(manifest, start: list[str]) -> set[str]:
    """``start`` (unique ids) and every node built on them, following the parsed nodes' ``depends_on``."""
    children: dict[str, list[str]] = {}
    for uid, node in manifest.nodes.items():
        for parent in node.depends_on.nodes:
            children.setdefault(parent, []).append(uid)
    todo, seen = list(start), set(start)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _results(outcome: dbt_build.BuildOutcome) -> list[TestResult]:
    """Every data test's result, one row per failed assertion (after ``assertions.split_failures``)."""
    failed = {f.unique_id for f in outcome.test_failures}
    rows = [TestResult(uid, status) for uid, status in outcome.test_status.items() if uid not in failed]
    rows += [TestResult(f.unique_id, outcome.test_status.get(f.unique_id, "fail"), f.test, f.model, f.failures,
                        f.severity, f.message) for f in outcome.test_failures if f.unique_id]
    return rows


def _note(plan: Rebuild, built: int, total: int) -> str:
    if plan.select is None:
        return f"all models rebuilt: {plan.reason}"
    why = [f"sources changed: {', '.join(plan.changed_sources)}"] if plan.changed_sources else []
    why += [f"time-dependent: {plan.time_dependent}"] if plan.time_dependent else []
    why += [f"failed or skipped last time: {plan.retried}"] if plan.retried else []
    return f"built {built} of {total} models ({total - built} unchanged since run {plan.since}" + \
        (f": {'; '.join(why)})" if why else ")")
