"""``changes.source_relations`` parses only the project's properties files that declare ``sources:`` (a text look
first): it must find exactly what parsing every file finds, so no source's change is missed by the changed-only
build."""

from __future__ import annotations

import yaml

from steward.integrations.transform.changes import source_relations
from steward.integrations.transform.dbt_build import dbt_project_dir


def test_the_sources_found_are_those_of_every_properties_file_parsed_whole():
    expected = set()
    for path in dbt_project_dir().joinpath("models").rglob("*.yml"):
        for source in yaml.safe_load(path.read_text(encoding="utf-8")).get("sources") or []:
            for table in source.get("tables") or []:
                expected.add((f"{source['name']}.{table['name']}", source.get("schema", source["name"]),
                              table.get("identifier", table["name"])))
    found = {(r.source, r.schema, r.identifier) for r in source_relations()}
    assert found == expected and len(found) > 20


def test_a_sources_file_in_flow_style_or_quoted_is_read_and_a_models_file_is_not(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "a.yml").write_text('{sources: [{name: a, tables: [{name: t}]}]}\n')
    (models / "b.yml").write_text('version: 2\n"sources":\n  - name: b\n    schema: raw\n    tables: [{name: u}]\n')
    (models / "c.yml").write_text("version: 2\nmodels:\n  - name: m\n    description: 'sources: none here'\n")
    (models / "d.yml").write_text("version: 2\nmodels: [oops\n")  # not parsed: it declares no sources
    assert [(r.source, r.schema) for r in source_relations(tmp_path)] == [("a.t", "a"), ("b.u", "raw")]
