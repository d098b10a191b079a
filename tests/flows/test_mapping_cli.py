"""Mappings through the real ``steward`` command (issue #14, item 1): a hostile or wrong mapping is one ``error:`` line
naming the config file and the field, exit 2, before anything is opened; a mapped column the export lacks stops the
run with exit 2 and one line naming the file and the column, after the integration's other entities landed."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
import yaml

from cli_in_process import steward_in_process
from test_cli_end_to_end import steward

pytestmark = pytest.mark.slow

PEOPLE = {"file": "profiles.csv", "timezone": "UTC", "columns": {"person_id": "Profile", "email": "E-mail",
                                                                 "updated_at": "Changed"}}
TOUCHES = {"file": "sends.csv", "columns": {"touch_id": "Event ID", "person_id": "Profile", "channel": {"const": "email"},
                                            "touched_at": "Sent At"}}


def _workspace(tmp_path, touches: dict) -> None:
    (tmp_path / "exports").mkdir()
    pd.DataFrame({"Profile": ["p1", "p2"], "E-mail": ["ana@example.com", "bo@example.com"],
                  "Changed": ["2026-11-01 10:00", "2026-11-02 10:00"]}).to_csv(tmp_path / "exports" / "profiles.csv",
                                                                            index=False)
    pd.DataFrame({"Event ID": ["E1"], "Profile": ["p1"]}).to_csv(tmp_path / "exports" / "sends.csv", index=False)
    config = {"integrations": [{"name": "klaviyo", "platform": "custom", "path": "exports",
                                "mappings": {"people": PEOPLE, "touches": touches}}]}
    (tmp_path / "steward.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _one_error(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


@pytest.mark.parametrize("command", [["run"], ["health"]])
def test_a_hostile_expression_is_refused_by_every_command_that_loads_the_config(tmp_path, command):
    _workspace(tmp_path, {**TOUCHES, "columns": {**TOUCHES["columns"],
                                                  "campaign_id": {"expr": "read_csv('/etc/passwd')"}}})
    # `steward run` in a process, as a user meets it; `steward health` refuses it as its config loads, in the pytest
    # process (tests/cli_in_process.py)
    cli = steward if command == ["run"] else steward_in_process
    error = _one_error(cli(*command, "-c", str(tmp_path / "steward.yaml"), cwd=tmp_path))
    assert error == (f"error: {tmp_path / 'steward.yaml'}: integrations[0].mappings.touches.columns.campaign_id.expr: "
                     "calls function read_csv, which is not on the allowed list")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "steward.yaml"]  # nothing opened or written


def test_a_missing_source_column_exits_2_naming_file_and_column_and_the_other_entity_lands(tmp_path, prefect_api):
    _workspace(tmp_path, TOUCHES)  # sends.csv has no "Sent At"
    proc = steward("run", "-c", str(tmp_path / "steward.yaml"), cwd=tmp_path, env=prefect_api)
    error = _one_error(proc)
    assert error.startswith(f"error: {tmp_path / 'exports' / 'sends.csv'}: has no column 'Sent At' "
                            "(mappings.touches.columns.touched_at); found: Event ID, Profile"), error
    with duckdb.connect(str(tmp_path / "steward.duckdb"), read_only=True) as con:
        assert con.execute("select person_id from raw.custom__people order by 1").fetchall() == [("p1",), ("p2",)]
        assert con.execute("select count(*) from ledger.batches where entity = 'touches'").fetchone() == (0,)
        assert con.execute("select status from ledger.runs").fetchall() == [("failed",)]
