"""The wheel carries every file Steward runs from, and an installed (not editable) copy imports and starts.

The package list used to be kept by hand in pyproject.toml: a new subpackage not listed there worked in the editable
checkout every test runs from and was missing from the wheel a user installs. setup.py now finds the packages; this
test builds the real wheel with pip and checks it against the tracked files, then imports every module from a copy
installed into a folder of its own, so nothing can resolve against the checkout.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("flows", "contracts", "integrations", "dbt_project")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                   check=True, cwd=out, timeout=900)
    (built,) = out.glob("steward-*.whl")
    return built


def _tracked() -> list[str]:
    listed = subprocess.run(["git", "ls-files", *ROOMS], cwd=ROOT, check=True, capture_output=True, text=True)
    return [line for line in listed.stdout.splitlines() if line]


def test_the_wheel_holds_every_tracked_file_of_the_rooms(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = _tracked()
    assert len(tracked) > 200  # the rooms really were listed
    missing = [path for path in tracked if f"steward/{path}" not in names]
    assert missing == []


def test_an_installed_copy_imports_every_module_and_starts(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, timeout=600)
    modules = sorted({"steward." + path[:-3].replace("/", ".").removesuffix(".__init__")
                      for path in _tracked() if path.endswith(".py") and not path.endswith("__main__.py")})
    script = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(target)!r}), (name, module.__file__)\n"
        "from steward.flows.cli import main\n"
        "sys.argv = ['steward', 'contracts', 'list']\n"
        "main()\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "salesforce" in ran.stdout.lower()
