"""dbt's templates compiled once, its log events built without ParseDict, its results typed by shared types
(integrations/transform/lighter.py): the same templates, messages and tables dbt would make, for less of the
interpreter lock a build's threads share."""

from __future__ import annotations

import copy

import jinja2
import pytest

from steward.contracts.policy import load_policy
from steward.integrations.transform import dbt_build, lighter
from tiny import AS_OF, tiny_warehouse

POLICY = load_policy()


@pytest.fixture
def compiles(monkeypatch):
    """The texts Jinja really compiles (what the cache did not answer)."""
    seen: list[str] = []
    original = jinja2.Environment.compile

    def counted(self, source, *args, **kwargs):
        seen.append(source)
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    lighter.install()
    yield seen
    lighter.use_template_cache(None)


def _build_two_models(tmp_path):
    """A real build of a staging model and a mart on a tiny warehouse, with their data tests."""
    wh = tiny_warehouse(tmp_path, {})
    return dbt_build.build(wh.path, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                           select=["stg_steward__batches", "gov_data_quality__landing"], unit_tests=False)


def _render(text: str, **ctx) -> str:
    from dbt_common.clients.jinja import get_template, render_template

    return render_template(get_template(text, ctx), ctx)


def test_a_template_is_compiled_once_then_answered_from_memory_and_from_the_folder(tmp_path, compiles):
    text = "{% set n = x + 1 %}{{ n }} {{ 'cache ' ~ tmp_path_name }}"
    lighter.use_template_cache(tmp_path / "jinja")
    assert _render(text, x=1, tmp_path_name=tmp_path.name) == f"2 cache {tmp_path.name}"
    assert compiles.count(text) == 1
    assert _render(text, x=41, tmp_path_name="b") == "42 cache b"  # this process's memory: not compiled again
    assert compiles.count(text) == 1
    assert any((tmp_path / "jinja").iterdir())  # Jinja's bytecode file, for the next process
    lighter._MEMO.clear()  # as a new process starts: only the folder knows it
    assert _render(text, x=2, tmp_path_name="c") == "3 cache c"
    assert compiles.count(text) == 1
    edited = text + "!"  # another text is another entry, compiled
    assert _render(edited, x=0, tmp_path_name="d") == "1 cache d!"
    assert compiles.count(edited) == 1


def test_a_damaged_cache_file_is_compiled_again(tmp_path, compiles):
    text = "{{ 6 * 7 }} damaged-file case"
    folder = tmp_path / "jinja"
    lighter.use_template_cache(folder)
    assert _render(text) == "42 damaged-file case"
    for entry in folder.iterdir():
        entry.write_bytes(b"not bytecode")
    lighter._MEMO.clear()
    assert _render(text) == "42 damaged-file case"
    assert compiles.count(text) == 2


def test_an_unwritable_cache_folder_leaves_the_memory_cache(tmp_path, compiles):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would go")
    lighter.use_template_cache(blocker / "jinja")
    assert _render("{{ 'still' }} renders") == "still renders"


def test_a_build_makes_the_log_messages_dbt_would_make_and_the_same_result(tmp_path, monkeypatch):
    """Every event of a real build whose message the constructor built equals what dbt's ParseDict builds."""
    from dbt_common.events.base_types import BaseEvent
    from google.protobuf.json_format import ParseDict

    lighter.install()
    checked: dict[str, int] = {}
    patched = BaseEvent.__init__
    assert patched is lighter._event_init

    def checking(self, *args, **kwargs):
        given = copy.deepcopy(kwargs)
        patched(self, *args, **kwargs)
        if args or "msg" in given or "base_msg" in given:
            return
        name = type(self).__name__
        assert self.pb_msg == ParseDict(given, getattr(self.PROTO_TYPES_MODULE, name)()), name
        checked[name] = checked.get(name, 0) + 1

    monkeypatch.setattr(BaseEvent, "__init__", checking)
    wh = tiny_warehouse(tmp_path, {})
    outcome = dbt_build.build(wh.path, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                              select=["stg_steward__batches"])
    assert outcome.models == 1 and not outcome.test_failures
    assert sum(checked.values()) > 20 and {"SQLQuery", "SQLQueryStatus"} <= set(checked), checked


def test_an_event_the_constructor_refuses_goes_through_dbts_own_path():
    """A field given as text where the message wants a number: dbt's path decides (under pytest it raises)."""
    from dbt.adapters.events.types import SQLQueryStatus

    lighter.install()
    with pytest.raises(Exception, match="Unable to parse logging event dictionary"):
        SQLQueryStatus(status="OK", elapsed="not a number", node_info={})
    assert SQLQueryStatus(status="OK", elapsed=0.25, node_info={}).pb_msg.elapsed == 0.25


