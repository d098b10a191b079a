"""A launch spec's audience SQL on a PostgreSQL warehouse (issue #13, pre-launch audit): confined as on DuckDB.

Before, such a query was refused outright. Now it runs, on a real server (the ``pg_server`` fixture), behind the same
parser rules as on DuckDB plus PostgreSQL's own: a second parse of the PostgreSQL text, the server's plan, and a
read-only transaction with a statement and a lock timeout. Every hostile query below is refused or stopped, and the
warehouse is unchanged afterwards. The server's user here is a superuser (initdb's), so a file function that got
through would really read the file: the tests would see it.
"""

from __future__ import annotations

import pytest

from steward.contracts.errors import QueryFailed
from steward.integrations.warehouse import Warehouse, confined_pg, confined_sql
from steward.integrations.warehouse.confined_pg import render_for_postgres
from steward.integrations.warehouse.confined_sql import RefusedQuery, check_query, materialise_audience
from steward.integrations.warehouse.pg import pg_connect
from steward.integrations.warehouse.target import PostgresTarget

LEAKED_EMAIL = "leaky.customer@secret-domain.example"
PEOPLE = "staging.int_customers__unified"

# (query, what the refusal says): writes, other schemas, file and network functions, several statements
HOSTILE = {
    "insert": (f"insert into {PEOPLE} values ('x@example.com', 'EMEA')", "must be one select statement"),
    "update": (f"update {PEOPLE} set region = 'x'", "must be one select statement"),
    "delete": (f"delete from {PEOPLE}", "must be one select statement"),
    "delete_in_cte": (f"with gone as (delete from {PEOPLE} returning email_key) select email_key as email from gone",
                      "is not allowed"),
    "drop": (f"drop table {PEOPLE}", "must be one select statement"),
    "create_as": (f"create table staging.copy as select * from {PEOPLE}", "must be one select statement"),
    "select_into": (f"select email_key as email into staging.copy from {PEOPLE}", "INTO is not allowed"),
    "pg_catalog": ("select rolname as email from pg_catalog.pg_authid", "reads pg_catalog.pg_authid"),
    "pg_catalog_unqualified": ("select usename as email from pg_user", "reads table pg_user without a schema"),
    "information_schema": ("select table_name as email from information_schema.tables",
                           "reads information_schema.tables"),
    "public": ("select secret as email from public.secrets", "reads public.secrets"),
    "ledger": ("select spec as email from ledger.launch_audits", "reads ledger.launch_audits"),
    "raw": ("select email as email from raw.hubspot__contacts", "reads raw.hubspot__contacts"),
    # PostgreSQL 15 lets this one write a large object even in a read-only transaction: only the whitelist stops it
    "lo_from_bytea": ("select cast(lo_from_bytea(0, 'x') as varchar) as email", "calls function lo_from_bytea"),
    "pg_read_file": ("select pg_read_file('/etc/passwd') as email", "calls function pg_read_file"),
    "pg_read_binary_file": ("select encode(pg_read_binary_file('/etc/passwd'), 'escape') as email",
                            "calls function"),
    "pg_ls_dir": ("select pg_ls_dir('.') as email", "calls function pg_ls_dir"),
    "pg_ls_dir_in_from": ("select f as email from pg_ls_dir('.') as f", "reads table function pg_ls_dir"),
    "pg_stat_file": ("select cast(pg_stat_file('postgresql.conf') as varchar) as email", "calls function"),
    "lo_import": ("select cast(lo_import('/etc/passwd') as varchar) as email", "calls function lo_import"),
    "lo_export": ("select cast(lo_export(1, '/tmp/out') as varchar) as email", "calls function lo_export"),
    "dblink": ("select * from dblink('host=127.0.0.1 dbname=postgres', 'select 1') as t(email text)",
               "reads table function dblink"),
    "dblink_exec": ("select dblink_exec('dbname=postgres', 'drop table x') as email", "calls function dblink_exec"),
    "qualified_function": ("select pg_catalog.pg_read_file('/etc/passwd') as email", "calls function"),
    "current_setting": ("select current_setting('data_directory') as email", "calls function current_setting"),
    "set_config": ("select set_config('default_transaction_read_only', 'off', false) as email",
                   "calls function set_config"),
    "pg_sleep": ("select cast(pg_sleep(60) as varchar) as email", "calls function pg_sleep"),
    "copy_to_file": (f"copy (select email_key from {PEOPLE}) to '/tmp/people.csv'", "must be one select statement"),
    "copy_program": (f"copy {PEOPLE} from program 'id'", "must be one select statement"),
    "set_role": ("set role postgres", "must be one select statement"),
    "two_statements": (f"select email_key as email from {PEOPLE}; drop table {PEOPLE}",
                       "must be one select statement, found 2 statements"),
    "line_comment_then_statement": (f"select email_key as email from {PEOPLE} -- people\n; drop table {PEOPLE}",
                                    "found 2 statements"),
    "block_comment_closed_early": (f"select email_key as email from {PEOPLE} /* a */; drop table {PEOPLE} /* */",
                                   "found 2 statements"),
}


