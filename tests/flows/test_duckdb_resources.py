"""DuckDB's resources from steward.yaml (`duckdb: {threads, memory_limit, temp_directory}`): validated like every
other config value, defaulted sensibly, applied to Steward's own connections and to dbt's profile, and a query whose
data does not fit in memory_limit spills to temp_directory instead of dying (docs/configuration.md)."""

from __future__ import annotations

import os

import duckdb
import pytest
import yaml

from cli_in_process import steward_in_process
from steward.contracts.errors import ConfigError, WarehouseError
from steward.flows.config import DuckDBConfig, load_config
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import Warehouse

# one million groups of four rows: its hash table needs a few hundred MiB, far above a 64 MiB memory_limit
BIG = "create table big as select i, 'person-' || (i % 1000000) as person from range(4000000) t(i)"
AGGREGATE = "select count(*), min(n), max(n) from (select person, count(*) as n, sum(i) from big group by person)"


def _config(tmp_path, duckdb_section: dict) -> os.PathLike:
    (tmp_path / "exports").mkdir(exist_ok=True)
    path = tmp_path / "steward.yaml"
    path.write_text(yaml.safe_dump({"duckdb": duckdb_section, "integrations": [
        {"name": "crm", "platform": "salesforce", "path": "exports"}]}), encoding="utf-8")
    return path


@pytest.mark.parametrize("section, field, said", [
    ({"memory_limit": "lots"}, "duckdb.memory_limit", "'lots' is not a memory size"),
    ({"memory_limit": "150%"}, "duckdb.memory_limit", "'150%' is not a memory size"),
    ({"threads": 0}, "duckdb.threads", "greater than or equal to 1"),
    ({"threds": 4}, "duckdb.threds", "Extra inputs are not permitted"),
])
def test_a_bad_duckdb_setting_is_one_line_naming_the_field(tmp_path, section, field, said):
    path = _config(tmp_path, section)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: ") and said in message and "\n" not in message


def test_the_cli_refuses_a_bad_memory_limit_with_exit_2(tmp_path):
    path = _config(tmp_path, {"memory_limit": "eight gigs"})
    # refused as the config loads, in the pytest process (a steward process meets an unreadable config:
    # test_unreadable_files.py)
    proc = steward_in_process("run", "-c", str(path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {path}: duckdb.memory_limit: Value error, 'eight gigs' is not a memory size: write it "
                      "like 8GB, 512MiB or 60% (of the machine's RAM)"], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "steward.duckdb").exists()  # refused before anything was opened


def test_defaults_use_every_cpu_and_one_gib_and_duckdbs_own_spill_folder(tmp_path):
    # 1 GiB, not a share of RAM: a 1M-contact run's whole process tree stays under 2 GiB, and a larger run spills
    # (at 75 % of RAM DuckDB kept pages up to 18 GiB on a 24 GiB machine; docs/configuration.md)
    cfg = load_config(_config(tmp_path, {}))
    settings = cfg.duckdb.settings(cfg.warehouse)
    assert settings["threads"] == str(len(os.sched_getaffinity(0)))
    assert settings["memory_limit"] == "1024MiB"
    assert load_config(_config(tmp_path, {"memory_limit": "75%"})).duckdb.settings(cfg.warehouse)["memory_limit"] == (
        f"{int(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') * 0.75 // 1024**2)}MiB")  # a share still
    assert "temp_directory" not in settings  # DuckDB spills to <warehouse>.tmp by itself
    with Warehouse(cfg.warehouse, settings=settings).connect() as con:
        temp = con.execute("select current_setting('temp_directory')").fetchone()[0]
    assert temp == f"{cfg.warehouse}.tmp"


def test_sizes_and_a_relative_temp_directory_resolve(tmp_path):
    cfg = load_config(_config(tmp_path, {"threads": 3, "memory_limit": "1GB", "temp_directory": "spill"}))
    assert cfg.duckdb.settings(cfg.warehouse) == {"threads": "3", "memory_limit": "953MiB",
                                                  "temp_directory": str(tmp_path.resolve() / "spill")}
    assert DuckDBConfig(memory_limit="512 MiB").settings(tmp_path / "w.duckdb")["memory_limit"] == "512MiB"
    with Warehouse(cfg.warehouse, settings=cfg.duckdb.settings(cfg.warehouse)).connect() as con:
        got = dict(con.execute("select name, value from duckdb_settings() where name in "
                               "('threads', 'memory_limit', 'temp_directory')").fetchall())
    assert got["threads"] == "3" and got["temp_directory"] == str(tmp_path.resolve() / "spill")
    assert got["memory_limit"].startswith("953")


def test_only_resource_settings_without_quotes_reach_set(tmp_path):
    with pytest.raises(WarehouseError, match="'enable_external_access' is not a warehouse setting"):
        Warehouse(tmp_path / "w.duckdb", settings={"enable_external_access": "true"})
    with pytest.raises(WarehouseError, match="temp_directory setting may not contain a quote"):
        Warehouse(tmp_path / "w.duckdb", settings={"temp_directory": "/tmp/x'; drop table y; --"})


def test_a_query_larger_than_memory_limit_spills_to_temp_directory_instead_of_dying(tmp_path):
    path, spill = tmp_path / "w.duckdb", tmp_path / "spill"
    with Warehouse(path).connect() as con:
        con.execute(BIG)
    # the same query with spilling off dies: the limit really is below what the data needs
    with duckdb.connect(str(path)) as con:
        con.execute("set memory_limit = '64MB'; set temp_directory = ''")
        with pytest.raises(duckdb.OutOfMemoryException):
            con.execute(AGGREGATE).fetchall()
    wh = Warehouse(path, settings={"threads": "2", "memory_limit": "64MiB", "temp_directory": str(spill)})
    with wh.connect() as con:
        assert con.execute(AGGREGATE).fetchone() == (1_000_000, 4, 4)
        assert spill.is_dir()  # DuckDB made it to hold what did not fit
        # a second connection of the same process (a landing thread, dbt) may set the same folder again
        with wh.connect() as other:
            assert other.execute("select current_setting('memory_limit')").fetchone()[0].startswith("64")


def test_dbt_profile_carries_the_settings_and_dbt_builds_with_them(tmp_path):
    path, spill = tmp_path / "w.duckdb", tmp_path / "spill"
    settings = {"threads": "2", "memory_limit": "256MiB", "temp_directory": str(spill)}
    profile = yaml.safe_load((dbt_build._write_profile(tmp_path / "dbt", path, settings) / "profiles.yml").read_text())
    output = profile["steward"]["outputs"]["duckdb"]
    # set on every cursor dbt opens; the build keeps no insertion order (no model reads rows in written order)
    assert output["settings"] == {"preserve_insertion_order": "false", "threads": "2", "memory_limit": "256MiB"}
    assert output["config_options"] == {"temp_directory": str(spill)}  # given once, when dbt opens the file
    Warehouse(path)
    outcome = dbt_build.build(path, tmp_path / "dbt", {"as_of": "2026-11-20T12:00:00+00:00"},
                              select=["stg_steward__batches"], settings=settings)
    assert outcome.models == 1 and not outcome.test_failures
