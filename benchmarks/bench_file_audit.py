"""``steward audit bias`` on a big file, end to end, against the DuckDB query a user could write by hand (issue #15).

    python benchmarks/bench_file_audit.py --rows 721000            # the issue's size
    python benchmarks/bench_file_audit.py --rows 721000 --keep /tmp/audit-bench   # keep the Parquet file

Writes a decisions Parquet file with DuckDB (one row per person: age band, sex, region, postcode, tenure, a model
score, the decision it led to and the known outcome; selection depends on age band so the audit has something to
find), then times, each as a FRESH process (so imports are counted, as a user's shell counts them):
  audit       ``steward audit bias FILE --group age_band --group sex --score score --cutoff 60 --outcome outcome
              --json``: counts, rates, intervals, z-tests and verdicts for both dimensions, and the proxy tests of
              the default audit (every unmapped column against both groups);
  audit_core  the same with ``--no-proxies``: what the per-group counts alone cost inside Steward;
  baseline    ``python -c`` with one hand-written DuckDB query computing the same per-group counts (n, selected,
              tp, fp, fn, tn for both dimensions, GROUPING SETS), the least a user's own script would run.
Each is run ``--repeat`` times (median kept), after one untimed warm-up run, with Python's bytecode cache on (in a
temp folder: an installed package has its ``.pyc`` files, even where the shell sets PYTHONDONTWRITEBYTECODE). The audit's per-group counts are checked against the baseline's, so
a fast wrong answer cannot pass. Ends with one JSON line: rows, audit_s, audit_core_s, baseline_s, ratio
(audit_s / baseline_s), target_ratio 2, the same in CPU seconds (user + system of every thread: what the work costs
whatever else runs on the machine), startup_s (``steward audit bias --help``), peak RSS in MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GROUPS = ("age_band", "sex")
CUTOFF = 60

BASELINE = """
import duckdb, json, sys
duckdb.execute("set enable_progress_bar = false")  # a query over 2 s would draw a bar on stdout, before the JSON
rows = duckdb.sql('''
    select age_band, sex, count(*) as n, count(*) filter (where score >= $cut) as selected,
           count(*) filter (where score >= $cut and outcome) as tp,
           count(*) filter (where score >= $cut and not outcome) as fp,
           count(*) filter (where score < $cut and outcome) as fn,
           count(*) filter (where score < $cut and not outcome) as tn
    from read_parquet($path) group by grouping sets ((age_band), (sex))
''', params={"path": sys.argv[1], "cut": float(sys.argv[2])}).fetchall()
print(json.dumps(rows))
"""


def write_decisions(path: Path, rows: int) -> None:
    """A decisions file, the same for the same ``rows`` (values from hashes of the row number, not a random stream
    that threads would interleave): selection falls with age (55-64 and 65+ are selected far less often)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"""
        copy (
            with base as (
                select i as person_id,
                       ['18-24', '25-34', '35-44', '45-54', '55-64', '65+'][1 + (hash(i, 'age') % 6)::int] as age_band,
                       ['female', 'male', 'other'][1 + least((hash(i, 'sex') % 100)::int // 49, 2)] as sex,
                       ['north', 'south', 'east', 'west', 'central'][1 + (hash(i, 'region') % 5)::int] as region,
                       (hash(i, 'tenure') % 120)::int as tenure_months,
                       (hash(i, 'u') % 1000003) / 1000003 as u, (hash(i, 'v') % 1000003) / 1000003 as v
                from range({int(rows)}) t(i)
            )
            select person_id, age_band, sex, region, tenure_months,
                   'PC-' || lpad((hash(person_id, 'pc') % 500)::varchar, 3, '0') as postcode,
                   round(least(100, greatest(0, 70 * u + 30 * v
                         - case age_band when '55-64' then 18 when '65+' then 22 else 0 end)), 1) as score,
                   case when score >= {CUTOFF} then 'approved' else 'declined' end as decision,
                   v > 0.45 - 0.2 * u as outcome
            from base
        ) to '{path.as_posix()}' (format parquet)
    """)
    con.close()


