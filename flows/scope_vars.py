"""``python -m steward.flows.scope_vars [--write]``: regenerate dbt_project.yml's ``vars:`` from the policy's Scope.

Without ``--write`` it only checks: exit 0 when the file is current, 1 (naming the file) when it is not, so CI or a
pre-commit hook can run it. Edit the defaults in ``contracts/policy.py`` (``Scope``), never in dbt_project.yml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..contracts.scope_vars import with_vars_block
from ..integrations.transform.dbt_build import dbt_project_dir

__all__ = ["main"]


def main(argv: list[str] | None = None, project_yml: Path | None = None) -> int:
    """Check (or with ``--write`` rewrite) the generated vars block; the exit status says whether it was current."""
    parser = argparse.ArgumentParser(prog="python -m steward.flows.scope_vars", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the block instead of only checking it")
    args = parser.parse_args(argv)
    path = project_yml or dbt_project_dir() / "dbt_project.yml"
    text = path.read_text(encoding="utf-8")
    try:
        current = with_vars_block(text)
    except ValueError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    if current == text:
        print(f"{path}: vars are current")
        return 0
    if args.write:
        path.write_text(current, encoding="utf-8")
        print(f"{path}: vars rewritten from the policy's Scope defaults")
        return 0
    print(f"{path}: vars differ from the policy's Scope defaults; run python -m steward.flows.scope_vars --write",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
