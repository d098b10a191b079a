"""In a Python process the test suite starts (a `steward` subprocess), dbt builds take the session's parse.

tests/conftest.py puts this folder on ``PYTHONPATH`` with ``STEWARD_TEST_DBT_PARSES`` naming the session's cache
folder (dbt_parse_cache.py). Python imports this module at start-up; it imports nothing heavy itself: it waits for
the process to import ``dbt.cli.main`` (most commands never do) and then patches its runner. Without the variable,
or with it empty, it does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

_MODULE = "dbt.cli.main"
_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dbt_parse_cache.py")  # by path: a process may
# change its sys.path after start-up (pytest-xdist's workers do), and it needs no place on it


def _cache_module():
    """dbt_parse_cache.py beside this file, imported once per process under its own name (the conftest's import of
    it, in a worker, finds the same module)."""
    module = sys.modules.get("dbt_parse_cache")
    if module is None:
        spec = importlib.util.spec_from_file_location("dbt_parse_cache", _CACHE)
        module = importlib.util.module_from_spec(spec)
        sys.modules["dbt_parse_cache"] = module
        spec.loader.exec_module(module)
    return module


class _PatchDbtOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            _cache_module().patch(module)

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("STEWARD_TEST_DBT_PARSES"):
    sys.meta_path.insert(0, _PatchDbtOnImport())
