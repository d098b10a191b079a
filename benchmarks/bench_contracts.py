"""A source contract at warehouse scale: Steward's compiled contract against plain DuckDB SQL and pandera on pandas.

    python benchmarks/bench_contracts.py --rows 200000        # quick
    python benchmarks/bench_contracts.py                      # the issue's size, 10M rows

Builds a DuckDB table of N synthetic ``salesforce.contacts`` rows (13 columns; about 0.8% break a check: a bad
prefix, a repeated Id, a missing LastName, an email, country, age band or region outside the contract), then, in one
run, judges it three ways:
  ours   = ``validate_table`` (the contract compiled to one query, failing rows with their labels, counts per label);
  plain  = one hand-written DuckDB query for the same predicates, failing rows with the checks they broke;
  pandas = ``schema.validate(frame, lazy=True)`` on a pandas DataFrame of the same rows (loading the frame from
           DuckDB is timed apart, ``pandas_load_seconds``). On a machine where N rows do not fit in pandas,
           ``--pandas-rows M`` judges the first M rows and extrapolates the rate to N; the JSON line says so
           (``pandas_extrapolated``).
Ours and plain run ``--repeat`` times each, alternating with the baseline first, and their medians are compared.
Ends with one JSON line: rows, seconds, rows/s, ratios ours/plain and pandas/plain, peak RSS MiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandera.pandas as pa

from steward.contracts.frames.iso_codes import ISO_COUNTRIES
from steward.contracts.registry import contract_for
from steward.integrations.warehouse.validation import validate_table

CONTRACT = "salesforce.contacts"

BUILD = """
create table contacts as
select
  case when i % 1000 = 1 then 'X03' else '003' end
    || lpad((case when i % 1000 = 2 then i - 2 else i end)::varchar, 15, '0') as "Id",
  'Ann' as "FirstName",
  case when i % 1000 = 3 then null else 'Lee' end as "LastName",
  case when i % 1000 = 4 then 'not-an-email' when i % 7 = 0 then null else 'p' || i || '@example.com' end as "Email",
  case when i % 1000 = 5 then '99-100' else ['18-24', '25-34', '35-44', '45-54', '55-64', '65+'][i % 6 + 1] end
    as "Age_Band__c",
  ['female', 'male', 'nonbinary', 'unknown'][i % 4 + 1] as "Gender__c",
  case when i % 1000 = 6 then 'MARS' else ['NA', 'EMEA', 'APAC', 'LATAM'][i % 4 + 1] end as "Region__c",
  i % 3 = 0 as "HasOptedOutOfEmail",
  timestamptz '2026-01-01 00:00:00+00' + to_seconds(i % 86400) as "CreatedDate",
  timestamptz '2026-06-01 00:00:00+00' + to_seconds(i % 86400) as "SystemModstamp",
  case when i % 1000 = 7 then '002x' else '001' || lpad((i % 50000)::varchar, 15, '0') end as "AccountId",
  '+1555' || (i % 10000) as "Phone",
  case when i % 1000 = 8 then 'usa' else ['US', 'DE', 'FR', 'GB'][i % 4 + 1] end as "MailingCountry"
from range({rows}) t(i)
"""

# What an engineer would write by hand for the same contract: plain RE2 regexes, plain IN lists, one window. The
# 249 ISO country codes are a set (``not in (select unnest([...]))``): DuckDB tests an IN list of that many literals
# value by value, about 8x slower per row, and a hand-written query would not choose that either.
PLAIN = r"""
create or replace temp table plain_failures as
with flagged as (
  select rowid as r, *,
    row_number() over (partition by "Id" order by rowid) > 1 as dup
  from contacts)
select r, concat_ws('; ',
    case when "Id" is null then 'Id: not_nullable' end,
    case when not starts_with("Id", '003') then 'Id: str_startswith' end,
    case when dup and "Id" is not null then 'Id: unique' end,
    case when "LastName" is null then 'LastName: not_nullable' end,
    case when not regexp_matches("Email", '^[^@\s]+@[^@\s]+\.[^@\s]+$') then 'Email: str_matches' end,
    case when "Age_Band__c" not in ('18-24', '25-34', '35-44', '45-54', '55-64', '65+') then 'Age_Band__c: isin' end,
    case when "Gender__c" not in ('female', 'male', 'nonbinary', 'unknown') then 'Gender__c: isin' end,
    case when "Region__c" not in ('NA', 'EMEA', 'APAC', 'LATAM') then 'Region__c: isin' end,
    case when "HasOptedOutOfEmail" is null then 'HasOptedOutOfEmail: not_nullable' end,
    case when "CreatedDate" is null then 'CreatedDate: not_nullable' end,
    case when "SystemModstamp" is null then 'SystemModstamp: not_nullable' end,
    case when not starts_with("AccountId", '001') then 'AccountId: str_startswith' end,
    case when "MailingCountry" not in (select unnest({countries})) then 'MailingCountry: isin' end) as reasons
