"""Issue #18: steward.yaml, the policy and launch specs had three near-copy YAML loaders, each missing a different
bad-file case. Now one module parses YAML; every file a person hands Steward goes through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from steward.contracts.policy import load_policy
from steward.flows.config import load_config
from steward.flows.launch_spec import load_launch_spec
from steward.integrations.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LOADER = ROOT / "contracts" / "yaml_input.py"
# Anything that turns YAML text into Python: PyYAML's load functions, its loaders and its lower-level parse steps.
PARSES_YAML = re.compile(r"\byaml\.(safe_load|load|full_load|unsafe_load|load_all|safe_load_all|full_load_all|"
                         r"unsafe_load_all|compose|compose_all|parse|scan|(C?(Safe|Full|Unsafe|Base)?Loader))\b"
                         r"|\bfrom yaml import\b")


def _sources() -> list[Path]:
    return [p for folder in ("contracts", "flows", "integrations", "benchmarks") for p in (ROOT / folder).rglob("*.py")]


def test_yaml_is_parsed_only_in_the_loader_module():
    parsers = {str(p.relative_to(ROOT)) for p in _sources() if PARSES_YAML.search(p.read_text(encoding="utf-8"))}
    assert parsers == {str(LOADER.relative_to(ROOT))}


def test_the_scan_would_see_a_second_loader(tmp_path):
    assert PARSES_YAML.search("data = yaml.safe_load(path.read_text())")
    assert PARSES_YAML.search("loader = yaml.SafeLoader(text)")
    assert not PARSES_YAML.search("path.write_text(yaml.safe_dump(data))")  # writing YAML is not reading it


@pytest.mark.parametrize("load, kind", [(load_config, "config file"), (load_policy, "policy file"),
                                        (load_launch_spec, "launch spec")])
def test_every_kind_of_file_fails_the_same_way_in_one_line(tmp_path, load, kind):
    """The same bad bytes give the same one-line answer naming the file, whichever file it was meant to be."""
    cases = {"binary.yaml": (b"\x00\x01junk", f"is a binary file, not a YAML {kind}"),
             "latin1.yaml": ("name: caf\xe9\n".encode("latin-1"), f"is not UTF-8 text (byte 0xe9 at offset 9); "
                                                                   f"save the {kind} as UTF-8"),
             "empty.yaml": (b"", f"the {kind} is empty"),
             "broken.yaml": (b"a: [unclosed", "not valid YAML at line")}
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ConfigError) as info:
            load(path)
        text = str(info.value)
        assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text
