"""Which part of the dbt project a governance run must rebuild: the rule, without I/O.

A governance build is a function of three things: the project (its files, dbt's and the adapter's versions, the
policy's vars), the sources it reads, and the run's time (``as_of``, ``run_id``). After a complete build the first
two are stored (``BuildState``). The next run rebuilds

- everything, when there is no stored state, the project differs or ``--full-refresh`` is asked;
- otherwise what reads a source whose fingerprint changed (``source:<s>+``), every node that reads the run's time
  and what is built on it (``<node>+``), and what did not pass last time (failed, erroring or skipped nodes).

A refused source (``exclude``, ``source:<s>+`` from the drift gate) is left out of either: its part keeps its tables
and its tests are not evaluated. Such a run is not complete, so it stores no state and the run after it builds
everything. An exclude of another shape rebuilds everything but it (its reach is dbt's to compute).

Every other model keeps its table and every other data test its stored result, which is what a whole rebuild would
have given: same project, same sources, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

__all__ = ["TestResult", "BuildState", "Rebuild", "CodeUnit", "plan_rebuild", "carried_results", "clock_readers",
           "RERUN_STATUSES", "without_comments", "code_changed", "CODE_MARK", "vouched_tests"]

RERUN_STATUSES = ("fail", "warn", "error", "skipped")  # a test in one of these is run again by the next build

# What in a node's or macro's code reads the run's time or id: Steward's own macros (by name, so a macro calling
# them is caught too), the vars, and the database's and dbt's clocks.
_CLOCK = re.compile(r"\b(?:as_of|as_of_date)\s*\(|\bvar\s*\(\s*['\"](?:as_of|run_id)['\"]|\bnow\s*\(|"
                    r"\bcurrent_(?:date|timestamp|time)\b|\brun_started_at\b|\binvocation_id\b|"
                    r"\bmodules\.datetime\b|\bget_current_timestamp\b|\bsysdate\b|\bgetdate\s*\(",
                    re.IGNORECASE)


@dataclass(frozen=True)
class TestResult:
    """One data test's result in a build; a test that fails several assertions has one row per assertion."""

    __test__ = False  # not a pytest class
    unique_id: str
    status: str  # dbt's: pass, fail, warn, error, skipped
    test: str = ""
    model: str | None = None
    failures: int = 0
    severity: str = "error"
    message: str = ""


@dataclass(frozen=True)
class BuildState:
    """What the last complete governance build was built from, and what its data tests said."""

    run_id: str
    project_key: str
    fingerprints: Mapping[str, str]  # "<source>.<table>" -> fingerprint
    skipped: tuple[str, ...] = ()  # models dbt skipped (an upstream test of error severity failed)
    tests: tuple[TestResult, ...] = ()


@dataclass(frozen=True)
class Rebuild:
    """A build's scope: ``select`` None is the whole project, [] is nothing (dbt is not invoked)."""

    select: list[str] | None
    reason: str  # why the whole project, or what changed
    since: str | None = None  # the run whose build the rest is kept from
    changed_sources: list[str] = field(default_factory=list)
    time_dependent: int = 0
    retried: int = 0
    # rebuild the incremental models from all of raw too: asked (--full-refresh), or the project's code changed since
    # the tables were built (an incremental model keeps rows its old SQL or macros computed otherwise)
    full_refresh: bool = False


@dataclass(frozen=True)
class CodeUnit:
    """A dbt node or macro as the rule needs it: its name, its code, the macros it calls (dbt's unique ids)."""

    name: str
    code: str
    macros: tuple[str, ...] = ()


def plan_rebuild(previous: BuildState | None, project_key: str, fingerprints: Mapping[str, str],
                 clock_nodes: Iterable[str], known_sources: Iterable[str], exclude: Iterable[str] = (),
                 full_refresh: bool = False) -> Rebuild:
    """The scope of this run's build (see the module's docstring). ``known_sources`` are the sources the parsed
    project reads (a source whose models are disabled gets no selector); ``clock_nodes`` from ``clock_readers``."""
    everything = _why_everything(previous, project_key, exclude, full_refresh)
    if everything or previous is None:
        return Rebuild(None, everything or "no earlier build",
                       full_refresh=full_refresh or code_changed(previous, project_key))
    known = set(known_sources)
    changed = sorted(s for s, fp in fingerprints.items() if s in known and previous.fingerprints.get(s) != fp)
    clock = sorted(set(clock_nodes))
    retry = sorted({_test_name(t) for t in previous.tests if t.status in RERUN_STATUSES})
    select = [f"source:{s}+" for s in changed] + [f"{n}+" for n in clock] + \
        [f"{m}+" for m in previous.skipped] + retry
    return Rebuild(select, "changed since the last build", previous.run_id, changed, len(clock),
                   len(retry) + len(previous.skipped))


