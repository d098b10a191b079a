"""The rooms hold (DESIGN.md): ``contracts/`` is judgement with no I/O, ``flows/`` orchestrates without SQL of its
own, and ``integrations/`` never reaches up into ``flows/``.

Read from the source with ``ast``, so a forbidden import is caught whether or not a test happens to execute it:
absolute (``steward.integrations...``) and relative (``..integrations``) imports alike, at module level or inside a
function. SQL is recognised in string constants and in the literal parts of f-strings; docstrings are prose and
are not judged.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "steward"
ROOMS = ("contracts", "integrations", "flows")

# Libraries that reach outside the process: a database, the network, other programs, the orchestrator.
IO_LIBRARIES = ("duckdb", "httpx", "slack_sdk", "prefect", "psycopg", "dbt", "socket", "subprocess", "requests",
                "sqlite3", "urllib.request", "http.client", "smtplib", "ftplib")
# Calls that read or write files.
FILE_CALLS = ("open", "read_text", "write_text", "read_bytes", "write_bytes")
# The one YAML loader reads the document it judges (a path's bytes, bounded and decoded before parsing), and
# load_policy reads the packaged default through it: the two named exceptions, so every caller (about forty) keeps
# handing over a path rather than opening the file itself.
FILE_READERS_ALLOWED = {"contracts/policy.py": "loads the policy YAML file (load_policy)",
                        "contracts/yaml_input.py": "reads a YAML document from a path (the shared loader)"}
SQL = re.compile(r"\bselect\b[\s\S]*?\bfrom\b|\binsert\s+into\b|\bcreate\s+(?:or\s+replace\s+)?(?:temp(?:orary)?\s+)?"
                 r"(?:table|view)\b|\bdelete\s+from\b|\bupdate\s+\S+\s+set\b", re.IGNORECASE)


def _modules(room: str, root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / room).rglob("*.py") if ".venv" not in p.parts)


def _rel(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).as_posix()


def _dotted(path: Path, root: Path = ROOT) -> str:
    """``steward.<room>.<module>`` for a file of a room (a package's ``__init__`` is the package itself)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module ``path`` imports, as absolute dotted names (``from x import y`` counts as ``x`` and ``x.y``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    dotted = _dotted(path, root)
    package = dotted if path.name == "__init__.py" else dotted.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


def _hits(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _strings(path: Path) -> list[tuple[int, str]]:
    """String constants and the literal parts of f-strings (placeholders as ``{}``), docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    in_fstring = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            out.append((node.lineno, text))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
              and id(node) not in in_fstring):
            out.append((node.lineno, node.value))
    return out


def _sql_strings(room: str, root: Path = ROOT) -> list[str]:
    return [f"{_rel(p, root)}:{line}: {text[:80]!r}" for p in _modules(room, root) for line, text in _strings(p)
            if SQL.search(text)]


def _file_calls(path: Path) -> list[tuple[int, str]]:
    """Calls of ``open`` and of ``Path``'s read/write methods (by name: the receiver's type is not known)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in FILE_CALLS:
                found.append((node.lineno, name))
    return found


def test_contracts_import_nothing_from_integrations_or_flows():
    forbidden = (f"{PACKAGE}.integrations", f"{PACKAGE}.flows")
    found = [f"{_rel(p)}:{line}: {name}" for p in _modules("contracts") for line, name in _imports(p)
             if _hits(name, forbidden)]
    assert found == []


def test_contracts_import_no_io_library():
    found = [f"{_rel(p)}:{line}: {name}" for p in _modules("contracts") for line, name in _imports(p)
             if _hits(name, IO_LIBRARIES)]
    assert found == []


def test_contracts_read_and_write_no_files_except_the_named_yaml_loaders():
    found = [f"{_rel(p)}:{line}: {name}()" for p in _modules("contracts") if _rel(p) not in FILE_READERS_ALLOWED
             for line, name in _file_calls(p)]
    assert found == []


def test_no_sql_in_contracts():
    assert _sql_strings("contracts") == []


def test_no_sql_in_flows():
    assert _sql_strings("flows") == []


def test_integrations_import_nothing_from_flows():
    found = [f"{_rel(p)}:{line}: {name}" for p in _modules("integrations") for line, name in _imports(p)
             if _hits(name, (f"{PACKAGE}.flows",))]
    assert found == []


def _error_classes(path: Path) -> list[tuple[int, str]]:
    """Classes whose bases name one of Steward's errors (``StewardError`` or a subclass defined in errors.py)."""
    errors = {node.name for node in ast.parse((ROOT / "contracts/errors.py").read_text(encoding="utf-8")).body
              if isinstance(node, ast.ClassDef)}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            if bases & errors:
                found.append((node.lineno, node.name))
    return found


def test_every_steward_error_is_defined_in_the_one_errors_module():
    """A caller catches any error Steward raises by importing contracts/errors.py, never the module that raises it."""
    found = [f"{_rel(p)}:{line}: {name}" for room in ROOMS for p in _modules(room)
             if _rel(p) != "contracts/errors.py" for line, name in _error_classes(p)]
    assert found == []


def test_one_import_style_inside_the_package():
    """Modules of the package import each other relatively (the majority style when the rooms were unified), so a
    module reads the same wherever the package is installed; absolute ``steward.`` imports are for tests and tools."""
    found = []
    for room in ROOMS:
        for p in _modules(room):
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                         else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                found += [f"{_rel(p)}:{node.lineno}: {n}" for n in names if _hits(n, (PACKAGE,))]
    assert found == []


def test_the_scanners_find_each_kind_of_breach_and_leave_docstrings_alone(tmp_path):
    """The checks above would pass on an empty scan: a module with one breach of each kind must be caught."""
    room = tmp_path / "contracts"
    room.mkdir()
    bad = room / "bad.py"
    bad.write_text('"""select * from governance.x where a = 1, as prose."""\n'
                   "import duckdb\n"
                   "from ..integrations.sources import _protocol\n"
                   "from steward.flows import cli\n"
                   "def f(mart, p):\n"
                   "    p.read_text()\n"
                   "    return f'select * from governance.{mart} where x = 1'\n"
                   "Q = 'insert into ledger.runs values (?)'\n"
                   "R = 'Update the CRM campaign and select a segment'\n", encoding="utf-8")
    names = [name for _, name in _imports(bad, tmp_path)]
    assert f"{PACKAGE}.integrations.sources._protocol" in names and f"{PACKAGE}.flows.cli" in names
    assert [n for n in names if _hits(n, IO_LIBRARIES)] == ["duckdb"]
    assert _file_calls(bad) == [(6, "read_text")]
    assert sorted(int(s.split(":")[1]) for s in _sql_strings("contracts", tmp_path)) == [7, 8]


def test_the_error_scanner_finds_a_steward_error_defined_elsewhere(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from steward.contracts import errors\n"
                   "class Stray(StewardError): ...\n"
                   "class Busy(errors.WarehouseBusy): ...\n"
                   "class Internal(ValueError): ...\n", encoding="utf-8")
    assert _error_classes(bad) == [(2, "Stray"), (3, "Busy")]
