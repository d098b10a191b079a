"""Shipped mappings (examples/mappings/): an integration's ``mappings`` may name a YAML file, so a platform Steward
has no adapter for is a mapping file a team copies, not code. The shipped files are the mappings the own-stack
example runs inline (tests/flows/test_own_stack.py governs it end to end), so they stay tested."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from steward.contracts.errors import ConfigError
from steward.flows.config import load_config

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "examples" / "mappings"
EXAMPLE = ROOT / "examples" / "own-stack" / "steward.yaml"


def _config(folder: Path, integrations: list[dict]) -> Path:
    path = folder / "steward.yaml"
    path.write_text(yaml.safe_dump({"integrations": integrations}))
    return path


@pytest.mark.parametrize("name, entities", [("klaviyo", ["people", "campaigns", "touches", "engagement_events"]),
                                            ("meta_ads", ["ad_spend"])])
def test_a_shipped_mapping_file_is_the_examples_tested_mapping(tmp_path, name, entities):
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / f"{name}.yaml").write_bytes((SHIPPED / f"{name}.yaml").read_bytes())
    cfg = load_config(_config(tmp_path, [{"name": name, "platform": "custom", "path": "exports",
                                          "mappings": f"mappings/{name}.yaml"}]))
    [integration] = cfg.integrations
    assert list(integration.mappings) == entities
    inline = next(i for i in load_config(EXAMPLE).integrations if i.name == name)
    assert {e: integration.mappings[e] for e in entities} == {e: inline.mappings[e] for e in entities}


def test_a_missing_or_bad_mapping_file_is_one_line_naming_the_config_the_field_and_the_file(tmp_path):
    config = _config(tmp_path, [{"name": "klaviyo", "platform": "custom", "path": "exports",
                                 "mappings": "mappings/klaviyo.yaml"}])
    with pytest.raises(ConfigError) as missing:
        load_config(config)
    assert str(missing.value) == (f"{config}: integrations[0].mappings: {tmp_path}/mappings/klaviyo.yaml: "
                                  "mapping file not found")
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "klaviyo.yaml").write_text(
        "touches:\n  file: sends.csv\n  columns:\n    touched_at: {expr: \"read_csv('/etc/passwd')\"}\n")
    with pytest.raises(ConfigError) as hostile:
        load_config(config)
    message = str(hostile.value)
    assert message.startswith(f"{config}: integrations[0].mappings.touches.columns.touched_at")
    assert "read_csv" in message and "\n" not in message
