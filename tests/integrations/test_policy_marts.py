"""A policy check naming a mart the dbt project has no model for is refused when the policy loads (one line, the
check and the mart, the closest name), not after a whole ingest and build (integrations/transform/policy_marts.py).
The whole `steward run` refusal (exit 2, nothing pulled) is tests/flows/test_bad_input.py's."""

from __future__ import annotations

import pytest

from steward.contracts.errors import ConfigError
from steward.contracts.policy import load_policy
from steward.integrations.transform.dbt_build import dbt_project_dir
from steward.integrations.transform.policy_marts import governance_marts, refuse_unknown_marts


def test_every_mart_of_the_packaged_policy_is_a_model_of_the_project():
    policy = load_policy()
    refuse_unknown_marts(policy)
    assert {rule.mart for rule in policy.checks.values()} <= governance_marts()
    assert governance_marts() == {p.stem for p in (dbt_project_dir() / "models").rglob("gov_*.sql")}


def test_a_mart_the_project_lacks_is_named_with_the_closest_one(tmp_path):
    text = (dbt_project_dir().parent / "contracts" / "policy.yaml").read_text()
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace("mart: gov_transparency__reasons", "mart: gov_transparency__reason"))
    with pytest.raises(ConfigError) as caught:
        refuse_unknown_marts(load_policy(path))
    assert str(caught.value) == (f"{path}: checks.transparency.decisions_without_reason.mart: no mart "
                                 "governance.gov_transparency__reason in Steward's dbt project; did you mean "
                                 "gov_transparency__reasons?")
    path.write_text(text.replace("mart: gov_transparency__reasons", "mart: gov_zzz"))
    with pytest.raises(ConfigError, match=r"no mart governance\.gov_zzz in Steward's dbt project$"):
        refuse_unknown_marts(load_policy(path))