@pytest.fixture
def warehouse(pg_server) -> Warehouse:
    """A server database with a tiny staging model, a governance mart, a ledger table and a public table."""
    url = pg_server.fresh_database("aud")
    with pg_server.psycopg.connect(url, autocommit=True) as pg:
        pg.execute("create schema staging; create schema governance; create schema ledger")
        pg.execute(f"create table {PEOPLE} (email_key text, region text)")
        pg.execute(f"insert into {PEOPLE} values ('  Ada@Example.com ', 'EMEA'), ('bob@example.com', 'APAC'), "
                   f"('{LEAKED_EMAIL}', 'EMEA')")
        pg.execute("create sequence staging.people_seq")
        pg.execute("create view staging.emea as select * from staging.int_customers__unified where region = 'EMEA'")
        pg.execute("create table governance.gov_integration_health__freshness as select 1 as x")
        pg.execute("create table ledger.launch_audits (spec text); create table public.secrets (secret text)")
        pg.execute("insert into public.secrets values ('do-not-read')")
    return Warehouse(url)


def _people(wh: Warehouse) -> int:
    return wh.query_df(f"select count(*) as n from {PEOPLE}")["n"][0]


def test_an_audience_query_runs_on_postgres_normalised_and_kept_per_audit(warehouse):
    target = warehouse.path
    assert isinstance(target, PostgresTarget)
    query = f"select email_key as email from {PEOPLE} where region = 'EMEA' and email_key like '%@%'"
    assert materialise_audience(target, "a1", {"audience": query}) == {"audience": 2}
    view = "select email_key as email from staging.emea"  # a staging view: the plan reads its table, allowed
    assert materialise_audience(target, "a2", {"audience": query, "eligible": view}) == {"audience": 2, "eligible": 2}
    rows = warehouse.query_df("select audit_id, part, email_key from launch_input.audience order by part, email_key")
    assert set(rows["audit_id"]) == {"a2"}  # an earlier audit's people are not kept
    assert rows["email_key"].tolist() == ["ada@example.com", LEAKED_EMAIL] * 2


def test_the_example_specs_queries_run_on_postgres_as_on_duckdb(warehouse):
    """CTEs, windows, casts, intervals and comments: DuckDB's dialect, rendered for PostgreSQL without comments."""
    target = warehouse.path
    queries = {
        "audience": "-- the EMEA people\nwith recent as (select email_key, region, row_number() over "
                    f"(partition by region order by email_key) as n from {PEOPLE} /* nested /* comment */ */) "
                    "select lower(trim(email_key)) as email from recent where n <= 5 and region in ('EMEA') "
                    "and coalesce(region, '') <> '' and now() - interval 30 day < now()",
        "eligible": f"select cast(email_key as varchar) as email from {PEOPLE} where strpos(email_key, '@') > 0",
    }
    assert materialise_audience(target, "a1", queries) == {"audience": 2, "eligible": 3}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_query_is_refused_and_the_warehouse_is_unchanged(warehouse, name):
    query, reason = HOSTILE[name]
    with pytest.raises(RefusedQuery) as err:
        materialise_audience(warehouse.path, "a1", {"audience": query})
    assert reason in str(err.value) and "\n" not in str(err.value)
    assert "root:" not in str(err.value) and "do-not-read" not in str(err.value)
    assert _people(warehouse) == 3 and not warehouse.table_exists("staging", "copy")


@pytest.mark.parametrize(("text", "reason"), [
    ("select pg_read_file('/etc/passwd') as email", "pg_read_file"),
    ("select pg_catalog.pg_read_file('/etc/passwd') as email", "pg_read_file"),
    ("select cast(lo_import('/etc/passwd') as text) as email", "lo_import"),
    ("select cast(lo_from_bytea(0, 'x') as text) as email", "lo_from_bytea"),
    ("select current_setting('data_directory') as email", "current_setting"),
    ("select * from dblink('dbname=postgres', 'select 1') as t(email text)", "dblink"),
    ("select rolname as email from pg_catalog.pg_authid", "pg_catalog.pg_authid"),
    ("select secret as email from public.secrets", "public.secrets"),
    ("select 1 as email; select pg_read_file('/etc/passwd')", "one select statement"),
    # DuckDB's own functions that PostgreSQL does not have: refused by name, not left to fail on the server
    (render_for_postgres(check_query(f"select cast(hash(email_key) as varchar) as email from {PEOPLE}")),
     "calls function hash, which is not on the allowed list for PostgreSQL"),
])
def test_the_postgres_text_is_checked_again_by_its_own_parse(text, reason):
    """The second layer on its own, as if the DuckDB-side checks had let PostgreSQL text through."""
    with pytest.raises(RefusedQuery, match=reason):
        confined_pg.check_postgres_text(text)


