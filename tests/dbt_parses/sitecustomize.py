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
            from dbt_parse_cache import patch

            patch(module)

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("STEWARD_TEST_DBT_PARSES"):
    sys.meta_path.insert(0, _PatchDbtOnImport())
