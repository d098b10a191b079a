"""Times the demo governance loop and its stages at a given scale, against a plain DuckDB read of the same exports.

    python benchmarks/bench_demo.py --scale 1
    python benchmarks/bench_demo.py --scale 10

Stages are timed in process (generate, ingest = read + contracts + land, dbt build, judge); the whole command is then
timed as a user runs it (`steward run` in a fresh process, Prefect's temporary server included) with its peak RSS.
The CLI's peak RSS is its own high-water mark (VmHWM). The baseline is DuckDB reading every export file once: the floor any ingest has to pay. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from governed import land_exports  # noqa: E402

from steward.contracts.governance import evaluate  # noqa: E402
from steward.contracts.policy import load_policy  # noqa: E402
from steward.flows.demo import prepare_demo  # noqa: E402
from steward.integrations.transform import dbt_build  # noqa: E402
from steward.integrations.warehouse import Warehouse  # noqa: E402

READERS = {".csv": "read_csv('{}')", ".jsonl": "read_json('{}', format = 'newline_delimited')",
           ".parquet": "read_parquet('{}')"}


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def run_with_peak(cmd: list[str]) -> tuple[str, float, float]:
    """Run ``cmd``, polling its VmHWM: rusage of children would also count memory inherited at fork."""
    start, peak = time.perf_counter(), 0.0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            hwm = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM"))
            peak = max(peak, int(hwm.split()[1]) / 1024)
        except (OSError, StopIteration):
            pass
        time.sleep(0.05)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return out, time.perf_counter() - start, peak


def baseline_read(files: list[Path]) -> int:
    con = duckdb.connect()
    try:
        return sum(con.execute(f"select count(*) from {READERS[p.suffix].format(p)}").fetchone()[0] for p in files)
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    (config, ws), t_generate = timed(lambda: prepare_demo(root / "demo", scale=args.scale, seed=args.seed))
    rows, t_baseline = timed(lambda: baseline_read(list(ws.files.values())))

    policy = load_policy()
    wh = Warehouse(root / "stages.duckdb")
    _, t_ingest = timed(lambda: land_exports(wh, ws.exports))
    vars_ = {**policy.dbt_vars(), "as_of": pd.Timestamp.now(tz="UTC").isoformat()}
    _, t_dbt = timed(lambda: dbt_build.build(wh.path, root / "dbt", vars_))
    findings, t_judge = timed(lambda: evaluate(policy, lambda m: wh.query_df(f"select * from governance.{m}"), "b"))

    cmd = [sys.executable, "-m", "steward.flows.cli", "run", "-c", str(config), "--json"]
    stdout, t_cli, peak_child = run_with_peak(cmd)
    result = json.loads(stdout)
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    figures = {
        "benchmark": "demo_loop", "scale": args.scale, "records": rows, "files": len(ws.files),
        "generate_s": round(t_generate, 2), "baseline_read_s": round(t_baseline, 3),
        "ingest_s": round(t_ingest, 2), "dbt_build_s": round(t_dbt, 2), "judge_s": round(t_judge, 3),
        "cli_wall_s": round(t_cli, 2), "flow_s": result["seconds"],
        "ingest_rows_per_s": round(rows / t_ingest), "ratio_ingest_vs_read": round(t_ingest / t_baseline, 1),
        "findings": len(findings), "cli_findings": len(result["findings"]),
        "peak_rss_mib_cli": round(peak_child), "peak_rss_mib_stages": round(peak_self),
    }
    print(f"scale {args.scale}: {rows:,} records in {len(ws.files)} exports", file=sys.stderr)
    print(f"  plain DuckDB read {t_baseline:.2f}s | ingest {t_ingest:.2f}s ({figures['ratio_ingest_vs_read']}x) | "
          f"dbt {t_dbt:.2f}s | judge {t_judge:.2f}s | `steward run` {t_cli:.1f}s, peak {figures['peak_rss_mib_cli']} MiB",
          file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
