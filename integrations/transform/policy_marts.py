"""A policy's checks against the marts the bundled dbt project defines, decided before anything is pulled or built.

A check naming a mart the project has no model for (a typo: ``gov_transparency__reason``) used to surface only when
the judge step read the mart, after the whole ingest and build. The project's models are files in the package, so
the question is answered by listing them: one line naming the policy file, the check and the mart (exit 2).
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

from ...contracts.errors import ConfigError
from ...contracts.policy import Policy
from .dbt_build import dbt_project_dir

__all__ = ["governance_marts", "refuse_unknown_marts"]


@lru_cache(maxsize=None)
def governance_marts(project: Path | None = None) -> frozenset[str]:
    """The names of the project's governance marts (``models/marts/**/gov_*.sql``: the schema ``governance``)."""
    root = (project or dbt_project_dir()) / "models" / "marts"
    return frozenset(p.stem for p in root.rglob("gov_*.sql"))


def refuse_unknown_marts(policy: Policy, project: Path | None = None) -> None:
    """Raise ``ConfigError`` for the first check whose mart is not a model of the project (with the closest name)."""
    marts = governance_marts(project)
    for check_id, rule in policy.checks.items():
        if rule.mart not in marts:
            close = difflib.get_close_matches(rule.mart, sorted(marts), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"{policy.source}: checks.{check_id}.mart: no mart governance.{rule.mart} in Steward's "
                              f"dbt project{hint}")
