"""A launch spec's audience SQL is confined (issue #16, case 2): it may read Steward's own models and nothing else.

Each attack the issue names is refused with one line naming the spec file and the field, exit 2, and no secret from
the environment in the output. Behind the parser, DuckDB itself refuses files, URLs and extensions in the locked
connection the query runs in, and a query that fails while running never echoes the value it failed on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from steward.flows.launch_spec import load_launch_spec
from steward.integrations.warehouse import confined_sql
from steward.integrations.warehouse.confined_sql import RefusedQuery, check_query, locked_connection, materialise_audience
from steward.contracts.errors import ConfigError, QueryFailed
from steward.integrations.warehouse import Warehouse

from shared_prefect import own_runs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "launches"
SECRET = "sk-live-0123456789-do-not-print"
LEAKED_EMAIL = "leaky.customer@secret-domain.example"

# (query, what the refusal says): every attack from the issue, and the ways to hide one
ATTACKS = {
    "environ": ("select content as email from read_text('/proc/self/environ')", "reads table function read_text"),
    "passwd": ("select content as email from read_text('/etc/passwd')", "reads table function read_text"),
    "glob": ("select file as email from glob('/root/*')", "reads table function glob"),
    "httpfs_url": ("select * from 'https://example.com/people.csv'", "which is not a table name"),
    "read_csv": ("select email from read_csv('/etc/passwd')", "reads table function read_csv"),
    "path_as_table": ("select * from '/etc/passwd'", "which is not a table name"),
    "attach": ("attach '/tmp/other.duckdb' as other", "must be one select statement, not ATTACH"),
    "copy_to": ("copy (select 1 as email) to '/tmp/out.csv'", "must be one select statement, not COPY"),
    "second_statement": ("select 1 as email; select 2", "must be one select statement, found 2 statements"),
    "pragma": ("pragma database_list", "must be one select statement, not PRAGMA"),
    "set": ("set enable_external_access = true", "must be one select statement, not SET"),
    "install": ("install httpfs", "must be one select statement, not INSTALL"),
    "load": ("load httpfs", "must be one select statement, not LOAD"),
    "subquery": ("select email_key as email from staging.int_customers__unified where email_key in "
                 "(select content from read_text('/proc/self/environ'))", "reads table function read_text"),
    "cte": ("with env as (select content as email from read_text('/proc/self/environ')) select email from env",
            "reads table function read_text"),
    "union": ("select email_key as email from staging.int_customers__unified union all "
              "select content from read_text('/etc/passwd')", "reads table function read_text"),
    "ledger": ("select spec as email from ledger.launch_audits", "reads ledger.launch_audits: only tables in schemas"),
    "ledger_outbox": ("select email_key as email from staging.int_customers__unified where exists "
                      "(select 1 from ledger.alert_outbox)", "reads ledger.alert_outbox"),
    "raw": ("select email as email from raw.hubspot__contacts", "reads raw.hubspot__contacts"),
    "catalog": ("select email_key as email from steward.staging.int_customers__unified", "without a database"),
    "no_schema": ("select * from duckdb_settings", "reads table duckdb_settings without a schema"),
    "getenv": ("select getenv('STEWARD_TEST_SECRET') as email", "calls function getenv"),
    "setting": ("select current_setting('secret_directory') as email", "calls function current_setting"),
    "sequence": ("select nextval('ledger.alert_outbox_seq')::varchar as email", "calls function nextval"),
    "query_function": ("select * from query('select * from ledger.runs')", "reads table function query"),
    "into": ("select 1 as email into staging.x", "INTO is not allowed"),
    "parameter": ("select email_key as email from staging.int_customers__unified where region = ?",
                  "parameter placeholder"),
    "cte_forward_reference": ("with a as (select * from duckdb_settings), duckdb_settings as (select 1 as x) "
                              "select * from a", "reads table duckdb_settings without a schema"),
}


def spec_file(folder: Path, query: str, field: str = "audience") -> Path:
    data = yaml.safe_load((EXAMPLES / "go-consented-upgrade.yaml").read_text())
    if field == "eligible":
        data["audience"]["eligible"] = {"query": query}
    else:
        data["audience"] = {"query": query}
    path = folder / "launch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_is_refused_at_spec_validation_naming_the_rule(tmp_path, name):
    query, reason = ATTACKS[name]
    path = spec_file(tmp_path, query)
    with pytest.raises(ConfigError) as err:
        load_launch_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: audience.query: "), message
    assert reason in message and "\n" not in message


def test_an_eligible_query_is_confined_too(tmp_path):
    path = spec_file(tmp_path, ATTACKS["environ"][0], field="eligible")
    with pytest.raises(ConfigError, match=r"audience\.eligible\.query: reads table function read_text"):
        load_launch_spec(path)


@pytest.mark.parametrize("name", ["environ", "glob", "ledger", "httpfs_url", "attach", "cte"])
def test_audit_launch_refuses_with_exit_2_and_prints_no_secret(tmp_path, monkeypatch, name):
    from steward.flows.cli import app

    monkeypatch.setenv("STEWARD_TEST_SECRET", SECRET)
    query, reason = ATTACKS[name]
    spec = spec_file(tmp_path, query)
    run = CliRunner().invoke(app, ["audit-launch", str(spec), "-c", str(_config(tmp_path)), "--no-notify"])
    assert run.exit_code == 2, run.output
    assert run.output.startswith(f"error: {spec}: audience.query: ") and reason in run.output
    assert len(run.output.strip().splitlines()) == 1
    assert SECRET not in run.output and "root:x:0" not in run.output


def test_the_environ_attack_in_a_real_process_prints_no_secret(tmp_path):
    """The issue's own reproduction, as a user runs it: a `steward` process whose environment holds a secret."""
    spec = spec_file(tmp_path, ATTACKS["environ"][0])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "SLACK_"))}
    env["STEWARD_TEST_SECRET"] = SECRET
    proc = subprocess.run([sys.executable, "-m", "steward.flows.cli", "audit-launch", str(spec),
                           "-c", str(_config(tmp_path))], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{spec}: audience.query: reads table function read_text, which is not allowed" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_the_example_queries_pass_and_run_as_written(name):
    spec = load_launch_spec(EXAMPLES / name)
    for query in filter(None, (spec.audience.query, spec.audience.eligible and spec.audience.eligible.query)):
        assert "staging.int_customers__unified" in check_query(query)


@pytest.mark.parametrize("query", [
    "with recent as (select email_key, max(sent_at) as last_sent from staging.stg_hubspot__email_events group by 1) "
    "select email_key as email from recent where last_sent < now() - interval 30 day",
    "select email from (select email_key as email, row_number() over (partition by region order by email_key) as n "
    "from staging.int_customers__unified) where n <= 100",
    "select lower(trim(email_key)) as email from staging.int_customers__unified where region in ('EMEA', 'APAC') "
    "and coalesce(country, '') <> '' and email_key like '%@%' and cast(age_band as varchar) between '25' and '54'",
    "select email_key as email from staging.int_customers__unified as c where exists "
    "(select 1 from governance.gov_consent__channel_purpose) and c.email_key is not null",
])
def test_ordinary_audience_sql_is_allowed(query):
    check_query(query)


def test_duckdb_own_parser_refuses_what_it_reads_as_a_table_function():
    """The second parser: fed the text directly, as if sqlglot had let it through."""
    with confined_sql._memory_connection() as con:
        for sql, reason in (("select * from read_text('/etc/passwd')", "table function read_text"),
                            ("select * from ledger.runs", "reads ledger.runs"),
                            ("select getenv('HOME')", "function getenv"),
                            ("select * from staging.x where a = $1", "parameter placeholder"),
                            ("select 1; select 2", "must be one select")):
            with pytest.raises(RefusedQuery, match=reason):
                confined_sql.confirm_with_duckdb(con, sql)


@pytest.mark.parametrize("sql", [
    "select * from read_text('/proc/self/environ')", "select * from read_text('/etc/passwd')",
    "select * from glob('/root/*')", "select * from read_csv('/etc/passwd')",
    "select * from 'https://example.com/people.csv'", "install httpfs", "load httpfs",
    "attach '/tmp/other.duckdb' as other", "copy (select 1) to '{tmp}/out.csv'", "set enable_external_access = true",
    "set autoload_known_extensions = true", "select * from duckdb_secrets()",
])
def test_the_locked_connection_refuses_files_urls_and_extensions_even_past_the_parser(tmp_path, monkeypatch, sql):
    monkeypatch.setenv("STEWARD_TEST_SECRET", SECRET)
    wh = Warehouse(tmp_path / "w.duckdb")
    with locked_connection(wh.path) as con:
        with pytest.raises(duckdb.Error) as err:
            con.execute(sql.format(tmp=tmp_path)).fetchall()
    assert isinstance(err.value, (duckdb.PermissionException, duckdb.InvalidInputException)), err.value
    assert SECRET not in str(err.value) and "root:x:0" not in str(err.value)
    assert not (tmp_path / "out.csv").exists()
    with duckdb.connect(str(wh.path)) as con:  # the warehouse itself still opens as usual afterwards
        assert con.execute("select current_setting('enable_external_access')").fetchone()[0] is True


def _people_warehouse(folder: Path) -> Warehouse:
    wh = Warehouse(folder / "w.duckdb")
    with wh.connect() as con:
        con.execute("create schema if not exists staging; create schema if not exists governance")
        con.execute("create table staging.int_customers__unified as select * from (values "
                    f"('  Ada@Example.com ', 'EMEA'), ('bob@example.com', 'APAC'), ('{LEAKED_EMAIL}', 'EMEA')) "
                    "as t(email_key, region)")
        con.execute("create table governance.gov_integration_health__freshness as select 1 as x")
    return wh


def test_materialised_emails_are_normalised_and_kept_per_audit(tmp_path):
    wh = _people_warehouse(tmp_path)
    query = check_query("select email_key as email from staging.int_customers__unified where region = 'EMEA'")
    assert materialise_audience(wh.path, "a1", {"audience": query}) == {"audience": 2}
    assert materialise_audience(wh.path, "a2", {"audience": query, "eligible": query}) == \
        {"audience": 2, "eligible": 2}
    rows = wh.query_df("select audit_id, part, email_key from launch_input.audience order by part, email_key")
    assert set(rows["audit_id"]) == {"a2"}  # an earlier audit's people are not kept
    assert rows["email_key"].tolist() == ["ada@example.com", LEAKED_EMAIL] * 2


@pytest.mark.parametrize(("query", "kind"), [
    ("select cast(email_key as integer)::varchar as email from staging.int_customers__unified", "ConversionException"),
    ("select email_key as email from staging.int_customers__unified where strptime(email_key, '%Y') is null",
     "InvalidInputException"),
])
def test_a_failing_query_never_echoes_the_value_it_failed_on(tmp_path, query, kind):
    wh = _people_warehouse(tmp_path)
    with wh.connect() as con:  # DuckDB's own message for this query does quote the customer's email
        with pytest.raises(duckdb.Error) as raw:
            con.execute(query).fetchall()
    assert "@" in str(raw.value)
    with pytest.raises(QueryFailed) as err:
        materialise_audience(wh.path, "a1", {"audience": check_query(query)})
    assert kind in str(err.value) and "@" not in str(err.value) and "example" not in str(err.value)


def test_a_runaway_query_is_interrupted(tmp_path):
    wh = _people_warehouse(tmp_path)
    endless = check_query("with recursive n as (select 1 as i union all select i + 1 from n) "
                          "select 'x' || i::varchar || '@example.com' as email from n")
    with pytest.raises(QueryFailed, match=r"was stopped after 1 s"):
        materialise_audience(wh.path, "a1", {"audience": endless}, timeout_s=1)
    with wh.connect() as con:  # the warehouse is usable afterwards and kept nothing of the stopped query
        assert con.execute("select count(*) from launch_input.audience").fetchone()[0] == 0


def test_a_planning_error_keeps_its_shape_but_not_its_values(tmp_path):
    wh = _people_warehouse(tmp_path)
    with pytest.raises(QueryFailed, match=r'BinderException: .*"email" not found'):
        materialise_audience(wh.path, "a1", {"audience": check_query(
            "select region from staging.int_customers__unified")})
    with pytest.raises(QueryFailed, match=r"CatalogException: .*missing"):
        materialise_audience(wh.path, "a1", {"audience": check_query("select email from staging.missing")})


def test_a_failing_query_stops_the_audit_with_exit_2_and_no_value_in_output_or_prefect(tmp_path, monkeypatch,
                                                                                      prefect_harness):
    """Through the CLI and the real flow: the query passes the checks, fails on a customer's email while running,
    and neither the terminal nor the flow run Prefect stored shows that email."""
    from prefect import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    from steward.flows.cli import app

    monkeypatch.setenv("STEWARD_TEST_SECRET", SECRET)
    _people_warehouse(tmp_path)
    spec = spec_file(tmp_path, "select cast(email_key as integer)::varchar as email "
                               "from staging.int_customers__unified")
    run = CliRunner().invoke(app, ["audit-launch", str(spec), "-c", str(_config(tmp_path)), "--no-notify"])
    assert run.exit_code == 2, run.output
    assert f"{spec.resolve()}: audience.query: failed while running (ConversionException" in run.output
    assert LEAKED_EMAIL not in run.output and SECRET not in run.output
    assert "Traceback" not in run.output

    async def stored_messages() -> str:
        async with get_client() as client:
            runs = await client.read_flow_runs(flow_run_filter=own_runs(), limit=50)  # this worker's
            return " ".join(f"{r.state.message if r.state else ''} {r.parameters}" for r in runs)

    stored = run_coro_as_sync(stored_messages())
    assert "audience.query: failed while running" in stored
    assert LEAKED_EMAIL not in stored
    assert Warehouse(tmp_path / "w.duckdb").query_df("select count(*) as n from ledger.launch_audits")["n"][0] == 0


def _config(folder: Path) -> Path:
    (folder / "exports").mkdir(exist_ok=True)
    path = folder / "steward.yaml"
    path.write_text(yaml.safe_dump({"warehouse": "w.duckdb", "integrations": [
        {"name": "crm", "platform": "salesforce", "path": "exports"}]}))
    return path
