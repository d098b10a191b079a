"""A pre-launch audit's dbt build reuses the parse of an earlier audit of the same shape (integrations/transform/
parsed.py ``parse_vars``): the ``launch`` var changes with every audit (its audit id, channels, thresholds), but the
launch models read it only when dbt compiles them, except whether it is set (their ``config(enabled=...)``) and
which audience parts come from a query (``launch__audience`` reads ``source('launch_input', 'audience')`` for
those). The verdicts themselves are held exact by tests/flows/test_prelaunch_audit.py, whose audits of one workspace
now share one parse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from steward.contracts.policy import load_policy
from steward.flows.launch_checks import launch_vars
from steward.flows.launch_spec import load_launch_spec
from steward.integrations.transform import dbt_build
from steward.integrations.transform.parsed import COMPILE_VARS, LAUNCH_SHAPE, parse_key, parse_vars

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
    # a governance build's parse depends on the codings alone of the policy's vars; its stored build state on all
    assert parse_vars(governance) == {"codings": POLICY.dbt_vars()["codings"]}
    assert parse_vars(governance, compile_vars=True) == POLICY.dbt_vars()
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


def _other(value):
    """Another value of the same kind: what a team could set instead (an empty list or mapping, another number)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "-other"
    return type(value)()


def _parsed_shape(manifest) -> dict:
    """What a build takes from the parse: each node's references and config, and which nodes exist. Not the macros
    a node called while dbt parsed it (``depends_on.macros``: an empty list of codes calls none): dbt reads those
    for state comparison and partial parsing only; a build calls the macros it renders, from every macro parsed."""
    nodes = {**manifest.nodes, **manifest.unit_tests}
    return {uid: (sorted(n.depends_on.nodes), n.config.to_dict(), str(getattr(n, "refs", None)),
                  str(getattr(n, "sources", None))) for uid, n in nodes.items()} | \
        {"disabled": sorted(manifest.disabled)}


def test_a_threshold_or_list_of_the_policy_does_not_change_the_parse(tmp_path):
    """COMPILE_VARS are left out of the parse key, so a parse must not depend on them: dbt parses the project with
    every one of them changed at once, and every node's references, macros and config, and the set of nodes, are
    those of the policy's own values. The changed vars do reach the models' SQL (compiled by a build, not here)."""
    from dbt.cli.main import dbtRunner

    default = {**POLICY.dbt_vars(), "as_of": AS_OF.isoformat()}
    assert set(COMPILE_VARS) < set(default) and "codings" not in COMPILE_VARS
    changed = {**default, **{name: _other(default[name]) for name in COMPILE_VARS}}
    assert all(changed[name] != default[name] for name in COMPILE_VARS)
    runner = getattr(dbtRunner, "_steward_original", dbtRunner)  # not the suite's cache: it keys by parse_vars
    shapes = []
    for name, dbt_vars in (("default", default), ("changed", changed)):
        work = tmp_path / name
        profiles = dbt_build._write_profile(work, tmp_path / "steward.duckdb")  # noqa: SLF001
        res = runner().invoke(["parse", "--project-dir", str(dbt_build.dbt_project_dir()), "--profiles-dir",
                               str(profiles), "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
                               "--vars", json.dumps(dbt_vars, default=str), "--no-write-json", "--log-level", "none"])
        dbt_build._release_duckdb()  # noqa: SLF001
        assert res.success, res.exception
        shapes.append(_parsed_shape(res.result))
    assert len(shapes[0]) > 150
    assert shapes[0] == shapes[1], sorted(k for k in shapes[0] if shapes[0][k] != shapes[1].get(k))[:10]
