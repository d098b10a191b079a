"""Governance audits at warehouse scale: Steward's run of them against the plain DuckDB queries they are built on.

    python benchmarks/bench_audits.py --customers 100000 --events 1000000      # quick
    python benchmarks/bench_audits.py --customers 1000000 --events 10000000    # the issue's size

The demo workspace (scale 1) is landed, then its people and email events are copied in SQL, with every person
identifier suffixed per copy, until the warehouse holds the requested numbers. Then, in one run:
  ours  = `dbt run` of every model (staging views, unified customers, gov_* marts) + judging the marts by policy;
  plain = the same compiled SQL executed directly by DuckDB, statement by statement, no dbt and no policy.
Ends with one JSON line (sizes, seconds, rows/s, ratio ours/plain, peak RSS MiB).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from governed import land_exports  # noqa: E402

from steward.contracts.governance import evaluate  # noqa: E402
from steward.contracts.policy import load_policy  # noqa: E402
from steward.integrations.transform import dbt_build  # noqa: E402
from steward.integrations.demo.generator import BASE_PEOPLE, generate_workspace  # noqa: E402
from steward.integrations.warehouse import Warehouse  # noqa: E402

# raw table -> {column: how a copy k rewrites it}; ids get "~k", emails "+ck@"
_ID = "{c} || '~' || k"
_MAIL = "replace({c}, '@', '+c' || k || '@')"
PEOPLE_TABLES = {
    "salesforce__contacts": {"Id": _ID, "Email": _MAIL},
    "salesforce__leads": {"Id": _ID, "Email": _MAIL},
    "salesforce__campaign_members": {"Id": _ID, "ContactId": _ID, "LeadId": _ID},
    "hubspot__contacts": {"id": _ID, "email": _MAIL, "salesforcecontactid": _ID, "salesforceleadid": _ID},
    "hubspot__subscriptions": {"recipient": _MAIL},
    "cdp__profiles": {"profile_id": _ID, "user_id": _ID, "email": _MAIL},
    "decisions__ai_decisions": {"decision_id": _ID, "subject_id": _ID},
}
EVENT_TABLES = {"hubspot__email_events": {"id": _ID, "recipient": _MAIL}}


def amplify(wh: Warehouse, table: str, rewrites: dict[str, str], copies: int) -> int:
    with wh.connect() as con:
        cols = [r[0] for r in con.execute(f'describe raw."{table}"').fetchall()]
        replace = ", ".join(f'{rw.format(c=chr(34) + c + chr(34))} as "{c}"' for c, rw in rewrites.items() if c in cols)
        con.execute(f'create table raw."{table}__x" as select * replace ({replace}) '
                    f'from raw."{table}", range({copies}) as copies(k)')
        con.execute(f'drop table raw."{table}"')
        con.execute(f'alter table raw."{table}__x" rename to "{table}"')
        return con.execute(f'select count(*) from raw."{table}"').fetchone()[0]


def compiled_statements(work: Path) -> list[tuple[str, str, str]]:
    """(materialisation, relation, compiled SQL) of every model, in dbt's dependency order."""
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    nodes = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}
    order, seen = [], set()

    def visit(key: str) -> None:
        if key in seen or key not in nodes:
            return
        seen.add(key)
        for dep in nodes[key]["depends_on"]["nodes"]:
            visit(dep)
        order.append(key)

    for key in sorted(nodes):
        visit(key)
    out = []
    for key in order:
        node = nodes[key]
        sql_path = work / "target" / "compiled" / node["package_name"] / node["original_file_path"]
        out.append((node["config"]["materialized"], node["relation_name"], sql_path.read_text()))
    return out


def run_plain(wh: Warehouse, statements: list[tuple[str, str, str]]) -> float:
    start = time.perf_counter()
    with wh.connect() as con:
        for kind, relation, sql in statements:
            con.execute(f"create or replace {'view' if kind == 'view' else 'table'} {relation} as {sql}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="steward-bench-audits-"))
    ws = generate_workspace(root / "demo", seed=7, scale=1.0)
    wh = Warehouse(root / "w.duckdb")
    land_exports(wh, ws.exports)

    start = time.perf_counter()
    copies_people = math.ceil(args.customers / BASE_PEOPLE)
    copies_events = math.ceil(args.events / ws.counts["hubspot.email_events"])
    for table, rewrites in PEOPLE_TABLES.items():
        amplify(wh, table, rewrites, copies_people)
    events = amplify(wh, "hubspot__email_events", EVENT_TABLES["hubspot__email_events"], copies_events)
    customers = wh.query_df("select count(*) as n from raw.cdp__profiles")["n"].iloc[0]
    t_amplify = time.perf_counter() - start

    policy = load_policy()
    dbt_vars = {**policy.dbt_vars(), "as_of": pd.Timestamp.now(tz="UTC").isoformat()}
    work = root / "dbt"
    dbt_build.build(wh.path, work, dbt_vars, select=["stg_steward__batches"])  # parse and warm up once, untimed
    t0 = time.perf_counter()
    dbt_build.run_models(wh.path, work, dbt_vars)
    t_dbt = time.perf_counter() - t0
    t0 = time.perf_counter()
    findings = evaluate(policy, lambda m: wh.query_df(f"select * from governance.{m}"), "bench")
    t_judge = time.perf_counter() - t0
    t_plain = run_plain(wh, compiled_statements(work))

    ours = t_dbt + t_judge
    figures = {
        "benchmark": "audits", "customers": int(customers), "email_events": int(events),
        "amplify_s": round(t_amplify, 2), "dbt_run_s": round(t_dbt, 2), "judge_s": round(t_judge, 3),
        "ours_s": round(ours, 2), "plain_sql_s": round(t_plain, 2), "ratio_ours_vs_plain": round(ours / t_plain, 2),
        "events_per_s": round(events / ours), "findings": len(findings),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(f"{customers:,} customers, {events:,} events: Steward {ours:.2f}s (dbt {t_dbt:.2f}s + judge "
          f"{t_judge:.2f}s) vs plain SQL {t_plain:.2f}s -> {figures['ratio_ours_vs_plain']}x", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
