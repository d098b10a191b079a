"""Reading the YAML files a person hands Steward (steward.yaml, a policy, a launch spec) as plain data, or one line.

The three loaders used to carry near copies of this code, and each missed a different case: a binary file, a file in
another encoding or an empty one came out as a long traceback. Whatever the file holds, the answer here is either a
mapping or a ``ConfigError`` that names the file and what is wrong with it, and the cost is bounded: the file is
capped in size before it is read, and YAML aliases cannot multiply it into more nodes than ``MAX_NODES`` (the
"billion laughs" document), because the node graph is measured before anything is built from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Collection, Mapping

import yaml

from .errors import ConfigError

__all__ = ["read_yaml_mapping", "read_packaged_yaml_mapping", "read_packaged_yaml_parts", "parse_yaml_mapping",
           "parse_yaml_parts", "MAX_BYTES", "MAX_NODES"]

MAX_BYTES = 5_000_000  # the packaged policy is ~50 kB
MAX_NODES = 1_000_000  # scalars, lists and mappings once aliases are expanded
# libyaml when PyYAML was built with it: the same nodes and values, parsed ~9x faster (the packaged policy: 0.18 s ->
# 0.02 s, most of a file audit's start); its error messages differ, so a failed parse is repeated in pure Python
_FAST = getattr(yaml, "CSafeLoader", None)


def read_yaml_mapping(path: Path | str, kind: str, expects: str, hint: str = "") -> dict[str, Any]:
    """The mapping in the YAML file at ``path``; ``kind`` names the file in errors ("policy file"), ``expects`` says
    what the mapping should hold ("'checks'"), ``hint`` is added when the file is missing."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: {kind} not found{hint}")
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{p}: {size:,} bytes is too large for a {kind} (at most {MAX_BYTES:,})")
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the {kind}: {exc.strerror or exc}") from None
    return parse_yaml_mapping(data, str(p), kind, expects)


def read_packaged_yaml_mapping(name: str, where: str, kind: str, expects: str) -> dict[str, Any]:
    """The mapping in a YAML file packaged with ``steward.contracts`` (the default policy), read as installed (a
    wheel or a checkout); ``where`` names it in errors ("default policy")."""
    from importlib import resources

    return parse_yaml_mapping(resources.files("steward.contracts").joinpath(name).read_bytes(), where, kind, expects)


def read_packaged_yaml_parts(name: str, where: str, kind: str, expects: str,
                             parts: Mapping[str, Collection[str] | None]) -> dict[str, Any]:
    """``parse_yaml_parts`` of a YAML file packaged with ``steward.contracts`` (the default policy)."""
    from importlib import resources

    data = resources.files("steward.contracts").joinpath(name).read_bytes()
    return parse_yaml_parts(data, where, kind, expects, parts)


def parse_yaml_parts(data: bytes | str, where: str, kind: str, expects: str,
                     parts: Mapping[str, Collection[str] | None]) -> dict[str, Any]:
    """Only ``parts`` of the mapping in ``data``: top-level key -> None (its whole value) or the names of the entries
    of its mapping to keep; keys the document lacks are left out.

    Why: the bias audit reads 2 of the packaged policy's checks and 1 of its audits, and building the whole document
    (and walking all of it for repeated aliases) was half of that read (issue #15); only the parts kept are built,
    and bounded. The text is still parsed whole, so a syntax error anywhere fails; then, or when a level read is not
    a plain mapping (a merge key, a key that is not text), the document is read by ``parse_yaml_mapping``, whose
    errors are worded as always."""
    loader = (_FAST or yaml.SafeLoader)(_text(data, where, kind))
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError:
            root = None
        if not _plain_mapping(root) or not all(_plain_mapping(v) for k, v in root.value
                                                if k.value in parts and parts[k.value] is not None):
            whole = parse_yaml_mapping(data, where, kind, expects)
            return {k: v if parts[k] is None or not isinstance(v, dict) else {e: v[e] for e in v if e in parts[k]}
                    for k, v in whole.items() if k in parts}
        picked: dict[str, Any] = {}
        for key, value in root.value:  # a key given twice: the last one, as in the whole document
            if key.value not in parts:
                continue
            keep = parts[key.value]
            kept = [(None, value)] if keep is None else [(k.value, v) for k, v in value.value if k.value in keep]
            for _, node in kept:
                _bounded(node, where)
            picked[key.value] = (loader.construct_object(value, deep=True) if keep is None else
                                 {name: loader.construct_object(node, deep=True) for name, node in kept})
        return picked
    finally:
        loader.dispose()


def _plain_mapping(node: Any) -> bool:
    """A mapping whose keys are plain text (no merge key, no number or null as a key): what ``parts`` can name."""
    return isinstance(node, yaml.MappingNode) and all(
        isinstance(k, yaml.ScalarNode) and k.tag == "tag:yaml.org,2002:str" for k, _ in node.value)


def parse_yaml_mapping(data: bytes | str, where: str, kind: str, expects: str) -> dict[str, Any]:
    """The mapping in ``data`` (UTF-8 YAML), or one line starting with ``where``."""
    text = _text(data, where, kind)
    try:
        try:
            document = _construct(_FAST or yaml.SafeLoader, text, where)
        except yaml.YAMLError:
            if _FAST is None:
                raise
            document = _construct(yaml.SafeLoader, text, where)  # words the error as it always has (libyaml differs)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}: not valid YAML{at}: {_first_line(getattr(exc, 'problem', None) or exc)}") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"{where}: not valid YAML: nested too deeply") from None
    if document is None:
        raise ConfigError(f"{where}: the {kind} is empty; expected a mapping with {expects}")
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: expected a mapping with {expects}, got {type(document).__name__}")
    bad = [k for k in document if not isinstance(k, str)]
    if bad:
        raise ConfigError(f"{where}: top-level key {bad[0]!r} is not a name (expected {expects})")
    return document


def _construct(loader_class: type, text: str, where: str) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _bounded(node, where)
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _text(data: bytes | str, where: str, kind: str) -> str:
    if isinstance(data, str):
        return data
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{where}: is a binary file, not a YAML {kind}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                          f"save the {kind} as UTF-8") from None


def _bounded(root: yaml.Node, where: str) -> None:
    """Refuse a document whose aliases expand to more than MAX_NODES nodes (counted once per node, memoised)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes and not done:
            continue
        children = _children(node)
        if not done:
            sizes.setdefault(id(node), 0)  # a cycle (a recursive alias) counts as one node on the way back
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
        if sizes[id(node)] > MAX_NODES:
            raise ConfigError(f"{where}: the YAML expands to more than {MAX_NODES:,} values (repeated aliases)")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0] if lines else "unknown error"
