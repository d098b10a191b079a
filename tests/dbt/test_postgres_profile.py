"""dbt's profile for a PostgreSQL warehouse: dbt-postgres, the target's address, and the password only by name."""

from __future__ import annotations

import pytest
import yaml

from steward.contracts.errors import ConfigError
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse.target import PostgresTarget


def _profile(tmp_path, target) -> tuple[str, dict]:
    text = (dbt_build._write_profile(tmp_path / "dbt", target) / "profiles.yml").read_text(encoding="utf-8")
    return text, yaml.safe_load(text)["steward"]


def test_postgres_profile_names_the_password_variable_never_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("STEWARD_TEST_PG_PASSWORD", "s3cret-never-written")
    target = PostgresTarget.from_url("postgresql://gov@db.internal:6543/marketing", "STEWARD_TEST_PG_PASSWORD")
    text, profile = _profile(tmp_path, target)
    out = profile["outputs"][profile["target"]]
    assert out == {"type": "postgres", "host": "db.internal", "port": 6543, "user": "gov", "dbname": "marketing",
                   "pass": "{{ env_var('STEWARD_TEST_PG_PASSWORD') }}", "schema": "main", "threads": 2}
    assert "s3cret" not in text


def test_postgres_profile_without_a_password_variable_leaves_the_password_empty(tmp_path):
    """Trust, peer or .pgpass authentication: dbt-postgres needs the field, libpq treats empty as none."""
    _, profile = _profile(tmp_path, PostgresTarget.from_url("postgresql://gov@127.0.0.1/marketing"))
    out = profile["outputs"]["postgres"]
    assert (out["pass"], out["port"], out["schema"]) == ("", 5432, "main")


def test_a_missing_password_variable_is_one_line_before_dbt_starts(tmp_path, monkeypatch):
    monkeypatch.delenv("STEWARD_TEST_PG_PASSWORD", raising=False)
    target = PostgresTarget.from_url("postgresql://gov@127.0.0.1:1/marketing", "STEWARD_TEST_PG_PASSWORD")
    with pytest.raises(ConfigError, match="STEWARD_TEST_PG_PASSWORD is not set"):
        dbt_build.build(target, tmp_path / "dbt", {})
    assert not (tmp_path / "dbt" / "target").exists()  # dbt never ran
