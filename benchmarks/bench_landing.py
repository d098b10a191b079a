"""Landing export files at volume: a first run, then a daily run after a small delta, each in a fresh process.

    python benchmarks/bench_landing.py --contacts 100000 --events 1000000 --dir /tmp/land/100k
    python benchmarks/bench_landing.py --contacts 1000000 --events 10000000 --dir /tmp/land/1m --keep

The demo workspace at scale 1 is drawn once and its exports are amplified: people-grain files are copied
``contacts / 3000`` times and HubSpot's email events ``events / <base events>`` times, each copy with its primary keys
suffixed (text-level, so every value keeps the exact format the demo writes). Then, each in a fresh process so its
peak RSS (VmHWM) is its own:

  first  = every integration of the demo config pulled into an empty warehouse (screen, read, contract, land);
  daily  = the same folder after 1% new email events and 0.5% changed Salesforce contacts (``--delivery full``:
           appended to / changed in the full exports; ``delta``: each of the two files holds only its delta);
  rerun  = the same folder again with nothing changed.

Ends with one JSON line: sizes, seconds and peak RSS MiB per run, rows loaded, and per-entity seconds. Figures:
docs/integrations.md and the commit that added this file.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import re
import shutil
import time
from pathlib import Path

import duckdb

BASE_PEOPLE = 3000
# file -> (which size it grows with, how a copy's keys are suffixed: a regex on each data line and its replacement)
PLAN: dict[str, tuple[str, bytes, bytes]] = {
    "salesforce/accounts.csv": ("contacts", rb"^([^,\n]+)", rb"\g<1>{c}"),
    "salesforce/contacts.csv": ("contacts", rb"^([^,\n]+)", rb"\g<1>{c}"),
    "salesforce/leads.csv": ("contacts", rb"^([^,\n]+)", rb"\g<1>{c}"),
    "salesforce/opportunities.csv": ("contacts", rb"^([^,\n]+)", rb"\g<1>{c}"),
    "salesforce/campaign_members.csv": ("contacts", rb"^([^,\n]+)", rb"\g<1>{c}"),
    "google_ads/audience_uploads.csv": ("contacts", rb"^([^,\n]*,[^,\n]*,)(\d+)", rb"\g<1>\g<2>{c}"),
    "hubspot/contacts.jsonl": ("contacts", rb'^\{"id":"(\d+)"', rb'{"id":"\g<1>{c}"'),
    "hubspot/subscriptions.jsonl": ("contacts", rb'^\{"recipient":"', rb'{"recipient":"c{c}.'),
    "hubspot/email_events.jsonl": ("events", rb'^\{"id":"([^"]+)"', rb'{"id":"\g<1>-{c}"'),
}
PARQUET: dict[str, str] = {"cdp/profiles.parquet": "profile_id", "cdp/erasure_requests.parquet": "request_id",
                           "decisions/ai_decisions.parquet": "decision_id"}


def amplify(base: Path, out: Path, contacts: int, events: int) -> dict[str, int]:
    """Copies of ``base/exports`` grown to the sizes asked for, written to ``out/exports``; rows per file."""
    shutil.rmtree(out / "exports", ignore_errors=True)
    shutil.copytree(base / "exports", out / "exports")
    shutil.copy(base / "steward.yaml", out / "steward.yaml")
    base_events = sum(1 for _ in (base / "exports/hubspot/email_events.jsonl").open("rb"))
    factor = {"contacts": max(1, round(contacts / BASE_PEOPLE)), "events": max(1, round(events / base_events))}
    rows: dict[str, int] = {}
    for name, (grows, pattern, repl) in PLAN.items():
        src, dst = base / "exports" / name, out / "exports" / name
        body = src.read_bytes()
        header, data = (body.split(b"\n", 1) if name.endswith(".csv") else (None, body))
        regex = re.compile(pattern, re.M)
        with dst.open("wb") as fh:
            if header is not None:
                fh.write(header + b"\n")
            for c in range(factor[grows]):
                fh.write(data if c == 0 else regex.sub(repl.replace(b"{c}", str(c).encode()), data))
        rows[name] = data.count(b"\n") * factor[grows]
    for name, key in PARQUET.items():
        src, dst = (base / "exports" / name).as_posix(), (out / "exports" / name).as_posix()
        k = factor["contacts"]
        duckdb.sql(f"copy (select * replace (case when c = 0 then {key} else {key} || '-' || c end as {key}) "
                   f"from read_parquet('{src}'), range({k}) r(c) order by c) to '{dst}' (format parquet)")
        rows[name] = duckdb.sql(f"select count(*) from read_parquet('{dst}')").fetchall()[0][0]
    return rows


def delta(out: Path, only: bool, new_events: float = 0.01, changed_contacts: float = 0.005) -> None:
    """The daily delta: ``new_events`` of the email events are new and ``changed_contacts`` of Salesforce's contacts
    changed (their modstamp moves on). ``only``: each file then holds just its delta (docs/integrations.md's
    recommended delivery); else the new events are appended and the contacts changed in place (a full export)."""
    events = out / "exports/hubspot/email_events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    fresh = b"".join(lines[: max(1, int(len(lines) * new_events))])
    more = re.compile(rb'^\{"id":"([^"]+)"', re.M).sub(rb'{"id":"\g<1>-d1"', fresh)
    if only:
        events.write_bytes(more)
    else:
        with events.open("ab") as fh:
            fh.write(more)
    contacts = out / "exports/salesforce/contacts.csv"
    body = contacts.read_bytes().split(b"\n")
    step = max(1, int(1 / changed_contacts))
    changed = [body[i].replace(b"2026-", b"2027-", 1) for i in range(1, len(body), step) if body[i]]
    if only:
        contacts.write_bytes(b"\n".join([body[0], *changed]) + b"\n")
    else:
        for i in range(1, len(body), step):
            body[i] = body[i].replace(b"2026-", b"2027-", 1) if body[i] else body[i]
        contacts.write_bytes(b"\n".join(body))


def _run(config: str, queue) -> None:
    import os
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from steward.flows.config import load_config
    from steward.flows.pull import pull_entity
    from steward.integrations.sources import build_adapter
    from steward.integrations.warehouse import Warehouse
    from steward.integrations.warehouse.landing import ensure_raw_tables

    cfg = load_config(Path(config))
    wh = Warehouse(cfg.warehouse)
    ensure_raw_tables(wh)
    per, loaded, started = {}, 0, time.perf_counter()
    for integ in cfg.integrations:
        adapter = build_adapter(integ.name, integ.platform, integ.kind, integ.path, wh, integ.entities)
        for stream in adapter.streams():
            t = time.perf_counter()
            items = pull_entity(adapter, stream, wh, "bench")
            per[f"{integ.name}.{stream.entity}"] = round(time.perf_counter() - t, 2)
            loaded += sum(i.result.rows_loaded for i in items)
            assert not any(i.refused for i in items), [i.refused for i in items if i.refused]
    seconds = time.perf_counter() - started
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM"))
    queue.put({"seconds": round(seconds, 2), "peak_rss_mib": round(hwm / 1024), "rows_loaded": loaded,
               "per_entity": per})


def run(config: Path) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(str(config), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--reuse", action="store_true", help="keep the amplified exports already in --dir")
    parser.add_argument("--only", choices=["first", "daily"], default=None)
    parser.add_argument("--delivery", choices=["full", "delta"], default="full",
                        help="the daily files: full exports (appended/changed in place) or only the day's delta")
    args = parser.parse_args()
    out = args.dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    base = out.parent / "base"
    if not (base / "steward.yaml").exists():
        from steward.flows.demo import prepare_demo
        prepare_demo(base, scale=1.0)
    rows = None
    if not args.reuse or not (out / "exports").exists():
        rows = amplify(base, out, args.contacts, args.events)
    result: dict = {"contacts": args.contacts, "events": args.events, "rows": rows}
    if args.only != "daily":
        for stale in out.glob("steward.duckdb*"):
            stale.unlink()
        result["first"] = run(out / "steward.yaml")
    if args.only != "first":
        delta(out, args.delivery == "delta")
        result["daily"] = run(out / "steward.yaml")
        result["rerun"] = run(out / "steward.yaml")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