@pytest.mark.parametrize(("text", "reason"), [
    ("select usename as email from pg_user", "pg_catalog.pg_shadow|pg_catalog.pg_authid"),
    ("select table_name as email from information_schema.tables", "pg_catalog"),
    ("select secret as email from secrets", "public.secrets"),
    ("select f as email from pg_ls_dir('.') as f", "reads table function pg_ls_dir"),
])
def test_the_servers_plan_is_checked_as_the_third_layer(warehouse, text, reason):
    """PostgreSQL's own reading (explain: parse and plan, nothing runs), past both parsers."""
    raw = pg_connect(warehouse.path)
    try:
        raw.execute("set search_path = public, pg_catalog")
        with pytest.raises(RefusedQuery, match=reason):
            confined_pg._confirm_with_postgres(raw, text)
    finally:
        raw.close()


def test_a_write_that_got_past_every_parser_is_refused_by_the_read_only_transaction(warehouse, pg_server):
    psycopg = pg_server.psycopg
    raw = pg_connect(warehouse.path)
    try:
        raw.execute("create temporary table steward_audience_rows (part text, email_key text)")
        write = f"select cast(nextval('staging.people_seq') as text) as email from {PEOPLE}"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            confined_pg._run_confined(raw, "audience", write, timeout_s=60)
        assert raw.execute("select last_value, is_called from staging.people_seq").fetchone() == (1, False)
    finally:
        raw.close()
    assert _people(warehouse) == 3


def test_a_long_running_query_is_cut_by_the_statement_timeout(warehouse):
    endless = ("with recursive n as (select 1 as i union all select i + 1 from n) "
               "select 'x' || cast(i as varchar) || '@example.com' as email from n")
    materialise_audience(warehouse.path, "before", {"audience": f"select email_key as email from {PEOPLE}"})
    with pytest.raises(QueryFailed, match=r"was stopped after 1 s; narrow the query"):
        materialise_audience(warehouse.path, "a1", {"audience": endless}, timeout_s=1)
    # the previous audit's audience is untouched
    assert warehouse.query_df("select distinct audit_id from launch_input.audience")["audit_id"].tolist() == ["before"]


def test_a_query_waiting_on_a_lock_gives_up_after_the_lock_timeout(warehouse, pg_server, monkeypatch):
    """A dbt build replacing a model holds an exclusive lock: the audit says so instead of waiting forever."""
    monkeypatch.setattr(confined_pg, "LOCK_TIMEOUT_S", 0.5)
    with pg_server.psycopg.connect(pg_server.url(warehouse.path.database)) as holder:
        holder.execute(f"lock table {PEOPLE} in access exclusive mode")
        with pytest.raises(QueryFailed, match=r"waited more than 0.5 s for a table another session is changing"):
            materialise_audience(warehouse.path, "a1", {"audience": f"select email_key as email from {PEOPLE}"})
        holder.rollback()


@pytest.mark.parametrize(("query", "kind"), [
    (f"select cast(cast(email_key as integer) as varchar) as email from {PEOPLE}", "InvalidTextRepresentation"),
    (f"select region from {PEOPLE}", "UndefinedColumn"),
    ("select email from staging.missing", "UndefinedTable"),
])
def test_a_failing_query_never_echoes_a_value(warehouse, query, kind):
    with pytest.raises(QueryFailed) as err:
        materialise_audience(warehouse.path, "a1", {"audience": query})
    message = str(err.value)
    assert kind in message and "@" not in message and "example" not in message and "\n" not in message


def test_the_postgres_whitelist_keeps_to_the_duckdb_rules():
    assert confined_pg._ALLOWED_SCHEMAS == confined_sql.ALLOWED_SCHEMAS
    dangerous = {"pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export",
                 "dblink", "dblink_exec", "lo_from_bytea", "lo_create", "lo_put", "current_setting", "set_config",
                 "nextval", "pg_sleep", "query_to_xml", "pg_terminate_backend", "txid_current", "pg_notify"}
    assert not dangerous & (confined_pg.PG_ALLOWED_FUNCTIONS | confined_sql.ALLOWED_FUNCTIONS)
    assert check_query(f"select email_key as email from {PEOPLE}")