def timed(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Median wall and CPU (user + system, every thread) seconds over ``repeat`` fresh processes after one untimed
    warm-up (bytecode compiled, file in the page cache), the largest peak RSS (MiB) and the last stdout. CPU
    seconds say what the work costs when other processes share the cores."""
    seconds, cpu, peak, out = [], [], 0.0, ""
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(repeat):
        with tempfile.TemporaryFile() as so:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=so, stderr=subprocess.PIPE, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds.append(time.perf_counter() - start)
            cpu.append(usage.ru_utime + usage.ru_stime)
            proc.returncode = os.waitstatus_to_exitcode(status)
            err = proc.stderr.read().decode() if proc.stderr else ""
            if proc.returncode not in (0, 1):  # 1 = a group fails, which this file is built to show
                raise SystemExit(f"{' '.join(cmd[:4])}... exited {proc.returncode}: {err.strip()[-400:]}")
            so.seek(0)
            out = so.read().decode()
            peak = max(peak, usage.ru_maxrss / 1024)
    return statistics.median(seconds), statistics.median(cpu), peak, out


def steward() -> list[str]:
    script = Path(sys.executable).parent / "steward"
    return [str(script)] if script.exists() else [sys.executable, "-m", "steward.flows.cli"]


def check_counts(audit_json: str, baseline_json: str) -> None:
    """The audit's n / selected / confusion counts per group equal the hand-written query's."""
    doc = json.loads(audit_json)
    got = {(d["dimension"], g["group"]): (g["n"], g["counts"]["positives"], g["counts"]["tp"], g["counts"]["fp"],
                                           g["counts"]["fn"], g["counts"]["tn"])
           for d in doc["dimensions"] for g in d["groups"]}
    want = {("age_band", a) if a is not None else ("sex", s): tuple(rest)
            for a, s, *rest in json.loads(baseline_json)}
    if got != want:
        differ = sorted(set(got.items()) ^ set(want.items()))
        raise SystemExit(f"the audit's counts differ from the baseline's: {differ}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=721_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per measure (median kept)")
    parser.add_argument("--keep", type=Path, help="write the Parquet file here and keep it (default: a temp dir)")
    args = parser.parse_args(argv)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="steward-audit-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"decisions_{args.rows}.parquet"
    try:
        started = time.perf_counter()
        write_decisions(path, args.rows)
        write_s = time.perf_counter() - started
        audit = [*steward(), "audit", "bias", str(path), *(a for g in GROUPS for a in ("--group", g)),
                 "--score", "score", "--cutoff", str(CUTOFF), "--outcome", "outcome", "--json"]
        baseline = [sys.executable, "-c", BASELINE, str(path), str(CUTOFF)]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        baseline_s, baseline_cpu, baseline_mb, baseline_out = timed(baseline, args.repeat, env)
        audit_s, audit_cpu, audit_mb, audit_out = timed(audit, args.repeat, env)
        core_s, core_cpu, _, core_out = timed([*audit, "--no-proxies"], args.repeat, env)
        startup_s, startup_cpu, _, _ = timed([*steward(), "audit", "bias", "--help"], args.repeat, env)
        check_counts(audit_out, baseline_out)
        check_counts(core_out, baseline_out)
        doc = json.loads(audit_out)
        print(json.dumps({
            "rows": args.rows, "audit_s": round(audit_s, 3), "audit_core_s": round(core_s, 3),
            "baseline_s": round(baseline_s, 3), "ratio": round(audit_s / baseline_s, 2),
            "core_ratio": round(core_s / baseline_s, 2), "target_ratio": 2, "within_target": audit_s <= 2 * baseline_s,
            "audit_cpu_s": round(audit_cpu, 3), "audit_core_cpu_s": round(core_cpu, 3),
            "baseline_cpu_s": round(baseline_cpu, 3), "cpu_ratio": round(audit_cpu / baseline_cpu, 2),
            "startup_s": round(startup_s, 3), "startup_cpu_s": round(startup_cpu, 3),
            "audit_peak_mib": round(audit_mb, 1),
            "baseline_peak_mib": round(baseline_mb, 1), "proxies_tested": len(doc["proxies"]),
            "failing_groups": sum(len(d["failing"]) for d in doc["dimensions"]), "write_s": round(write_s, 2),
            "file_mib": round(path.stat().st_size / 2**20, 1), "repeat": args.repeat,
            "counts_match_baseline": True,
        }), flush=True)
    finally:
        shutil.rmtree(folder / "pycache", ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
