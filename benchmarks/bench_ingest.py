"""Pulling through the API adapters at volume: rows/s per adapter and whether memory stays flat as rows grow.

    python benchmarks/bench_ingest.py --scale 0.02     # quick: 20k contacts, 100k email events
    python benchmarks/bench_ingest.py                  # the issue's size: 1M contacts, 5M email events

Each emulator runs in its own process, holding synthetic rows made by DuckDB, with rate limits off (a real
platform's limits would make this a benchmark of waiting). Each pull runs in a fresh process too, so its peak RSS
is its own. Measured in one run, per adapter and entity:
  full      = pull_entity: HTTP pages -> batches -> pandera contract -> merge-land into a DuckDB warehouse;
  transport = the same adapter's pull() iterated with no contract and no landing (the baseline: HTTP + JSON);
  small     = full at a quarter of the rows, so peak RSS at 1/4 and at 1x can be compared (flat = streamed).
Ends with one JSON line: sizes, seconds, rows/s, ratio full/transport, peak RSS MiB at both sizes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

CASES = [  # (platform, entity, which size)
    ("salesforce", "contacts", "contacts"),
    ("hubspot", "contacts", "contacts"),
    ("hubspot", "email_events", "events"),
    ("marketo", "leads", "contacts"),
    ("marketo", "activities", "events"),
]


def _emulator(platform: str, entity: str, rows: int):
    from steward.integrations.emulator import stack

    env = stack.DEMO_ENV
    if platform == "salesforce":
        from steward.integrations.emulator.salesforce import SalesforceEmulator
        emu = SalesforceEmulator(client_id=env["STEWARD_DEMO_SF_CLIENT_ID"],
                                 client_secret=env["STEWARD_DEMO_SF_CLIENT_SECRET"], daily_limit=10**9)
        emu.load_synthetic(entity, rows)
    elif platform == "hubspot":
        from steward.integrations.emulator.hubspot import HubspotEmulator
        emu = HubspotEmulator(tokens=[env["STEWARD_DEMO_HUBSPOT_TOKEN"]], daily_limit=10**9)
        emu.load_synthetic(**{entity: rows})
    else:
        from steward.integrations.emulator.marketo import MarketoEmulator
        emu = MarketoEmulator(client_id=env["STEWARD_DEMO_MARKETO_CLIENT_ID"],
                              client_secret=env["STEWARD_DEMO_MARKETO_CLIENT_SECRET"], rate_limit=None,
                              daily_quota=10**9)
        emu.load_synthetic(**({"leads": rows, "activities": 0} if entity == "leads" else {"leads": max(1000, rows // 50),
                                                                                          "activities": rows}))
    return emu


def _serve(platform: str, entity: str, rows: int, urls, stop) -> None:
    emu = _emulator(platform, entity, rows).start()
    urls.put(emu.base_url)
    stop.wait()
    emu.stop()


def _pull(platform: str, entity: str, base_url: str, mode: str, out) -> None:
    from steward.integrations.emulator.stack import DEMO_ENV, EmulatorStack
    from steward.flows.pull import pull_entity
    from steward.integrations.sources import build_adapter
    from steward.integrations.sources.http import RetryPolicy
    from steward.integrations.warehouse import Warehouse

    os.environ.update(DEMO_ENV)
    spec = EmulatorStack.integrations_for({platform: base_url})[0]
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        adapter = build_adapter(platform, platform, "api", None, wh, [entity], base_url=base_url,
                                credentials=spec["credentials"], options=spec["options"],
                                policy=RetryPolicy(timeout=120))
        stream = next(s for s in adapter.streams() if s.entity == entity)
        started, rows = time.perf_counter(), 0
        if mode == "transport":
            for batch in adapter.pull(entity, None):
                rows += len(batch.frame)
        else:
            rows = sum(item.result.rows_loaded for item in pull_entity(adapter, stream, wh, "bench"))
        seconds = time.perf_counter() - started
    out.put({"rows": rows, "seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _measure(ctx, platform: str, entity: str, rows: int, modes: list[str]) -> dict[str, dict]:
    urls, stop, results = ctx.Queue(), ctx.Event(), {}
    server = ctx.Process(target=_serve, args=(platform, entity, rows, urls, stop), daemon=True)
    server.start()
    try:
        base_url = urls.get(timeout=600)
        for mode in modes:
            out = ctx.Queue()
            worker = ctx.Process(target=_pull, args=(platform, entity, base_url, mode, out))
            worker.start()
            results[mode] = out.get(timeout=3600)
            worker.join()
    finally:
        stop.set()
        server.join(timeout=30)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1M contacts and 5M email events")
    parser.add_argument("--cases", default="all", help="comma list like hubspot.email_events (default: all)")
    args = parser.parse_args(argv)
    sizes = {"contacts": int(1_000_000 * args.scale), "events": int(5_000_000 * args.scale)}
    chosen = CASES if args.cases == "all" else [c for c in CASES if f"{c[0]}.{c[1]}" in args.cases.split(",")]
    ctx = mp.get_context("spawn")
    figures = []
    for platform, entity, size in chosen:
        rows = sizes[size]
        big = _measure(ctx, platform, entity, rows, ["transport", "full"])
        small = _measure(ctx, platform, entity, max(1, rows // 4), ["full"])["full"]
        full, transport = big["full"], big["transport"]
        row = {"adapter": platform, "entity": entity, "rows": full["rows"],
               "full_s": round(full["seconds"], 2), "full_rows_s": round(full["rows"] / full["seconds"]),
               "transport_s": round(transport["seconds"], 2),
               "transport_rows_s": round(transport["rows"] / transport["seconds"]),
               "ratio_full_vs_transport": round(full["seconds"] / transport["seconds"], 2),
               "peak_rss_mib": round(full["peak_rss_mib"]), "peak_rss_mib_quarter_rows": round(small["peak_rss_mib"]),
               "rss_growth_x": round(full["peak_rss_mib"] / small["peak_rss_mib"], 2)}
        figures.append(row)
        print(f"{platform}.{entity}: {row['rows']:,} rows  full {row['full_s']} s ({row['full_rows_s']:,} rows/s)  "
              f"transport {row['transport_s']} s  ratio {row['ratio_full_vs_transport']}x  "
              f"peak RSS {row['peak_rss_mib']} MiB (quarter rows: {row['peak_rss_mib_quarter_rows']} MiB)",
              file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "ingest", "scale": args.scale, "contacts": sizes["contacts"],
                      "email_events": sizes["events"], "cases": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
