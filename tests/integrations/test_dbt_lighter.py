"""dbt's templates compiled once and its log events built without ParseDict (integrations/transform/lighter.py):
the same templates and messages dbt would make, for less of the interpreter lock a build's threads share."""

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
