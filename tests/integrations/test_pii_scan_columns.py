"""The PII scan over exports with thousands of unknown columns, and with column names built to break SQL (issue #16,
cases 7 and 8).

A 10,000-column CSV used to cost one ``UNION ALL`` branch per unmapped key (past 520 s); a column name holding ``"``
killed the run with ``BinderException: JSON path error``. The scan now unnests ``_unmapped`` once and builds no JSON
path from a name. Speed is measured by ``benchmarks/bench_wide_file.py``; these tests check what is found.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governed import govern
from steward.integrations.warehouse import pii_scan
from steward.integrations.demo.generator import generate_workspace
from steward.flows.pull import pull_entity
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse

HEADER = ["Id", "AccountId", "FirstName", "LastName", "Email", "Phone", "MailingCountry", "Age_Band__c", "Gender__c",
          "Region__c", "HasOptedOutOfEmail", "CreatedDate", "SystemModstamp"]
ROWS = 30

HOSTILE = {  # column name -> what it holds
    'say "hi"': "email",
    '"': "text",
    "a.b.c": "text",
    "col[0]": "phone",
    "with space": "text",
    "ünïcødé_名前": "ip",
    "$.email": "text",
    "$": "text",
    "it's": "email",
    "back\\slash": "text",
    "x" * 300: "email",
    "email\"); drop table raw.salesforce__contacts; --": "text",
}


def _contacts(n: int) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame({
        "Id": [f"003{k:015d}" for k in i], "AccountId": f"001{1:015d}", "FirstName": "Ann",
        "LastName": [f"Lee{k}" for k in i], "Email": [f"a{k}@example.com" for k in i], "Phone": "+1555",
        "MailingCountry": "US", "Age_Band__c": "25-34", "Gender__c": "female", "Region__c": "NA",
        "HasOptedOutOfEmail": False, "CreatedDate": "2026-01-01T00:00:00.000Z",
        "SystemModstamp": "2026-11-01T00:00:00.000Z"})


def _values(kind: str, n: int) -> list[str]:
    return {"email": [f"p{k}@mail.example.org" for k in range(n)],
            "phone": [f"+44 20 7946 {k:04d}" for k in range(n)],
            "ip": [f"10.0.{k // 250}.{k % 250 + 1}" for k in range(n)],
            "text": [f"plain {k}" for k in range(n)]}[kind]


def _scan_unmapped(wh: Warehouse) -> dict[str, tuple]:
    found = pii_scan.scan_pii(wh, ["raw"])
    return {c.column_name.removeprefix("_unmapped."): (c.name_kind, c.content_kind, c.values_sampled,
                                                      c.values_matching)
            for c in found if c.table_name == "salesforce__contacts" and c.column_name.startswith("_unmapped.")}


def _land(wh: Warehouse, folder, frame: pd.DataFrame):
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "contacts.csv", index=False)
    adapter = ExportFilesAdapter("crm", "salesforce", folder, wh, entities=["contacts"])
    [item] = pull_entity(adapter, adapter.streams()[0], wh, "r1")
    return item


def test_a_2000_column_export_is_scanned_and_its_planted_pii_columns_named(tmp_path):
    extra = {f"extra_{j:04d}": _values("text", ROWS) for j in range(2000)}
    extra["extra_0777"] = _values("phone", ROWS)
    extra["extra_1999"] = _values("ip", ROWS)
    extra["extra_1234"] = [f"call me at p{k}@mail.example.org" if k % 3 == 0 else "no" for k in range(ROWS)]
    extra["Backup_Email"] = _values("email", ROWS)
    extra["Mobile"] = [None] * ROWS  # a PII name with nothing sampled is still named
    frame = pd.concat([_contacts(ROWS), pd.DataFrame(extra)], axis=1)
    wh = Warehouse(tmp_path / "w.duckdb")
    item = _land(wh, tmp_path / "in", frame)
    assert item.refused is None and item.result.rows_loaded == ROWS and len(item.drift["added"]) == 2002
    assert _scan_unmapped(wh) == {
        "extra_0777": (None, "phone", ROWS, ROWS),
        "extra_1999": (None, "ip_address", ROWS, ROWS),
        "extra_1234": (None, "email", ROWS, ROWS // 3),
        "Backup_Email": ("email", "email", ROWS, ROWS),
        "Mobile": ("phone", None, 0, 0),
    }


def test_the_unmapped_sample_is_bounded_per_key(tmp_path):
    frame = pd.concat([_contacts(ROWS), pd.DataFrame({"Backup_Email": _values("email", ROWS)})], axis=1)
    wh = Warehouse(tmp_path / "w.duckdb")
    _land(wh, tmp_path / "in", frame)
    found = {c.column_name: c for c in pii_scan.scan_pii(wh, ["raw"], sample_rows=7)}
    assert (found["_unmapped.Backup_Email"].values_sampled, found["Email"].values_sampled) == (7, 7)


@pytest.mark.slow
def test_hostile_column_names_pass_ingest_the_scan_and_a_governance_run(tmp_path):
    hostile = pd.DataFrame({name: _values(kind, ROWS) for name, kind in HOSTILE.items()})
    wh = Warehouse(tmp_path / "w.duckdb")
    item = _land(wh, tmp_path / "in", pd.concat([_contacts(ROWS), hostile], axis=1))
    assert item.refused is None and item.result.rows_loaded == ROWS
    assert sorted(item.drift["added"]) == sorted(HOSTILE)
    found = _scan_unmapped(wh)
    assert found == {
        'say "hi"': (None, "email", ROWS, ROWS),
        "col[0]": (None, "phone", ROWS, ROWS),
        "ünïcødé_名前": (None, "ip_address", ROWS, ROWS),
        "$.email": ("email", None, ROWS, 0),  # named like an address: the part after the last dot says so
        "it's": (None, "email", ROWS, ROWS),
        "x" * 300: (None, "email", ROWS, ROWS),
    }
    # the whole loop over a demo workspace whose contacts export carries the same names
    ws = generate_workspace(tmp_path / "ws", seed=3, scale=0.05)
    path = ws.exports / "salesforce" / "contacts.csv"
    contacts = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.concat([contacts, pd.DataFrame({name: _values(kind, len(contacts)) for name, kind in HOSTILE.items()})],
              axis=1).to_csv(path, index=False)
    governed, findings = govern(ws.exports, tmp_path / "work", unit_tests=False)  # dbt unit tests: the template
    drift = [f for f in findings if f.check_id == "data_quality.schema_drift" and "contacts" in str(f.subject)]
    assert drift and all(name in drift[0].evidence["added_columns"] for name in ("col[0]", "it's"))
    stored = governed.query_df("select column_name from ledger.pii_columns where table_name = 'salesforce__contacts'")
    assert {'_unmapped.say "hi"', "_unmapped.col[0]", "_unmapped.ünïcødé_名前"} <= set(stored["column_name"])