def _why_everything(previous: BuildState | None, project_key: str, exclude: Iterable[str],
                    full_refresh: bool) -> str:
    if full_refresh:
        return "--full-refresh"
    if any(not _SOURCE_AND_DESCENDANTS.fullmatch(e) for e in exclude):
        return "a source was left out (breaking schema drift)"  # not a selector whose reach the planner knows
    if previous is None:
        return "no earlier complete build"
    if code_changed(previous, project_key):
        return "the project's code or Steward's version changed since the last build (incremental models too)"
    if previous.project_key != project_key:
        return "the project, policy or dbt version changed since the last build"
    return ""


# what the drift gate leaves out of a build: a refused raw table and everything built on it (integrations/transform/
# drift_gate.py). With only these left out, the rest is planned as usual: the left-out part keeps its tables, and
# the stored results of its tests are not carried (changes.governed_build drops them: not evaluated this run).
_SOURCE_AND_DESCENDANTS = re.compile(r"source:[A-Za-z0-9_]+\.[A-Za-z0-9_]+\+")

CODE_MARK = "-code-"  # a project key is "<parse key>-code-<code key>-steward-<version>" (changes.build_key)


def code_changed(previous: BuildState | None, project_key: str) -> bool:
    """Whether the code the warehouse's tables were built with differs from this run's: the project's files (models
    and macros), dbt's and the adapter's versions, or Steward's version -- not the policy's vars. An incremental
    model notices a change of its own SQL, not of a macro it calls, so such a change rebuilds every table from all
    of raw (a full refresh), as a user upgrading Steward would otherwise have to remember to ask. A key of another
    shape (an older Steward's) counts as changed."""
    if previous is None:
        return False
    return _code_part(previous.project_key) != _code_part(project_key)


def _code_part(key: str) -> str | None:
    return key.split(CODE_MARK, 1)[1] if CODE_MARK in key else None


def _test_name(result: TestResult) -> str:
    """dbt's node name of a test: the last part of its unique id (``test.steward.<name>.<hash>``)."""
    parts = result.unique_id.split(".")
    return parts[2] if len(parts) >= 4 else parts[-1]


def carried_results(previous: BuildState | None, ran: Iterable[str], in_project: Iterable[str]) -> list[TestResult]:
    """The stored results of the tests this build did not run, for tests still in the project."""
    if previous is None:
        return []
    ran_ids, present = set(ran), set(in_project)
    return [t for t in previous.tests if t.unique_id not in ran_ids and t.unique_id in present]


_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def without_comments(code: str) -> str:
    """``code`` without its Jinja (``{# #}``), block (``/* */``) and line (``--``) comments, so a comment saying
    "yes now (...)" does not make a model a clock reader and rebuild it every run. A ``--`` inside a quoted string
    (an odd number of quotes before it on its line) is code, and the rest of its line is kept: when in doubt, a
    node is read as a clock reader (rebuilt), never skipped."""
    code = _BLOCK_COMMENT.sub(" ", _JINJA_COMMENT.sub(" ", code))
    lines = []
    for line in code.splitlines():
        at = line.find("--")
        while at != -1 and line[:at].count("'") % 2:
            at = line.find("--", at + 2)
        lines.append(line if at == -1 else line[:at])
    return "\n".join(lines)


def clock_readers(nodes: Mapping[str, CodeUnit], macros: Mapping[str, CodeUnit]) -> set[str]:
    """The names of the nodes whose SQL depends on the run's time or id: their code (comments aside) reads a clock,
    or they call (through any chain of macros) a macro that does. A dispatched macro (``<adapter>__name``) that
    reads a clock makes ``name`` a reader too: ``adapter.dispatch`` calls it by a string dbt does not record."""
    nodes = {uid: CodeUnit(n.name, without_comments(n.code), n.macros) for uid, n in nodes.items()}
    macros = {uid: CodeUnit(m.name, without_comments(m.code), m.macros) for uid, m in macros.items()}
    reading = {uid for uid, m in macros.items() if _CLOCK.search(m.code)}
    while True:
        names = {macros[uid].name for uid in reading}
        names |= {n.split("__", 1)[1] for n in names if "__" in n}
        called = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names))) + r")\s*\(") if names else None
        more = {uid for uid, m in macros.items() if uid not in reading and (
            any(d in reading for d in m.macros) or m.name in names
            or (called is not None and called.search(m.code)))}
        if not more:
            break
        reading |= more
    names = {macros[uid].name for uid in reading}
    called = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names))) + r")\s*\(") if names else None
    return {n.name for n in nodes.values()
            if _CLOCK.search(n.code) or any(d in reading for d in n.macros)
            or (called is not None and called.search(n.code))}


def vouched_tests(previous: BuildState | None, key: str, full_refresh: bool) -> list[str]:
    """The data tests this build may limit to the rows a per-key model recomputes (dbt_project/macros/
    per_key_tests.sql): those that passed in the last complete governance build of the same project and vars. None
    after a ``--full-refresh`` (every row is new), with no stored build (never built, or a build outside a governance
    run since, which forgets it) or after a change of the project (a changed test must read every row once)."""
    if full_refresh or previous is None or previous.project_key != key:
        return []
    failed = {t.unique_id for t in previous.tests if t.status != "pass"}
    return [t.unique_id for t in previous.tests if t.status == "pass" and t.unique_id not in failed]
