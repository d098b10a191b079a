"""A file audit's command line parsed from its typer declaration (flows/cli/audit/_argv.py) reads as typer reads it.

The reference is typer itself: a stand-in command with the audit command's own signature, run by typer, records the
keyword arguments typer calls it with. For every command line, generated or written out, the lean parse either
declines (typer then parses: help and errors stay typer's) or returns exactly those arguments, types included (a
``Path`` where typer gives a ``Path``, ``60.0`` not ``60``). It must not decline the command lines people type.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from steward.flows.cli.audit._argv import _spec, parse_command_line
from steward.flows.cli.audit.bias import bias
from steward.flows.cli.audit.frequency import frequency
from steward.flows.cli.audit.quality import quality

COMMANDS = {"bias": bias, "frequency": frequency, "quality": quality}
_apps: dict[str, typer.Typer] = {}
_seen: dict[str, dict] = {}


def _reference_app(name: str) -> typer.Typer:
    """One typer app per command whose function has the command's signature and records what typer passes."""
    if name not in _apps:
        func = COMMANDS[name]

        def record(**kwargs: typing.Any) -> None:
            _seen[name] = kwargs

        record.__signature__ = inspect.signature(func, eval_str=True)  # type: ignore[attr-defined]
        record.__annotations__ = typing.get_type_hints(func)
        app = typer.Typer()
        app.command()(record)
        _apps[name] = app
    return _apps[name]


def typer_parse(name: str, args: list[str]) -> dict | None:
    """The keyword arguments typer calls the command with, or None when it refuses the command line."""
    _seen.pop(name, None)
    res = CliRunner().invoke(_reference_app(name), args)
    return _seen.get(name) if res.exit_code == 0 else None


def typed(value: typing.Any) -> typing.Any:
    """Values with their types, so 60 and 60.0, or 'x' and Path('x'), do not compare equal."""
    if isinstance(value, list):
        return ["list", [typed(v) for v in value]]
    return [type(value).__name__, value]


def same_as_typer(name: str, args: list[str]) -> dict | None:
    lean = parse_command_line(COMMANDS[name], args)
    if lean is not None:
        want = typer_parse(name, args)
        assert want is not None, f"typer refuses {args} but the lean parse accepted it: {lean}"
        assert {k: typed(v) for k, v in lean.items()} == {k: typed(v) for k, v in want.items()}, args
    return lean


TYPED = {
    "bias": [["d.parquet", "--group", "age_band", "--group", "sex", "--score", "score", "--cutoff", "60",
              "--outcome", "outcome", "--json"],
             ["d.csv", "-g", "segment", "--decision", "decision", "--positive", "approved", "--positive", "ok",
              "--adverse", "--no-proxies", "--reference", "B", "--min-group-size", "0", "--fail-on", "critical"],
             ["--where", "age >= 18 and region = 'EU'", "--bin=age=18,25,35", "-g", "age", "--score=s",
              "--cutoff=-2.5", "--direction", "below", "--input", "a,b", "--inputs", "c", "x.json", "--intersect",
              "--html", "out.html", "--policy", "p.yaml", "--outcome-positive", "yes", "--table", "main.t"],
             ["d.csv", "--group", "g", "--score", "s", "--cutoff", "1", "--cutoff", "2", "--proxies",
              "--no-proxies", "--proxies"],
             ["--group", "g", "--decision", "d", "--", "-odd-name.csv"]],
    "frequency": [["t.parquet", "--person", "pid", "--at", "ts", "--window", "month", "--cap", "4", "-g", "age"],
                  ["t.csv", "--person", "pid", "--count", "n", "--json", "--fail-on", "never", "--bin", "age=18"]],
    "quality": [["t.csv", "--key", "id", "--range", "age=0..120", "--json"],
                ["t.parquet", "--where", "x > 1", "--html", "q.html", "--policy", "p.yaml", "--table", "main.t"]],
}


