"""Rows landed under an older contract are re-judged in the warehouse, per integration, and can be quarantined."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from privacy_workspace import ts
from steward.contracts.registry import contract_for
from steward.integrations.warehouse.validation import check_batch
from steward.flows.cli import app
from steward.integrations.warehouse.landing import land_batch
from steward.integrations.warehouse.revalidation import revalidate
from steward.integrations.sources.streams import EXPORT_STREAMS
from steward.integrations.warehouse import Warehouse
from steward.contracts.batch import Batch

STREAM = next(s for s in EXPORT_STREAMS if s.key == "salesforce.contacts")


def _contacts(n: int) -> pd.DataFrame:
    return pd.DataFrame([{
        "Id": f"003{i:015d}", "AccountId": None, "FirstName": "X", "LastName": "Y", "Email": f"p{i}@x.io",
        "Phone": None, "MailingCountry": "GB", "Age_Band__c": "25-34", "Gender__c": "female", "Region__c": "EMEA",
        "HasOptedOutOfEmail": False, "CreatedDate": ts("2025-01-01"), "SystemModstamp": ts("2026-01-01")}
        for i in range(n)])


def _land(wh: Warehouse, integration: str, frame: pd.DataFrame) -> None:
    batch = Batch(integration, STREAM, frame, f"<{integration}>", f"fp-{integration}-{len(frame)}")
    verdict = check_batch(batch)
    assert verdict.quarantined.empty
    land_batch(wh, batch, verdict.valid, verdict.quarantined, verdict.drift, verdict.contract.version, "r1")


@pytest.fixture()
def landed(tmp_path):
    """Two Salesforce orgs with the same ids (unique per org, not across), then two rows of one org changed in raw
    to what an older, laxer contract let through. (Not an age band or gender code: since the policy's codings, an
    unknown code is reported, not refused by the contract.)"""
    wh = Warehouse(tmp_path / "w.duckdb")
    _land(wh, "crm-eu", _contacts(5))
    _land(wh, "crm-us", _contacts(3))
    with wh.connect() as con:
        con.execute("""update raw."salesforce__contacts" set "MailingCountry" = 'UK'
                       where _integration = 'crm-eu' and "Id" = '003000000000000001'""")
        con.execute("""update raw."salesforce__contacts" set "Email" = 'not an address', "LastName" = null
                       where _integration = 'crm-eu' and "Id" = '003000000000000003'""")
    return wh


def test_each_integration_is_judged_on_its_own_and_only_broken_rows_fail(landed):
    results = {r.integration: r for r in revalidate(landed, ["salesforce.contacts"])}
    assert (results["crm-us"].rows, results["crm-us"].failing_rows) == (3, 0)  # same ids as crm-eu: no duplicate
    eu = results["crm-eu"]
    assert (eu.rows, eu.failing_rows, eu.quarantined) == (5, 2, 0)
    assert eu.contract_version == contract_for("salesforce.contacts").version
    # one broken value each, labelled as landing labels them ("<column>: <check>(<values>)")
    assert sorted((label.split(":")[0], n) for label, n in eu.by_check.items()) == [
        ("Email", 1), ("LastName", 1), ("MailingCountry", 1)]
    with landed.connect() as con:
        assert con.execute('select count(*) from raw."salesforce__contacts"').fetchone()[0] == 8  # nothing moved


def test_quarantine_moves_the_failing_rows_with_their_reasons_and_keeps_the_rest(landed):
    revalidate(landed, ["salesforce.contacts"], quarantine=True)
    with landed.connect() as con:
        left = con.execute("""select _integration, "Id" from raw."salesforce__contacts"
                              order by 1, 2""").fetchall()
        moved = con.execute("select integration, entity, reasons, record from ledger.quarantine "
                            "order by source_row").fetchall()
    assert len(left) == 6 and ("crm-eu", "003000000000000001") not in left and \
        ("crm-eu", "003000000000000003") not in left
    assert [(m[0], m[1]) for m in moved] == [("crm-eu", "contacts")] * 2
    records = {json.loads(m[3])["Id"]: m[2] for m in moved}
    assert set(records) == {"003000000000000001", "003000000000000003"}
    assert "MailingCountry" in records["003000000000000001"]
    assert "Email" in records["003000000000000003"] and "LastName" in records["003000000000000003"]
    # judged again, nothing fails: the rest kept flowing and nothing was moved twice
    again = revalidate(landed, ["salesforce.contacts"], quarantine=True)
    assert [(r.failing_rows, r.quarantined) for r in again] == [(0, 0), (0, 0)]


def test_the_cli_exits_1_while_failing_rows_stay_and_0_once_quarantined(landed, tmp_path):
    config = tmp_path / "steward.yaml"
    config.write_text(yaml.safe_dump({"warehouse": str(landed.path), "integrations": [
        {"name": "crm-eu", "platform": "salesforce", "path": str(tmp_path)}]}))
    first = CliRunner().invoke(app, ["contracts", "validate", "-c", str(config), "--json"])
    assert first.exit_code == 1, first.output
    rows = [json.loads(line) for line in first.stdout.splitlines() if line.startswith("{")]
    assert {(r["integration"], r["failing_rows"]) for r in rows} == {("crm-eu", 2), ("crm-us", 0)}
    moved = CliRunner().invoke(app, ["contracts", "validate", "-c", str(config), "--quarantine"])
    assert moved.exit_code == 0, moved.output
    unknown = CliRunner().invoke(app, ["contracts", "validate", "-c", str(config), "-e", "salesforce.nope"])
    assert unknown.exit_code == 2 and "no source contract for 'salesforce.nope'" in unknown.output
