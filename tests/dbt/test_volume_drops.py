"""A truncated export is a finding (issue #16, case 16).

Half of a contacts CSV cut away used to be quarantined as one row (the cut line) and otherwise pass: the merge by
key keeps the records the file lacks, and no check compared the file's size with the exports before it. Now
``gov_data_quality__volume_drops`` compares an export entity's newest batch with the median of its previous ones,
and ``data_quality.volume_drop`` judges the drop against the policy's thresholds.
"""

from __future__ import annotations

import pytest

from steward.contracts.governance import judge
from steward.contracts.policy import load_policy
from steward.flows.pull import pull_entity
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse
from tiny import build, mart

HEADER = ("Id,AccountId,FirstName,LastName,Email,Phone,MailingCountry,Age_Band__c,Gender__c,Region__c,"
          "HasOptedOutOfEmail,CreatedDate,SystemModstamp")
ROWS = 200
CHECK = "data_quality.volume_drop"


def _export(modstamp: str) -> bytes:
    rows = [f"003{i:015d},001{1:015d},Ann,Lee,a{i}@example.com,+1555,US,25-34,female,NA,false,"
            f"2026-01-01T00:00:00.000Z,{modstamp}T00:00:00.000Z" for i in range(ROWS)]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def _pull(wh: Warehouse, folder, integration: str, content: bytes, run: str, delivery: str = "snapshot"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "contacts.csv").write_bytes(content)
    adapter = ExportFilesAdapter(integration, "salesforce", folder, wh, entities=["contacts"], delivery=delivery)
    [item] = pull_entity(adapter, adapter.streams()[0], wh, run)
    return item


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """Three integrations in one warehouse: ``cut`` lands a full export then the same export cut in half (mid-line);
    ``same`` lands a full export then a changed export of the same size; ``delta`` (``delivery: delta``) lands a
    full export then a day's delta of ten changed rows. One dbt build serves all three."""
    root = tmp_path_factory.mktemp("volume")
    wh = Warehouse(root / "tiny.duckdb")
    full, later = _export("2026-11-01"), _export("2026-11-02")
    first = _pull(wh, root / "cut", "cut", full, "r1")
    cut = _pull(wh, root / "cut", "cut", later[: len(later) // 2], "r2")
    _pull(wh, root / "same", "same", full, "r1")
    _pull(wh, root / "same", "same", later, "r2")
    _pull(wh, root / "delta", "delta", full, "r1", delivery="delta")
    day = _export("2026-11-03").splitlines(keepends=True)
    _pull(wh, root / "delta", "delta", b"".join(day[:11]), "r2", delivery="delta")
    policy = load_policy()
    build(wh, root / "dbt", policy, ["stg_steward__batches", "gov_data_quality__volume_drops"])
    drops = mart(wh, "gov_data_quality__volume_drops", order="integration")
    findings = judge(CHECK, policy.checks[CHECK], drops, "r2", policy)
    return first, cut, drops, findings


def test_a_half_truncated_export_is_a_critical_finding_with_the_observed_drop(judged):
    first, cut, _, findings = judged
    assert first.result.rows_read == ROWS
    assert cut.refused is None and ROWS // 2 - 1 <= cut.result.rows_read <= ROWS // 2 + 1  # it lands, as before
    [finding] = findings
    assert finding.severity.value == "critical"
    assert finding.observed == pytest.approx(1 - cut.result.rows_read / ROWS)
    assert finding.evidence["rows_read"] == cut.result.rows_read and finding.evidence["baseline_rows"] == ROWS
    assert "cut/contacts" in str(finding.subject)


def test_an_unchanged_size_export_is_no_finding(judged):
    _, _, drops, findings = judged
    same = drops[drops["integration"] == "same"].iloc[0]
    assert (same["rows_read"], same["baseline_rows"], same["volume_drop"]) == (ROWS, ROWS, 0)
    assert all("same" not in str(f.subject) for f in findings)


def test_a_delta_delivery_is_not_judged_by_its_size(judged):
    """A team that exports only each day's changes (``delivery: delta``) sends files a few percent of the entity's
    size: they merge by key, and the volume check leaves them out instead of calling every day a 95% drop."""
    _, _, drops, findings = judged
    assert "delta" not in set(drops["integration"])
    assert all("delta" not in str(f.subject) for f in findings)


def test_delivery_is_checked_when_the_adapter_is_built(tmp_path):
    from steward.contracts.errors import SourceError

    with pytest.raises(SourceError, match="delivery must be one of snapshot, delta"):
        ExportFilesAdapter("x", "salesforce", tmp_path, None, delivery="daily")


@pytest.mark.parametrize("integration, said", [
    ({"name": "crm", "platform": "salesforce", "path": "exports", "delivery": "daily"},
     "integrations.0.delivery: Input should be 'snapshot' or 'delta'"),
    ({"name": "crm", "platform": "salesforce", "kind": "api", "base_url": "http://127.0.0.1:1",
      "delivery": "delta"}, "delivery applies to export files only"),
])
def test_a_bad_delivery_in_steward_yaml_is_one_line_naming_the_field(tmp_path, integration, said):
    import yaml

    from steward.contracts.errors import ConfigError
    from steward.flows.config import load_config

    path = tmp_path / "steward.yaml"
    path.write_text(yaml.safe_dump({"integrations": [integration]}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert said in str(caught.value) and "\n" not in str(caught.value)
