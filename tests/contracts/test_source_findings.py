"""From a Salesforce export that breaks its source contracts to the exact findings the policy raises about it.

The real path throughout: export files pulled by the export adapter, judged by the contracts, landed (bad rows to
``ledger.quarantine``, drift into the batch record), ``gov_data_quality__landing`` built by dbt, judged by the packaged
policy's two source-contract checks. Every planted breach, and the number it must produce:

    contacts       20 rows, 6 break one check each: an Id without Salesforce's 003 prefix, a repeated Id, no
                   LastName, a malformed Email, MailingCountry "UK" (not ISO 3166: the code is GB), an AccountId
                   without the 001 prefix (an Age_Band__c outside the policy's codings lands: it is reported by
                   data_quality.unknown_codes, tests/dbt/test_codings_marts.py). 6 / 20 = 0.30 quarantined
                   -> critical (> 0.05), owner crm-ops
    accounts       40 rows, one with BillingCountry "Germany": 1 / 40 = 0.025 -> warn (> 0), owner crm-ops
    leads          LeadSource renamed Lead_Source__c, and a new Score__c: 1 missing + 2 added = 3 drifted columns
                   -> warn, the rename paired in the evidence; no row is quarantined for it
    opportunities  a first batch with numeric Amounts, then one where the export writes "n/a" for an unknown
                   amount: Amount retyped number -> text (1 drifted column, warn) and that row quarantined,
                   1 / 3 -> critical, owner revenue-ops

The clean twin lands the same entities with every value right, and the policy says nothing about it.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import write_text
from steward.contracts.governance import evaluate
from steward.contracts.policy import load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse.landing import ensure_raw_tables
from steward.flows.pull import pull_integration
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.sample_queries import governance_sample_query

pytestmark = pytest.mark.slow

QUARANTINE, DRIFT = "data_quality.quarantined_rows", "data_quality.schema_drift"
POLICY = load_policy()
CHECKS_POLICY = POLICY.model_copy(update={"checks": {k: POLICY.checks[k] for k in (QUARANTINE, DRIFT)}})
STAMP = "2026-01-01T00:00:00.000Z,2026-11-01T00:00:00.000Z"

CONTACTS = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
            "HasOptedOutOfEmail,CreatedDate,SystemModstamp")
ACCOUNTS = "Id,Name,Industry,AnnualRevenue,BillingCountry,CreatedDate,SystemModstamp"
LEADS = ("Id,FirstName,LastName,Email,Age_Band__c,Gender__c,Region__c,HasOptedOutOfEmail,CreatedDate,SystemModstamp,"
         "Company,Status,LeadSource,IsConverted")
OPPORTUNITIES = "Id,AccountId,Name,StageName,Amount,CloseDate,CampaignId,CreatedDate,SystemModstamp"


def _contact(i: int, *, sf_id: str | None = None, last: str = "Lee", email: str | None = None,
             country: str = "US", age: str = "25-34", account: str = f"001{1:015d}") -> str:
    return (f"{sf_id or f'003{i:015d}'},{account},Ann,{last},{email or f'a{i}@example.com'},+1555,{country},{age},"
            f"female,NA,false,{STAMP}")


def _account(i: int, country: str = "DE") -> str:
    return f"001{i:015d},Acme {i},Retail,1000.0,{country},{STAMP}"


def _lead(i: int) -> str:
    return f"00Q{i:015d},Bo,Ray,b{i}@example.com,35-44,male,EMEA,false,{STAMP},Acme,Open - Not Contacted,Web,false"


def _opportunity(i: int, amount: str, modstamp: str = "2026-11-01T00:00:00.000Z") -> str:
    return (f"006{i:015d},001{1:015d},Deal {i},Prospecting,{amount},2026-12-01,701{1:015d},"
            f"2026-01-01T00:00:00.000Z,{modstamp}")


def _write(folder, name: str, header: str, rows: list[str]) -> None:
    write_text(folder / f"{name}.csv", "\n".join([header, *rows]) + "\n")


def _broken_exports(folder) -> None:
    contacts = [_contact(i) for i in range(1, 15)] + [
        _contact(15, sf_id=f"X03{15:015d}"), _contact(16, sf_id=f"003{1:015d}"), _contact(17, last=""),
        _contact(18, email="not-an-email"), _contact(19, country="UK"), _contact(20, account=f"00X{1:015d}")]
    _write(folder, "contacts", CONTACTS, contacts)
    _write(folder, "accounts", ACCOUNTS, [_account(i) for i in range(1, 40)] + [_account(40, "Germany")])
    _write(folder, "leads", LEADS.replace("LeadSource", "Lead_Source__c") + ",Score__c",
           [_lead(i) + ",87" for i in range(1, 6)])


def _clean_exports(folder) -> None:
    _write(folder, "contacts", CONTACTS, [_contact(i) for i in range(1, 21)])
    _write(folder, "accounts", ACCOUNTS, [_account(i) for i in range(1, 41)])
    _write(folder, "leads", LEADS, [_lead(i) for i in range(1, 6)])


def _pull(wh: Warehouse, folder, entities: list[str], run_id: str) -> None:
    pull_integration(ExportFilesAdapter("crm", "salesforce", folder, wh, entities=entities), wh, run_id)


def _judge(root, wh: Warehouse) -> list:
    ensure_raw_tables(wh)
    outcome = dbt_build.build(wh.path, root / "dbt", {**POLICY.dbt_vars(), "as_of": "2026-11-20T12:00:00+00:00"},
                              select=["+gov_data_quality__landing"])
    assert not outcome.skipped and not outcome.test_failures, (outcome.skipped, outcome.test_failures)
    return evaluate(CHECKS_POLICY, lambda m: wh.query_df(f"select * from governance.{m}"), "run-2",
                    governance_sample_query)


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("source-findings")
    wh = Warehouse(root / "w.duckdb")
    _broken_exports(root / "first")
    _write(root / "first", "opportunities", OPPORTUNITIES, [_opportunity(1, "1200.5"), _opportunity(2, "80")])
    _pull(wh, root / "first", ["contacts", "accounts", "leads", "opportunities"], "run-1")
    later = "2026-11-02T00:00:00.000Z"  # the next day's export: the unknown amount is now written as text
    _write(root / "second", "opportunities", OPPORTUNITIES,
           [_opportunity(3, "500", later), _opportunity(4, "n/a", later), _opportunity(5, "75.25", later)])
    _pull(wh, root / "second", ["opportunities"], "run-2")
    return wh, _judge(root, wh)


def test_each_broken_row_is_quarantined_with_the_one_check_it_broke(broken):
    wh, _ = broken
    q = wh.query_df("select entity, source_row, reasons from ledger.quarantine order by entity, source_row")
    contacts = q[q["entity"] == "contacts"]
    assert contacts[["source_row", "reasons"]].values.tolist() == [
        [15, "Id: str_startswith('003')"], [16, "Id: multiple_fields_uniqueness"], [17, "LastName: not_nullable"],
        [18, r"Email: str_matches('^[^@\s]+@[^@\s]+\.[^@\s]+$')"],
        [19, "MailingCountry: isin(ISO 3166-1 alpha-2)"],
        [20, "AccountId: str_startswith('001')"]]
    assert q[q["entity"] == "accounts"][["source_row", "reasons"]].values.tolist() == [
        [40, "BillingCountry: isin(ISO 3166-1 alpha-2)"]]
    assert q[q["entity"] == "opportunities"][["source_row", "reasons"]].values.tolist() == [
        [2, "Amount: coerce_dtype('float64'); Amount: dtype('float64')"]]
    assert set(q["entity"]) == {"contacts", "accounts", "opportunities"}  # the drifted leads lost no row
    raw = wh.query_df('select count(*) as n from raw.salesforce__leads where _unmapped is not null')
    assert raw["n"].iat[0] == 5  # the renamed and the new column's values are kept aside, not dropped


def test_the_policy_finds_exactly_the_planted_breaches(broken):
    got = sorted((f.check_id, f.subject, f.severity.value, round(f.observed, 4), f.owner) for f in broken[1])
    assert got == [
        (QUARANTINE, "crm/accounts", "warn", 0.025, "crm-ops"),
        (QUARANTINE, "crm/contacts", "critical", 0.3, "crm-ops"),
        (QUARANTINE, "crm/opportunities", "critical", round(1 / 3, 4), "revenue-ops"),
        (DRIFT, "crm/leads", "warn", 3, "crm-ops"),
        (DRIFT, "crm/opportunities", "warn", 1, "revenue-ops"),
    ]


def test_findings_carry_the_counts_and_the_diff(broken):
    wh, findings = broken
    by = {(f.check_id, f.subject): f for f in findings}
    contacts = by[(QUARANTINE, "crm/contacts")]
    assert (contacts.evidence["rows_read"], contacts.evidence["rows_quarantined"]) == (20, 6)
    assert contacts.explanation.startswith("6 of 20 rows of contacts broke their contract and were quarantined (30.0%)")
    leads = by[(DRIFT, "crm/leads")].evidence
    assert json.loads(leads["missing_columns"]) == ["LeadSource"]
    assert json.loads(leads["added_columns"]) == ["Lead_Source__c", "Score__c"]
    assert json.loads(leads["renamed_columns"]) == {"LeadSource": "Lead_Source__c"}
    opportunities = by[(DRIFT, "crm/opportunities")].evidence
    assert json.loads(opportunities["retyped_columns"]) == {"Amount": {"from": "number", "to": "text"}}
    for finding in findings:  # the reproducing SQL returns the one landing row the finding was judged on
        assert len(wh.query_df(finding.sample_query)) == 1


def test_a_clean_export_gives_no_finding_yet_every_entity_is_judged(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    _clean_exports(tmp_path / "first")
    _write(tmp_path / "first", "opportunities", OPPORTUNITIES, [_opportunity(1, "1200.5"), _opportunity(2, "80")])
    _pull(wh, tmp_path / "first", ["contacts", "accounts", "leads", "opportunities"], "run-1")
    later = "2026-11-02T00:00:00.000Z"
    _write(tmp_path / "second", "opportunities", OPPORTUNITIES, [_opportunity(3, "500", later)])
    _pull(wh, tmp_path / "second", ["opportunities"], "run-2")
    assert _judge(tmp_path, wh) == []
    landing = wh.query_df("select entity, rows_read, rows_quarantined, drifted_columns from governance."
                          "gov_data_quality__landing where integration = 'crm' order by entity")
    assert landing.values.tolist() == [["accounts", 40, 0, 0], ["contacts", 20, 0, 0], ["leads", 5, 0, 0],
                                       ["opportunities", 1, 0, 0]]
    assert pd.isna(wh.query_df("select max(reasons) as r from ledger.quarantine")["r"].iat[0])
