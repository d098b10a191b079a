"""A pre-launch audit's dbt build reuses the parse of an earlier audit of the same shape (integrations/transform/
parsed.py ``parse_vars``): the ``launch`` var changes with every audit (its audit id, channels, thresholds), but the
launch models read it only when dbt compiles them, except whether it is set (their ``config(enabled=...)``) and
which audience parts come from a query (``launch__audience`` reads ``source('launch_input', 'audience')`` for
those). The verdicts themselves are held exact by tests/flows/test_prelaunch_audit.py, whose audits of one workspace
now share one parse."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from steward.contracts.policy import load_policy
from steward.flows.launch_checks import launch_vars
from steward.flows.launch_spec import load_launch_spec
from steward.integrations.transform import dbt_build
from steward.integrations.transform.parsed import LAUNCH_SHAPE, parse_key, parse_vars

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "launches"
POLICY = load_policy()
AS_OF = pd.Timestamp("2026-01-05T12:00:00Z")


@pytest.fixture
def profiles(tmp_path) -> Path:
    return dbt_build._write_profile(tmp_path, tmp_path / "steward.duckdb")  # noqa: SLF001


def _vars(example: str, audit_id: str, as_of=AS_OF) -> dict:
    return launch_vars(load_launch_spec(EXAMPLES / example), POLICY, as_of, audit_id)


def _key(profiles: Path, dbt_vars: dict) -> str:
    return parse_key(dbt_build.dbt_project_dir(), profiles, dbt_vars)


def test_audits_of_the_same_shape_share_a_parse_key(profiles):
    first = _vars("nogo-priority-leads.yaml", "launch-a-1")
    later = _vars("nogo-priority-leads.yaml", "launch-a-2", AS_OF + pd.Timedelta(hours=3))
    assert first["launch"] != later["launch"]  # the audit id differs: dbt's own partial parsing starts over
    assert _key(profiles, first) == _key(profiles, later)
    # another spec whose audience is a query too, other channels, dimensions and plan: the same parse
    other = _vars("go-consented-upgrade.yaml", "launch-b-1")
    same_shape = all(bool(other["launch"][k]) == bool(first["launch"][k]) for k in LAUNCH_SHAPE)
    assert (_key(profiles, other) == _key(profiles, first)) == same_shape
    assert other["launch"]["channels"] != first["launch"]["channels"] or \
        other["launch"]["launch_id"] != first["launch"]["launch_id"]


def test_what_decides_a_launch_models_references_changes_the_key(profiles):
    query = _vars("nogo-priority-leads.yaml", "launch-q")
    segment = _vars("conditional-high-intent.yaml", "launch-s")
    assert query["launch"]["audience_from_query"] and not segment["launch"]["audience_from_query"]
    assert _key(profiles, query) != _key(profiles, segment)  # source('launch_input', 'audience') or not
    governance = {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()}
    assert _key(profiles, governance) not in (_key(profiles, query), _key(profiles, segment))  # models disabled
    assert parse_vars(governance) == POLICY.dbt_vars()  # a governance build's key is what it always was
    flipped = {**query, "launch": {**query["launch"], "eligible_from_query": not query["launch"]["eligible_from_query"]}}
    assert _key(profiles, flipped) != _key(profiles, query)


def test_the_shape_names_every_launch_field_a_reference_or_config_depends_on():
    """A launch model that makes a ref(), source() or config() depend on another field of the var would build from
    a parse that does not match it: every field read inside such a branch must be in LAUNCH_SHAPE."""
    folder = dbt_build.dbt_project_dir() / "models" / "launch"
    guarded = []
    for path in sorted(folder.glob("*.sql")):
        sql = path.read_text()
        # every {% if %} ... {% endif %} block, innermost first, that calls ref/source/config
        for block in re.findall(r"{%-?\s*if\s+(.*?)-?%}((?:(?!{%-?\s*if).)*?){%-?\s*endif", sql, re.S):
            condition, body = block
            if not re.search(r"\b(ref|source|config)\(", body):
                continue
            read = set(re.findall(r"l\.get\(\s*['\"](\w+)['\"]", condition)) | \
                set(re.findall(r"\bl\.(\w+)", condition)) | set(re.findall(r"\bl\[\s*['\"](\w+)['\"]", condition))
            if re.search(r"\bl(\.get\(|\[)\s*part\b", condition):  # the audience part's own field: part ~ '_...'
                read |= {f"{part}{suffix}" for part in ("audience", "eligible")
                         for suffix in re.findall(r"part\s*~\s*['\"](\w+)['\"]", condition)}
            read.discard("get")
            assert read <= set(LAUNCH_SHAPE), (path.name, condition, read - set(LAUNCH_SHAPE))
            guarded.append((path.name, sorted(read)))
    # the one such block today: launch__audience's query-chosen parts (the pattern above does find it)
    assert ("launch__audience.sql", ["audience_from_query", "eligible_from_query"]) in guarded, guarded
