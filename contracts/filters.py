"""Policy ``where`` filters: a small, closed expression language over a mart's columns, evaluated by pandas.

A filter was once handed to ``DataFrame.query``, whose ``@name`` and attribute syntax reach Python objects: a
policy file could run a shell command. A policy is data, so a filter is now parsed with Python's ``ast`` (parsing
only, nothing is compiled or run) and every node is checked against a whitelist; anything else is refused with the
construct it found. What is allowed:

    expression := expression 'and' expression | expression 'or' expression | 'not' expression
                | operand (compare operand)+ | operand ('in' | 'not in') list | '(' expression ')' | column
    compare    := '==' | '!=' | '<' | '<=' | '>' | '>='
    operand    := column | literal
    list       := '[' literal, ... ']' | '(' literal, ... ')'
    literal    := 'text' | "text" | number | -number | True | False | None | true | false | null

``x == null`` is true where ``x`` is missing, ``x != null`` where it is not; otherwise comparisons follow pandas
(a missing value compares false, and ``!=`` true), so every filter written for ``DataFrame.query`` keeps its result.
The columns a filter names are checked against the mart when it is evaluated (``columns`` lists them).
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Union

if TYPE_CHECKING:  # pandas loads when a filter is evaluated, not when a policy is parsed (a CLI audit never needs it)
    import pandas as pd

__all__ = ["Filter", "FilterError", "parse_filter", "MAX_LENGTH", "MAX_DEPTH"]

MAX_LENGTH = 2000  # a filter is a line or two; longer input is refused before it is parsed
MAX_DEPTH = 50  # nested and/or/not; keeps parsing and evaluation far from Python's recursion limit
_LITERAL_NAMES = {"true": True, "false": False, "null": None}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge}
_SYMBOL = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
           ast.NotIn: "not in"}
_REFUSED = {ast.Call: "a function call", ast.Attribute: "attribute access", ast.Subscript: "a subscript",
            ast.Lambda: "a lambda", ast.JoinedStr: "an f-string", ast.BinOp: "arithmetic", ast.IfExp: "an if-else",
            ast.NamedExpr: "an assignment", ast.Dict: "a mapping", ast.Set: "a set", ast.Starred: "unpacking",
            ast.ListComp: "a comprehension", ast.GeneratorExp: "a comprehension", ast.SetComp: "a comprehension",
            ast.DictComp: "a comprehension", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield"}


class FilterError(ValueError):
    """A filter outside the grammar, or naming a column the mart lacks; the message says which part."""


# The parsed tree: small frozen nodes, so evaluation never touches Python's ast again.
@dataclass(frozen=True)
class _Column:
    name: str


@dataclass(frozen=True)
class _Literal:
    value: str | int | float | bool | None


@dataclass(frozen=True)
class _Compare:
    op: type  # one of _COMPARE's keys
    left: Union[_Column, _Literal]
    right: Union[_Column, _Literal]


@dataclass(frozen=True)
class _Member:
    column: Union[_Column, _Literal]
    values: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class _Logic:
    op: str  # "and", "or", "not"
    parts: tuple["_Node", ...]


_Node = Union[_Column, _Literal, _Compare, _Member, _Logic]


@dataclass(frozen=True)
class Filter:
    """A parsed filter: ``apply(mart)`` keeps the matching rows; ``columns`` are the names it reads."""

    text: str
    tree: _Node
    columns: tuple[str, ...]

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """One boolean per row (missing counts as false), computed column-wise, never row by row."""
        unknown = [c for c in self.columns if c not in frame.columns]
        if unknown:
            raise FilterError(f"unknown column '{unknown[0]}' (columns: {', '.join(map(str, frame.columns))})")
        try:
            result = _boolean(_evaluate(self.tree, frame), frame)
        except TypeError as exc:  # e.g. text compared with a number by < or >
            raise FilterError(f"cannot evaluate '{self.text}': {exc}") from None
        return result.fillna(False).astype(bool)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.mask(frame)]


def parse_filter(text: str) -> Filter:
    """``text`` as a Filter, or FilterError naming the first construct outside the grammar."""
    if not isinstance(text, str) or not text.strip():
        raise FilterError("a filter must be a non-empty text")
    if len(text) > MAX_LENGTH:
        raise FilterError(f"a filter is at most {MAX_LENGTH} characters (got {len(text)})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FilterError(f"not a filter expression: {exc.msg}" +
                          (f" at column {exc.offset}" if exc.offset else "")) from None
    except (RecursionError, MemoryError):
        raise FilterError("not a filter expression: nested too deeply") from None
    except ValueError as exc:  # null bytes, on some Python versions
        raise FilterError(f"not a filter expression: {exc}") from None
    columns: list[str] = []
    node = _convert(tree.body, columns, boolean=True, depth=0)
    return Filter(text=text, tree=node, columns=tuple(dict.fromkeys(columns)))


def _convert(node: ast.AST, columns: list[str], boolean: bool, depth: int) -> _Node:
    """The whitelisted tree for ``node``; ``boolean`` says the position needs a true/false (and, or, not, the top)."""
    if depth > MAX_DEPTH:
        raise FilterError(f"a filter nests and/or/not at most {MAX_DEPTH} levels deep")
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return _Logic(op, tuple(_convert(v, columns, True, depth + 1) for v in node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _Logic("not", (_convert(node.operand, columns, True, depth + 1),))
    if isinstance(node, ast.Compare):
        return _compare(node, columns)
    if isinstance(node, (ast.Name, ast.Constant, ast.UnaryOp)):
        operand = _operand(node, columns)
        if boolean and isinstance(operand, _Literal) and not isinstance(operand.value, bool):
            raise FilterError(f"{operand.value!r} alone is not a condition")
        return operand
    if isinstance(node, (ast.List, ast.Tuple)):
        raise FilterError("a list is only allowed after 'in' or 'not in'")
    raise FilterError(f"{_REFUSED.get(type(node), type(node).__name__)} is not allowed in a filter "
                      f"(only columns, literals, comparisons, in, and, or, not)")


def _compare(node: ast.Compare, columns: list[str]) -> _Node:
    parts: list[_Node] = []
    left = _operand(node.left, columns)
    for op, right_node in zip(node.ops, node.comparators):
        if isinstance(op, (ast.In, ast.NotIn)):
            parts.append(_Member(left, _literal_list(right_node), negated=isinstance(op, ast.NotIn)))
            right = None
        elif type(op) in _COMPARE:
            right = _operand(right_node, columns)
            nulls = [o for o in (left, right) if isinstance(o, _Literal) and o.value is None]
            if nulls and not isinstance(op, (ast.Eq, ast.NotEq)):
                raise FilterError(f"null can only be compared with == or != (not {_SYMBOL[type(op)]})")
            parts.append(_Compare(type(op), left, right))
        else:
            raise FilterError(f"'{type(op).__name__}' is not a comparison a filter allows "
                              f"({', '.join(_SYMBOL.values())})")
        if right is None:
            if len(node.ops) > 1:
                raise FilterError("'in' and 'not in' cannot be chained with other comparisons")
            break
        left = right
    return parts[0] if len(parts) == 1 else _Logic("and", tuple(parts))  # a < b < c means a < b and b < c


def _operand(node: ast.AST, columns: list[str]) -> Union[_Column, _Literal]:
    if isinstance(node, ast.Name):
        if node.id in _LITERAL_NAMES:
            return _Literal(_LITERAL_NAMES[node.id])
        if node.id.startswith("__"):
            raise FilterError(f"'{node.id}' is not a column name")
        columns.append(node.id)
        return _Column(node.id)
    return _Literal(_literal(node))


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, bool, int, float))):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, ast.Constant):
        raise FilterError(f"{type(node.value).__name__} literals are not allowed in a filter")
    if isinstance(node, ast.Name):
        if node.id in _LITERAL_NAMES:
            return _LITERAL_NAMES[node.id]
        raise FilterError(f"'{node.id}' in a list is not a literal (a text is quoted: '{node.id}')")
    raise FilterError(f"{_REFUSED.get(type(node), type(node).__name__)} is not allowed in a filter "
                      f"(only columns, literals, comparisons, in, and, or, not)")


def _literal_list(node: ast.AST) -> tuple[Any, ...]:
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise FilterError("'in' and 'not in' need a list of literals, like channel in ['email', 'ads']")
    return tuple(_literal(v) for v in node.elts)


def _evaluate(node: _Node, frame: pd.DataFrame) -> Any:
    if isinstance(node, _Column):
        return frame[node.name]
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _Compare):
        return _comparison(node, frame)
    if isinstance(node, _Member):
        inside = _boolean(_member(_evaluate(node.column, frame), node.values), frame)
        return ~inside if node.negated else inside
    parts = [_boolean(_evaluate(p, frame), frame) for p in node.parts]
    if node.op == "not":
        return ~parts[0]
    combine = operator.and_ if node.op == "and" else operator.or_
    result = parts[0]
    for part in parts[1:]:
        result = combine(result, part)
    return result


def _member(values: Any, allowed: tuple[Any, ...]) -> Any:
    import pandas as pd

    if isinstance(values, pd.Series):
        return values.isin(allowed)
    return values in allowed


def _comparison(node: _Compare, frame: pd.DataFrame) -> Any:
    import pandas as pd

    left, right = _evaluate(node.left, frame), _evaluate(node.right, frame)
    if isinstance(node.left, _Literal) and node.left.value is None:
        left, right = right, left
    if right is None and not (isinstance(node.left, _Literal) and isinstance(node.right, _Literal)):
        missing = left.isna() if isinstance(left, pd.Series) else pd.isna(left)
        return missing if node.op is ast.Eq else ~missing
    return _COMPARE[node.op](left, right)


def _boolean(value: Any, frame: pd.DataFrame) -> pd.Series:
    """A Series of booleans for and/or/not; a bare column must hold booleans already."""
    import numpy as np
    import pandas as pd

    if not isinstance(value, pd.Series):
        return pd.Series(bool(value), index=frame.index)
    if pd.api.types.is_bool_dtype(value.dtype):
        return value
    if value.dtype == object and value.dropna().map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return value.astype("boolean")
    raise FilterError(f"column '{value.name}' is not true or false per row ({value.dtype}); compare it with a value")