def _manager(*callbacks):
    from dbt_common.events.event_manager import EventManager

    lighter.install()
    manager = EventManager()
    manager.callbacks = list(callbacks)
    return manager


def test_an_event_no_listener_reads_is_not_made_into_a_message_and_one_it_reads_is():
    from dbt.adapters.events.types import SQLQuery, SQLQueryStatus
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.types import Note

    got: list[str] = []

    @lighter.listens_to(frozenset({"info"}))
    def info_only(msg):
        got.append(f"{msg.info.level}:{msg.info.name}")

    manager = _manager(info_only)
    manager.fire_event(SQLQuery(conn_name="c", sql="select 1", node_info={}))  # debug: nobody reads it
    manager.fire_event(SQLQueryStatus(status="OK", elapsed=0.1, node_info={}))
    assert got == []
    manager.fire_event(Note(msg="hello"), level=EventLevel.INFO)  # a level given at the call, as dbt's info()
    assert got == ["info:Note"]

    everything: list[str] = []  # a callback Steward does not know gets every event, as from dbt
    manager = _manager(info_only, lambda msg: everything.append(msg.info.name))
    manager.fire_event(SQLQuery(conn_name="c", sql="select 1", node_info={}))
    assert everything == ["SQLQuery"] and got == ["info:Note", "debug:SQLQuery"]


def test_warnings_dbt_must_police_and_loggers_still_get_dbts_own_path():
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.types import Note
    from dbt_common.exceptions import EventCompilationError

    manager = _manager()
    manager.require_warn_or_error_handling, manager.warn_error = True, True  # dbt build --warn-error
    with pytest.raises(EventCompilationError):
        manager.fire_event(Note(msg="a warning nobody listens to"), level=EventLevel.WARN)
    manager.require_warn_or_error_handling = False
    manager.fire_event(Note(msg="a warning nobody listens to"), level=EventLevel.WARN)  # no one: dropped

    lines: list[str] = []

    class Logger:  # what dbt's file and console loggers answer
        def filter(self, msg):
            return True

        def write_line(self, msg):
            lines.append(msg.info.msg)

    manager.loggers = [Logger()]
    manager.fire_event(Note(msg="to the log file"), level=EventLevel.DEBUG)
    assert lines == ["to the log file"]


def test_a_quiet_build_makes_no_log_message_and_a_verbose_one_only_the_lines_it_echoes(tmp_path, monkeypatch,
                                                                                       capfd):
    from dbt_common.events import event_manager

    lighter.install()
    made: list[str] = []
    original = event_manager.msg_from_base_event

    def counted(event, level=None):
        msg = original(event, level=level)
        made.append(msg.info.level)
        return msg

    monkeypatch.setattr(event_manager, "msg_from_base_event", counted)
    wh = tiny_warehouse(tmp_path, {})
    dbt_vars = {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()}
    monkeypatch.setenv("STEWARD_DBT_LOG_LEVEL", "none")
    outcome = dbt_build.build(wh.path, tmp_path / "dbt", dbt_vars, select=["stg_steward__batches"])
    assert outcome.models == 1 and not outcome.test_failures
    assert made == [], made[0]
    monkeypatch.setenv("STEWARD_DBT_LOG_LEVEL", "info")
    outcome = dbt_build.build(wh.path, tmp_path / "dbt", dbt_vars, select=["stg_steward__batches"])
    assert outcome.models == 1 and not outcome.test_failures
    assert made and set(made) <= {"info", "warn", "error"}, made
    assert "OK created" in capfd.readouterr().err  # the node line the echo prints


def _same_member(a, b) -> bool:
    """Two context members alike: the same macro in a generator bound to the same context and node, or the same
    names so in a package's namespace, or the very same object."""
    from dbt.clients.jinja import MacroGenerator

    if isinstance(a, MacroGenerator):
        return (type(a) is type(b) and a.macro is b.macro and a.context is b.context and a.node is b.node
                and a.stack is b.stack
                and vars(a).keys() == vars(b).keys())
    if isinstance(a, dict) and a and all(isinstance(v, MacroGenerator) for v in a.values()):
        return a.keys() == b.keys() and all(_same_member(a[k], b[k]) for k in a)
    return a is b