@pytest.mark.parametrize("name, args", [(n, a) for n, lines in TYPED.items() for a in lines])
def test_the_command_lines_people_type_are_read_as_typer_reads_them(name, args):
    assert same_as_typer(name, args) is not None, f"declined {args}: typer would parse it"


REFUSED = [["--help"], ["d.csv", "--help"], [], ["d.csv"], ["d.csv", "--group"], ["d.csv", "--group", "g", "x.csv"],
           ["d.csv", "--group", "g", "--cutof", "60"], ["d.csv", "-g", "g", "--min-group-size", "-1"],
           ["d.csv", "-g", "g", "--json=1"], ["d.csv", "-gg"], ["d.csv", "-g=g"], ["d.csv", "-g", "g", "--cutoff",
                                                                                       "1e3"],
           ["d.csv", "-g", "g", "--cutoff", "nan"], ["", "-g", "g"], ["d.csv", "-g", "g", "--cutoff", " 6"]]


@pytest.mark.parametrize("args", REFUSED)
def test_help_errors_and_unusual_spellings_are_left_to_typer(args):
    """Help, every usage error, and spellings whose reading is typer's call (1e3, ' 6', -gVALUE) are declined."""
    assert parse_command_line(bias, args) is None


def test_shell_completion_is_left_to_typer(monkeypatch):
    monkeypatch.setenv("_STEWARD_COMPLETE", "bash_complete")
    assert parse_command_line(bias, TYPED["bias"][0]) is None


def test_a_declaration_it_does_not_read_sends_the_command_to_typer():
    """An option with a feature typer alone applies (here an environment variable) makes the whole command typer's:
    a new option never changes what a command line means."""
    def command(source: Path = typer.Argument(...), n: int = typer.Option(1, envvar="N")) -> None:
        """stand-in"""

    def plain(source: Path = typer.Argument(...), n: int = typer.Option(1, min=0)) -> None:
        """stand-in"""

    assert _spec(command) is None
    assert parse_command_line(plain, ["x", "--n", "3"]) == {"source": Path("x"), "n": 3}


_VALUES = ["age_band", "sex", "60", "0", "-1", "007", "-0", "12.5", "1e3", ".5", "5.", " 7", "nan", "inf", "1_0", "",
           "x.csv", "a=b", "--json", "-g", "--", "-", "é", "dir/f.parquet", "ABOVE", "critical", "True"]


def _words(name: str) -> st.SearchStrategy[list[str]]:
    spec = _spec(COMMANDS[name])
    assert spec is not None
    spellings = sorted(spec.options)
    word = st.one_of(st.sampled_from(spellings), st.sampled_from(_VALUES),
                     st.builds(lambda o, v: f"{o}={v}", st.sampled_from(spellings), st.sampled_from(_VALUES)),
                     st.sampled_from(["--help", "--nope", "-x", "-gx", "--no-json"]))
    return st.lists(word, max_size=12)


def _plausible(name: str) -> st.SearchStrategy[list[str]]:
    """Mostly well-formed command lines: the required parts, then options each followed by a value from the pool."""
    spec = _spec(COMMANDS[name])
    assert spec is not None
    required = {"bias": ["--group", "g"], "frequency": ["--person", "p"], "quality": []}[name]
    pair = st.sampled_from(sorted(spec.options)).flatmap(
        lambda o: st.just([o]) if spec.options[o].flags else st.sampled_from(_VALUES).map(lambda v: [o, v]))
    return st.builds(lambda src, pairs, pos: [*required, *(w for p in pairs for w in p)][:pos] + [src]
                     + [*required, *(w for p in pairs for w in p)][pos:],
                     st.sampled_from(["d.csv", "t.parquet", "", "-", "x"]), st.lists(pair, max_size=6),
                     st.integers(0, 14))


@pytest.mark.parametrize("name", list(COMMANDS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_command_line_is_read_as_typer_reads_it_or_left_to_typer(name, data):
    args = data.draw(st.one_of(_words(name), _plausible(name)))
    same_as_typer(name, args)
