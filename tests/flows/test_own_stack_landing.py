"""Two custom systems share raw.custom__<entity>: the first to land creates it, and a column its export lacks must
not become DuckDB's NULL type, which no later system's values cast into (found by the own-stack example: the CRM,
without `crm_person_id`, landed before Klaviyo, which has it, and Klaviyo's people were refused)."""

from __future__ import annotations

from steward.flows.pull import pull_integration
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse


def _people(folder, rows: list[str], header: str):
    folder.mkdir(parents=True)
    (folder / "people.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return folder


def test_a_column_the_first_system_lacks_lands_as_text_for_the_next(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    crm = _people(tmp_path / "crm", ["c1,ana@example.com,2026-11-01T00:00:00Z"], "person_id,email,updated_at")
    esp = _people(tmp_path / "esp", ["e1,ana@example.com,c1,2026-11-02T00:00:00Z"],
                  "person_id,email,crm_person_id,updated_at")
    for name, folder in (("crm", crm), ("esp", esp)):  # the CRM first: it creates the raw table
        landed = pull_integration(ExportFilesAdapter(name, "custom", folder, wh, ["people"]), wh, "r1")
        assert [(item.result.entity, item.result.rows_loaded) for item in landed] == [("people", 1)]
    with wh.connect() as con:
        kinds = dict(con.execute("select column_name, data_type from information_schema.columns "
                                 "where table_schema = 'raw' and table_name = 'custom__people'").fetchall())
        rows = con.execute("select _integration, person_id, crm_person_id from raw.custom__people "
                           "order by _integration").fetchall()
    assert kinds["crm_person_id"] == "VARCHAR" and kinds["segments"] == "VARCHAR"
    assert rows == [("crm", "c1", None), ("esp", "e1", "c1")]
