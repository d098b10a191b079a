"""Packaging's one computed part: the list of ``steward.*`` packages.

Steward's rooms are top-level folders (``flows/``, ``contracts/``, ``integrations/``, ``dbt_project/``) that install as
subpackages of ``steward`` through ``[tool.setuptools.package-dir]`` in pyproject.toml. pyproject cannot find
packages under a renamed root, and a hand-kept list lost any new subpackage from the wheel without a word, so the list
is found here: every folder with an ``__init__.py`` under a room. Everything else is declared in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOMS = ("flows", "contracts", "integrations")

setup(packages=[
    *(f"steward.{room}{'.' + sub if sub else ''}" for room in ROOMS for sub in ("", *find_packages(room))),
    "steward.dbt_project",  # SQL and YAML only: its files come from package-data
])
