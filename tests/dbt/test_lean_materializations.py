"""Steward's DuckDB `table` and `view` materializations (dbt_project/macros/materializations/duckdb_table.sql).

Each model is one `create or replace` statement in the model's transaction, where dbt-duckdb's and dbt's own
materializations built under a temporary name, renamed the old relation away and dropped it (about eight statements
and three adapter-macro contexts a model, ~20% of dbt's Python time on a demo build). What must still hold:
a model that changes kind (a view that becomes a table, or the reverse) replaces the old relation; a rebuild
replaces the rows; hooks still run; a model asking for what this does not build is refused, naming it.

They run in a tiny project of their own that holds only this macro file, so the test parses in a second and asks
nothing of Steward's models (which are built by these materializations in every other dbt test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from steward.integrations.transform import dbt_build

MACRO = dbt_build.dbt_project_dir() / "macros" / "materializations" / "duckdb_table.sql"


def _project(root: Path, models: dict[str, str]) -> Path:
    (root / "macros").mkdir(parents=True)
    shutil.copy(MACRO, root / "macros" / MACRO.name)
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


def _build(root: Path, *select: str):
    from dbt.cli.main import dbtRunner

    args = ["build", "--project-dir", str(root), "--profiles-dir", str(root), "--target-path", str(root / "target"),
            "--log-path", str(root / "logs"), "--log-level", "none", "--no-write-json"]
    try:
        res = dbtRunner().invoke(args + (["--select", *select] if select else []))
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
