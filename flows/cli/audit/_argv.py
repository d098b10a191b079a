"""A file audit's command line read straight from its typer declaration, without building the typer app.

Why: typer (0.29) builds a pydantic ``TypeAdapter`` for every parameter of a command when it parses a command line:
with the app around them about 0.018 s of CPU for the bias audit's 22 options against 0.003 s here, on a 721k-row
audit of about 0.5 s that must come within 2x of a hand-written DuckDB query (issue #15). Most command lines need
none of it: a few options, each a plain string, path or number.

What it reads is the one declaration typer reads: the command function's signature, its ``typer.Option`` /
``typer.Argument`` defaults and its type hints. Nothing is declared twice, and an option added to a command is parsed
here the moment it is declared, or (when it uses a feature this module does not read: an envvar, a callback, a
prompt, a path check, ...) sends the whole command to typer.

``parse_command_line`` returns the keyword arguments typer would call the function with, or None when typer must
parse: ``--help``, shell completion, an unknown, misspelt or valueless option, a missing or extra argument, a value
whose conversion could differ from typer's (a number spelt other than ``-12.5``, an empty path, ``-gVALUE``). The
caller then runs the typer app, which prints the help or the usage error it always printed, with its exit code:
help and errors stay typer's by construction. tests/flows/test_cli_audit_argv.py holds the answers equal to typer's
own parse, types included, on written and generated command lines.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any, Callable, NamedTuple, NoReturn, Union, get_args, get_origin, get_type_hints

__all__ = ["parse_command_line", "run_parsed"]

# a number typer (pydantic, lax mode) reads as Python does; any other spelling (1e3, .5, 1_000, ' 7', nan) goes to
# typer, which accepts or refuses it in its own words
_INT = re.compile(r"-?[0-9]{1,18}")
_FLOAT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")
_SCALARS = (str, Path, int, float, bool)
# what a declaration may set and still be read here: the rest (callbacks, envvars, prompts, parsers, path checks,
# counts, ...) is typer's to apply
_READ = frozenset({"default", "param_decls", "help", "show_default", "show_choices", "show_envvar", "hidden",
                   "rich_help_panel", "metavar", "min", "max", "case_sensitive"})
_NOT_GIVEN = object()


class _Param:
    """One parameter as typer builds it: its python name, type (one of ``_SCALARS``), whether it repeats, its
    default (``...`` = required), bounds, and for a flag the value each spelling sets. (A plain class: a dataclass
    costs a file audit's start-up more than this whole module's parse.)"""

    __slots__ = ("name", "kind", "multiple", "default", "low", "high", "flags")

    def __init__(self, name: str, kind: type, multiple: bool, default: Any, low: float | None = None,
                 high: float | None = None, flags: tuple[tuple[str, bool], ...] = ()) -> None:
        self.name, self.kind, self.multiple, self.default = name, kind, multiple, default
        self.low, self.high, self.flags = low, high, flags

    def convert(self, raw: str) -> Any:
        """The value typer would pass, or ``_NOT_GIVEN`` when its conversion might differ (typer then decides)."""
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:  # an undecodable byte in argv: typer's string handling decides
            return _NOT_GIVEN
        if self.kind is str:
            return raw
        if self.kind is Path:
            return Path(raw) if raw and "\x00" not in raw else _NOT_GIVEN
        pattern, number = (_INT, int) if self.kind is int else (_FLOAT, float)
        if not pattern.fullmatch(raw):
            return _NOT_GIVEN
        value = number(raw)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            return _NOT_GIVEN  # out of range: typer's error message
        return value


class _Spec(NamedTuple):
    options: dict[str, _Param]  # every spelling (--group, -g) -> its parameter
    arguments: tuple[_Param, ...]
    order: tuple[str, ...]  # every parameter's name, in the signature's order


def parse_command_line(func: Callable[..., Any], args: list[str]) -> dict[str, Any] | None:
    """``func``'s keyword arguments for ``args`` (the words after the command's name), exactly as typer would pass
    them, or None when typer must parse (see the module's docstring)."""
    spec = _spec(func)
    if spec is None or any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return None  # a declaration this module does not read, or the shell asking typer for completions
    given: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        token, i = args[i], i + 1
        if token == "--":  # click: everything after is an argument
            positional.extend(args[i:])
            break
        if not token.startswith("-") or token == "-":
            positional.append(token)
            continue
        name, eq, attached = token.partition("=") if token.startswith("--") else (token, "", "")
        param = spec.options.get(name)
        if param is None:
            return None  # --help, an unknown option, -gVALUE or -g=VALUE: typer's parse
        if param.flags:
            if eq:
                return None  # a flag given a value: typer's error
            value: Any = dict(param.flags)[name]
        else:
            if not eq:
                if i >= len(args):
                    return None  # the option's value is missing: typer's error
                attached, i = args[i], i + 1  # click takes the next word, whatever it looks like
            value = param.convert(attached)
            if value is _NOT_GIVEN:
                return None
        if param.multiple:
            given.setdefault(param.name, []).append(value)
        else:
            given[param.name] = value  # click keeps the last of a repeated option
    if len(positional) != len(spec.arguments):
        return None  # a missing or an extra argument: typer's error
    for param, raw in zip(spec.arguments, positional):
        value = param.convert(raw)
        if value is _NOT_GIVEN:
            return None
        given[param.name] = value
    for param in spec.options.values():
        if param.name not in given:
            if param.default is ...:
                return None  # a required option is missing: typer's error
            given[param.name] = list(param.default) if param.multiple and param.default is not None \
                else param.default
    return {name: given[name] for name in spec.order}


def run_parsed(func: Callable[..., Any], kwargs: dict[str, Any]) -> NoReturn:
    """Call the command and end the process as typer's standalone mode ends it: the exit code a ``typer.Exit``
    carries (0 when the command returns), 130 on Ctrl-C, 1 quietly when stdout's reader has gone (``| head``). An
    unexpected exception keeps its traceback (a bug, as everywhere in the CLI)."""
    import typer

    try:
        func(**kwargs)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(1)
    sys.exit(0)


def _quiet_stdout() -> None:
    """stdout's reader is gone: point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@cache
def _spec(func: Callable[..., Any]) -> _Spec | None:
    """The parameters typer would build from ``func``, or None when one uses a feature read only by typer."""
    import inspect

    import typer

    hints = get_type_hints(func)
    options: dict[str, _Param] = {}
    arguments: list[_Param] = []
    for p in inspect.signature(func).parameters.values():
        info = p.default
        if not isinstance(info, (typer.models.OptionInfo, typer.models.ArgumentInfo)):
            return None  # a plain default or a context parameter: typer's
        pristine = type(info)()
        if any(v != getattr(pristine, k) for k, v in vars(info).items() if k not in _READ):
            return None
        kind, multiple = _kind(hints.get(p.name))
        if kind is None:
            return None
        if isinstance(info, typer.models.ArgumentInfo):
            if multiple or kind is bool:
                return None
            arguments.append(_Param(p.name, kind, multiple, info.default, info.min, info.max))
            continue
        spellings = _spellings(p.name, info.param_decls, kind is bool, info.default)
        if spellings is None:
            return None
        names, flags = spellings
        param = _Param(p.name, kind, multiple, info.default, info.min, info.max, flags)
        if any(n in options for n in names):
            return None
        options.update(dict.fromkeys(names, param))
    order = tuple(inspect.signature(func).parameters)
    return _Spec(options, tuple(arguments), order)


def _kind(hint: Any) -> tuple[type | None, bool]:
    """(scalar type, repeats) of ``T``, ``Optional[T]`` or ``List[T]``; (None, False) for anything else."""
    if get_origin(hint) is Union:
        inner = [a for a in get_args(hint) if a is not type(None)]
        if len(inner) != 1:
            return None, False
        hint = inner[0]
    if get_origin(hint) is list:
        (item,) = get_args(hint) or (None,)
        return (item, True) if item in _SCALARS and item is not bool else (None, False)
    return (hint, False) if hint in _SCALARS else (None, False)


def _spellings(name: str, decls: tuple[str, ...] | None, is_flag: bool, default: Any
               ) -> tuple[list[str], tuple[tuple[str, bool], ...]] | None:
    """The option's spellings as typer declares them (``--min-group-size`` from ``min_group_size`` when none is
    given; ``--x/--no-x`` for a flag), and for a flag the value each one sets; None for a spelling click reads in a
    way this module does not (a name without dashes, ``-abc``, an on-only flag that defaults to on)."""
    dashed = name.replace("_", "-")
    decls = tuple(decls or ((f"--{dashed}/--no-{dashed}",) if is_flag else (f"--{dashed}",)))
    names: list[str] = []
    flags: list[tuple[str, bool]] = []
    for decl in decls:
        on, slash, off = decl.partition("/")
        for spelling in (on, off) if slash else (on,):
            spelling = spelling.strip()
            if not (spelling.startswith("--") and len(spelling) > 2 or re.fullmatch(r"-[A-Za-z0-9]", spelling)):
                return None
            names.append(spelling)
        if slash and not is_flag:
            return None
        if is_flag:
            flags += [(on.strip(), True)] + ([(off.strip(), False)] if slash else [])
    if is_flag and (not isinstance(default, bool) or default and any("/" not in d for d in decls)):
        return None  # click turns an on-only flag that defaults to on into an off switch: typer decides
    return names, tuple(flags)