from flagged
where "Id" is null or not starts_with("Id", '003') or (dup and "Id" is not null) or "LastName" is null
   or not regexp_matches("Email", '^[^@\s]+@[^@\s]+\.[^@\s]+$')
   or "Age_Band__c" not in ('18-24', '25-34', '35-44', '45-54', '55-64', '65+')
   or "Gender__c" not in ('female', 'male', 'nonbinary', 'unknown')
   or "Region__c" not in ('NA', 'EMEA', 'APAC', 'LATAM')
   or "HasOptedOutOfEmail" is null or "CreatedDate" is null or "SystemModstamp" is null
   or not starts_with("AccountId", '001') or "MailingCountry" not in (select unnest({countries}))
"""


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_pandas(con: duckdb.DuckDBPyConnection, rows: int) -> tuple[tuple[int, float], float]:
    """pandera on pandas over the first ``rows`` rows: ((failing rows, seconds to validate), seconds to load)."""
    frame, load_s = timed(lambda: con.execute(f"select * exclude (rowid_) from (select rowid as rowid_, * from "
                                              f"contacts) where rowid_ < {rows} order by rowid_").df())
    schema = contract_for(CONTRACT).schema()

    def validate() -> int:
        try:
            schema.validate(frame, lazy=True)
            return 0
        except pa.errors.SchemaErrors as err:
            return int(err.failure_cases["index"].dropna().nunique())

    return timed(validate), load_s


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours and plain SQL each (median kept)")
    parser.add_argument("--pandas-rows", type=int, default=None,
                        help="rows pandera on pandas judges (default: all); the rate is extrapolated when fewer")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="steward-bench-contracts-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        _, build_s = timed(lambda: con.execute(BUILD.format(rows=args.rows)))
        con.execute("checkpoint")
        plain = PLAIN.replace("{countries}", "[" + ", ".join(f"'{c}'" for c in ISO_COUNTRIES) + "]")
        # alternate the two, the baseline first, so neither alone pays for the cold cache; keep each one's median
        ours_runs, plain_runs = [], []
        for _ in range(args.repeat):
            plain_runs.append(timed(lambda: con.execute(plain))[1])
            verdict, seconds = timed(lambda: validate_table(con, "contacts", contract_for(CONTRACT)))
            ours_runs.append(seconds)
        ours_s, plain_s = statistics.median(ours_runs), statistics.median(plain_runs)
        plain_rows = con.execute("select count(*) from plain_failures").fetchone()[0]
        assert plain_rows == len(verdict.failing), (plain_rows, len(verdict.failing))
        rss_sql = peak_rss_mib()
        pandas_n = min(args.rows, args.pandas_rows or args.rows)
        (pandas_failing, pandas_s), load_s = run_pandas(con, pandas_n)
        ours_in_subset = int((verdict.failing["__row"] < pandas_n).sum())
        assert pandas_failing == ours_in_subset, (pandas_failing, ours_in_subset)
        con.close()
    pandas_at_n = pandas_s * args.rows / pandas_n
    result = {
        "contract": CONTRACT, "rows": args.rows, "failing_rows": len(verdict.failing),
        "build_seconds": round(build_s, 2),
        "repeat": args.repeat, "ours_seconds": round(ours_s, 3), "plain_seconds": round(plain_s, 3),
        "ours_runs": [round(x, 3) for x in ours_runs], "plain_runs": [round(x, 3) for x in plain_runs],
        "pandas_seconds": round(pandas_at_n, 2), "pandas_rows": pandas_n,
        "pandas_extrapolated": pandas_n < args.rows, "pandas_measured_seconds": round(pandas_s, 2),
        "pandas_load_seconds": round(load_s, 2),
        "ours_rows_per_s": round(args.rows / ours_s), "plain_rows_per_s": round(args.rows / plain_s),
        "pandas_rows_per_s": round(pandas_n / pandas_s),
        "ratio_ours_plain": round(ours_s / plain_s, 2), "ratio_pandas_plain": round(pandas_at_n / plain_s, 1),
        "peak_rss_mib_before_pandas": rss_sql, "peak_rss_mib": peak_rss_mib(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
