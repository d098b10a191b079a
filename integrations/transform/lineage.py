"""Which raw sources each dbt model is built from, read from the dbt project itself (``ref()``/``source()``).

Both gates of a governance run ask it: the health gate (is a mart fed by a platform that is down?) and the drift
gate (is a mart fed by a raw table whose batch was refused?). Reading the models' SQL means a new mart is covered
without a list to maintain.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .dbt_build import dbt_project_dir

__all__ = ["mart_sources", "mart_platforms", "read_sources", "OWN_SOURCES"]

_REF = re.compile(r"""ref\(\s*['"]([A-Za-z0-9_]+)['"]\s*\)""")
_SOURCE = re.compile(r"""source\(\s*['"]([A-Za-z0-9_]+)['"]\s*,\s*['"]([A-Za-z0-9_]+)['"]\s*\)""")
OWN_SOURCES = frozenset({"steward"})  # Steward's own ledgers feed every platform's landing checks alike


@lru_cache(maxsize=4)
def _lineage(project: Path) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[tuple[str, str]]]]:
    """model -> models it refs, model -> (source, table) pairs it reads, from every model's SQL in the project."""
    refs: dict[str, frozenset[str]] = {}
    sources: dict[str, frozenset[tuple[str, str]]] = {}
    for sql in (project / "models").rglob("*.sql"):
        text = sql.read_text(encoding="utf-8")
        refs[sql.stem] = frozenset(_REF.findall(text))
        sources[sql.stem] = frozenset(_SOURCE.findall(text))
    return refs, sources


def mart_sources(mart: str, project: Path | None = None) -> frozenset[tuple[str, str]]:
    """The dbt sources ``(source, table)`` a model reads, directly or through other models; Steward's own ledgers
    excluded. Source names are platforms and table names entities (``salesforce``, ``opportunities``)."""
    refs, sources = _lineage(project or dbt_project_dir())
    seen, todo, found = set(), [mart], set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        found |= sources.get(model, frozenset())
        todo.extend(refs.get(model, ()))
    return frozenset(s for s in found if s[0] not in OWN_SOURCES)


def mart_platforms(mart: str, project: Path | None = None) -> frozenset[str]:
    """The platforms (dbt source names) whose raw tables a model reads, directly or through other models."""
    return frozenset(source for source, _ in mart_sources(mart, project))


def read_sources(project: Path | None = None) -> frozenset[tuple[str, str]]:
    """Every ``(source, table)`` some model of the project reads (a dbt selector naming another matches nothing)."""
    _, sources = _lineage(project or dbt_project_dir())
    return frozenset(s for found in sources.values() for s in found)
