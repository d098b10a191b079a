"""Steward's DuckDB `table`, `view` and `incremental` materializations (dbt_project/macros/materializations/).

Each model is one `create or replace` statement in the model's transaction, where dbt-duckdb's and dbt's own
materializations built under a temporary name, renamed the old relation away and dropped it (about eight statements
and three adapter-macro contexts a model, ~20% of dbt's Python time on a demo build). What must still hold:
a model that changes kind (a view that becomes a table, or the reverse) replaces the old relation; a rebuild
replaces the rows; hooks still run; a model asking for what this does not build is refused, naming it. An
incremental model still merges by its strategy, syncs a changed schema as `on_schema_change` asks, and a full
refresh or a first build over a view replaces the relation whole.

They run in a tiny project of their own that holds only this macro file, so the test parses in a second and asks
nothing of Steward's models (which are built by these materializations in every other dbt test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from steward.integrations.transform import dbt_build

MACROS = dbt_build.dbt_project_dir() / "macros" / "materializations"


def _project(root: Path, models: dict[str, str]) -> Path:
    shutil.copytree(MACROS, root / "macros")
    (root / "models").mkdir()
    for name, sql in models.items():
        (root / "models" / f"{name}.sql").write_text(sql, encoding="utf-8")
    (root / "dbt_project.yml").write_text(
        "name: probe\nversion: '1.0.0'\nconfig-version: 2\nprofile: probe\nmodel-paths: [models]\nmacro-paths: [macros]\n",
        encoding="utf-8")
    (root / "profiles.yml").write_text(
        "probe:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: '{root / 'probe.duckdb'}'\n      schema: main\n      threads: 1\n", encoding="utf-8")
    return root


def _build(root: Path, *select: str, full_refresh: bool = False):
    from dbt.cli.main import dbtRunner

    args = ["build", "--project-dir", str(root), "--profiles-dir", str(root), "--target-path", str(root / "target"),
            "--log-path", str(root / "logs"), "--log-level", "none", "--no-write-json"]
    args += (["--select", *select] if select else []) + (["--full-refresh"] if full_refresh else [])
    try:
        res = dbtRunner().invoke(args)
    finally:
        dbt_build._release_duckdb()  # dbt-duckdb keeps the file open in the process after a build
    assert res.exception is None, res.exception
    return {r.node.name: (str(r.status), r.message) for r in res.result}


def _kinds(root: Path) -> dict[str, str]:
    with duckdb.connect(str(root / "probe.duckdb"), read_only=True) as con:
        rows = con.execute("select table_name, table_type from information_schema.tables "
                           "where table_schema = 'main'").fetchall()
    return {name: kind for name, kind in rows}


def _rows(root: Path, name: str) -> list[tuple]:
    with duckdb.connect(str(root / "probe.duckdb"), read_only=True) as con:
        return con.execute(f"select * from main.{name} order by 1").fetchall()


def test_a_model_that_changes_kind_replaces_the_old_relation_and_a_rebuild_replaces_its_rows(tmp_path):
    root = _project(tmp_path / "p", {
        "probe_table": "{{ config(materialized='table', post_hook=\"insert into {{ this }} values (99)\") }}\n"
                       "select 1 as x union all select 2",
        "probe_view": "{{ config(materialized='view') }}\nselect x * 10 as y from {{ ref('probe_table') }}",
    })
    with duckdb.connect(str(root / "probe.duckdb")) as con:  # each name held by the other kind before the build
        con.execute("create view main.probe_table as select 'old' as x")
        con.execute("create table main.probe_view as select 'old' as y")

    assert {name: status for name, (status, _) in _build(root).items()} == {"probe_table": "success",
                                                                           "probe_view": "success"}
    assert _kinds(root) == {"probe_table": "BASE TABLE", "probe_view": "VIEW"}
    assert _rows(root, "probe_table") == [(1,), (2,), (99,)]  # the post-hook ran inside the model's build
    assert _rows(root, "probe_view") == [(10,), (20,), (990,)]

    _build(root)  # a rebuild replaces the table's rows (not appended to) and the view in place
    assert _kinds(root) == {"probe_table": "BASE TABLE", "probe_view": "VIEW"}
    assert _rows(root, "probe_table") == [(1,), (2,), (99,)]
    assert not any("dbt_tmp" in name or "dbt_backup" in name for name in _kinds(root))


def test_a_model_asking_for_what_the_lean_build_does_not_do_is_refused_by_name(tmp_path):
    grants = "grants={'select': ['analyst']}"
    root = _project(tmp_path / "p", {"refused_table": f"{{{{ config(materialized='table', {grants}) }}}}\nselect 1 as x",
                                     "refused_view": f"{{{{ config(materialized='view', {grants}) }}}}\nselect 1 as x"})
    got = _build(root)
    assert {name: status for name, (status, _) in got.items()} == {"refused_table": "error", "refused_view": "error"}
    assert "table model refused_table sets grants" in got["refused_table"][1]
    assert "view model refused_view sets grants" in got["refused_view"][1]
    assert _kinds(root) == {}  # nothing was built without what it asked for


INCREMENTAL = ("{{{{ config(materialized='incremental', unique_key='id', incremental_strategy='delete+insert', "
               "on_schema_change='sync_all_columns') }}}}\n"
               "select id, v{extra} from main.raw_rows\n"
               "{{% if is_incremental() %}}where id >= (select max(id) from {{{{ this }}}}){{% endif %}}")


def test_an_incremental_model_merges_syncs_its_columns_and_a_full_refresh_replaces_it(tmp_path):
    root = _project(tmp_path / "p", {"probe_inc": INCREMENTAL.format(extra="")})
    model = root / "models" / "probe_inc.sql"
    with duckdb.connect(str(root / "probe.duckdb")) as con:
        con.execute("create table main.raw_rows as select * from (values (1, 'a'), (2, 'b')) as t(id, v)")
        con.execute("create view main.probe_inc as select 0 as id")  # a view under its name: replaced by the table

    assert _build(root)["probe_inc"][0] == "success"
    assert _kinds(root)["probe_inc"] == "BASE TABLE"
    assert _rows(root, "probe_inc") == [(1, "a"), (2, "b")]

    with duckdb.connect(str(root / "probe.duckdb")) as con:  # key 2 changed, key 3 is new
        con.execute("create or replace table main.raw_rows as "
                    "select * from (values (1, 'a'), (2, 'B'), (3, 'c')) as t(id, v)")
    _build(root)  # the strategy deletes key 2 and inserts keys 2 and 3
    assert _rows(root, "probe_inc") == [(1, "a"), (2, "B"), (3, "c")]

    model.write_text(INCREMENTAL.format(extra=", 'x' as w"), encoding="utf-8")  # a new column
    _build(root)  # synced: the table gains it; only the rows this build wrote have it
    assert _rows(root, "probe_inc") == [(1, "a", None), (2, "B", None), (3, "c", "x")]

    _build(root, full_refresh=True)  # the whole table again, from all of raw
    assert _rows(root, "probe_inc") == [(1, "a", "x"), (2, "B", "x"), (3, "c", "x")]
    assert set(_kinds(root)) == {"probe_inc", "raw_rows"}  # no temporary or backup relation left behind
