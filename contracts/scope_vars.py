"""dbt_project.yml's ``vars:`` block, generated from the policy's ``Scope`` defaults so the two cannot drift apart.

Steward passes the policy's scope as ``--vars`` on every dbt invocation (``Policy.dbt_vars()``), so what dbt_project.yml
says only matters when someone runs ``dbt`` on the project by hand. That copy is rendered here, from the one place the
defaults live (``contracts/policy.py``'s ``Scope``), and written by ``python -m steward.flows.scope_vars --write``; a test
fails when the file and the model disagree. Pure text in, text out: reading and writing the file is the caller's.
"""

from __future__ import annotations

from typing import Any

import yaml

from .codings import Codings
from .policy import Scope

__all__ = ["RUNTIME_VARS", "BEGIN", "END", "default_vars", "render_vars_block", "with_vars_block"]

# Vars a run sets, not the policy: the run's clock and id (null: a standalone build uses now() and has no run).
RUNTIME_VARS: dict[str, Any] = {"as_of": None, "run_id": None}
BEGIN = "# BEGIN scope vars: generated from contracts/policy.py (Scope); python -m steward.flows.scope_vars --write"
END = "# END scope vars"
_WIDTH = 118


def default_vars() -> dict[str, Any]:
    """Every var the project reads, at its default: the runtime ones, the policy scope's, then the codings."""
    return {**RUNTIME_VARS, **_plain(Scope().model_dump()), "codings": _plain(Codings().dbt_var())}


def render_vars_block() -> str:
    """The ``vars:`` block, between its BEGIN and END markers, ending in a newline."""
    body = "".join(_entry(key, value) for key, value in default_vars().items())
    return f"{BEGIN}\nvars:\n{body}{END}\n"


def _entry(key: str, value: Any) -> str:
    """One var, on one line where it fits (``key: {a: 1}``), else as nested YAML, the way a person would lay it out."""
    for style in (True, None, False):
        text = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=style, width=1_000, allow_unicode=True)
        if style is True:
            text = text.strip()[1:-1] + "\n"  # "{key: value}" -> "key: value"
        lines = ["  " + line for line in text.splitlines()]
        if all(len(line) <= _WIDTH for line in lines):
            break
    return "\n".join(lines) + "\n"


def with_vars_block(project_yml: str) -> str:
    """``project_yml`` with its generated block replaced by the current one; ValueError when the markers are missing."""
    start, end = project_yml.find(BEGIN), project_yml.find(END)
    if start < 0 or end < start:
        raise ValueError(f"dbt_project.yml has no '{BEGIN}' ... '{END}' block")
    stop = project_yml.find("\n", end)
    stop = len(project_yml) if stop < 0 else stop + 1
    return project_yml[:start] + render_vars_block() + project_yml[stop:]


def _plain(value: Any) -> Any:
    """Whole-number floats as ints (``48``, not ``48.0``), as a person would write them; the value is the same."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