def test_every_context_a_build_makes_has_the_macros_dbts_own_lookup_gives(tmp_path, monkeypatch):
    """Each node's context as dbt's own builder and ``MacroNamespace`` lookup make it: every name, every macro,
    each package's namespace, the adapter packages' order; checked on every context of a real build."""
    from dbt.context.manifest import ManifestContext

    lighter.install()
    fast = ManifestContext.to_dict
    assert fast is lighter._context_to_dict
    checked = []

    def checking(self):
        made = fast(self)
        builder = self._get_namespace_builder()
        namespace = lighter._ORIGINAL_BUILD_NAMESPACE(builder, self.manifest.get_macros_by_package(), made)
        expected = {name: namespace[name] for name in namespace}  # dbt's lookup, name by name
        assert expected.keys() <= made.keys(), sorted(expected.keys() - made.keys())[:5]
        wrong = [name for name in expected if not _same_member(made[name], expected[name])]
        assert not wrong, wrong[:5]
        for part in ("local_namespace", "global_namespace", "global_project_namespace", "packages"):
            ours, theirs = getattr(self.namespace, part), getattr(namespace, part)
            assert ours.keys() == theirs.keys(), part
            assert all(_same_member(ours[k], theirs[k]) for k in ours), part
        checked.append(len(expected))
        return made

    monkeypatch.setattr(ManifestContext, "to_dict", checking)
    outcome = _build_two_models(tmp_path)
    assert outcome.models >= 1 and not outcome.test_failures
    assert len(checked) >= 4 and min(checked) > 500, checked  # dbt's, the adapter's and Steward's macros


def test_a_build_paces_the_collector_and_gives_the_process_its_own_back(tmp_path, monkeypatch):
    import gc

    seen = []
    from dbt.cli.main import dbtRunner

    invoke = dbtRunner.invoke

    def watching(self, args, **kwargs):
        seen.append(gc.get_threshold())
        return invoke(self, args, **kwargs)

    monkeypatch.setattr(dbtRunner, "invoke", watching)
    own = gc.get_threshold()
    wh = tiny_warehouse(tmp_path, {})
    try:
        gc.set_threshold(700, 10, 10)  # CPython's defaults, as in a process that set nothing
        dbt_build.build(wh.path, tmp_path / "dbt", {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()},
                        select=["stg_steward__batches"], unit_tests=False)
        assert seen == [lighter._BUILD_THRESHOLDS]
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(50_000, 5, 50)  # a process's own higher setting stays where higher
        with lighter.collector_during_build():
            assert gc.get_threshold() == (50_000, 20, 50)
            with lighter.collector_during_build():  # nested: one setting
                assert gc.get_threshold() == (50_000, 20, 50)
            assert gc.get_threshold() == (50_000, 20, 50)
        assert gc.get_threshold() == (50_000, 5, 50)
    finally:
        gc.set_threshold(*own)


def test_query_results_are_typed_as_dbts_own_tester_types_them_without_new_date_parsers(tmp_path, monkeypatch):
    """Every result a real build fetches (its data tests' counts, its column listings) becomes the table dbt's own
    type tester makes of it: the same column types and values; and once the shared types exist, no result builds
    parsedatetime's locale constants again (dbt built two per result)."""
    import threading

    import agate
    import parsedatetime
    from dbt_common.clients import agate_helper

    lighter.install()
    assert agate_helper.build_type_tester is lighter._build_type_tester
    assert agate_helper.empty_table is lighter._empty_table
    empty = agate_helper.empty_table()
    assert (empty.column_names, empty.column_types, len(empty.rows)) == ((), (), 0)
    own = lighter._build_type_tester._original
    agate_helper.table_from_data_flat([{"n": 1, "s": "x"}], ["n", "s"])  # the shared types made, if not yet
    made, comparing = [], threading.local()  # constants the build made; the comparison's own are not counted
    constants_init = parsedatetime.Constants.__init__

    def counted(self, *args, **kwargs):
        if not getattr(comparing, "on", False):
            made.append(threading.current_thread().name)
        constants_init(self, *args, **kwargs)

    monkeypatch.setattr(parsedatetime.Constants, "__init__", counted)
    rows_into_table = agate_helper.table_from_rows
    checked = []

    def checking(rows, column_names, text_only_columns=None):
        table = rows_into_table(rows, column_names, text_only_columns)
        comparing.on = True
        try:
            dbts = agate.Table(rows, column_names, column_types=agate_helper.DEFAULT_TYPE_TESTER
                               if text_only_columns is None else own(text_only_columns, string_null_values=()))
        finally:
            comparing.on = False
        assert [type(t) for t in table.column_types] == [type(t) for t in dbts.column_types], column_names
        assert [list(r) for r in table.rows] == [list(r) for r in dbts.rows], column_names
        checked.append(tuple(column_names))
        return table

    monkeypatch.setattr(agate_helper, "table_from_rows", checking)
    outcome = _build_two_models(tmp_path)
    assert outcome.models >= 1 and outcome.tests_passed and not outcome.test_failures
    assert len(checked) >= outcome.tests_passed, checked  # each data test's result, at least
    assert made == []
