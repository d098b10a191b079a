"""Steward at a real company's volume: a whole stack of export files governed by `steward run`, timed as a user runs it.

    python benchmarks/bench_scale.py --contacts 100000 --events 1000000          # about 10 minutes on 2 cores
    python benchmarks/bench_scale.py --contacts 1000000 --events 10000000 --keep /tmp/stack
    python benchmarks/bench_scale.py --postgres                                  # the same into a local server
    python benchmarks/bench_scale.py --warehouse postgresql://me@db:5432/bench   # or into a server you name

Builds the stack (``_scale_data.build_stack``: the demo's exports at scale 1, copied in DuckDB with every person
identifier rewritten per copy, so the demo's injected problems recur at their rates), then times, each in a fresh
``steward run -c steward.yaml --json`` process:
  demo        the scale-1 demo's exports (its findings are what the stack's must be, counts aside);
  first       the stack's first run: land every export file, transform, judge, act, alert, report;
  governance  the same config again on the landed warehouse: nothing new to land;
  full        `steward run --full-refresh` on the landed warehouse: every model rebuilt from all of raw, what the
              daily run is compared with (daily_vs_full);
  daily       after a day's delta (1% new email events, 0.5% changed people) as incremental exports;
  steady      right after the daily run, on the same data: what every run pays whatever the day brought (start-up,
              dbt's time-dependent marts and their tests, judge, act, report), so ``daily_beyond_steady_vs_full``
              says how the part of the daily run that the day's data causes compares with the full run's;
``--repeat N`` times the full and daily runs N times each, in pairs (the stack folder restored before each), and
judges daily_vs_full on their medians: one pair on a shared machine moves by a fifth from run to run.
The full and daily runs are timed as a deployment's scheduled runs are: against a Prefect server that is already
running (started here, untimed: _prefect_server.py), so neither launches Prefect's temporary server; ``--cold-daily``
times them as the others, each launching its own (about 5 s more each).
and, in this process, the floor: DuckDB reading every raw table once with one grouped aggregate each (by the
entity's key, every column aggregated): the cheapest pass any governance run must make.
Per run: wall seconds, the run's own seconds per stage, the ten slowest dbt nodes (target/run_results.json, or the dbt
log when a run is stopped at ``--timeout``), peak RSS of the run's process tree (``TreeMemory``: the run's own
``ru_maxrss`` from a small launcher, plus its children's sampled ``VmHWM``). Progress on stderr; one
JSON line on stdout, with the issue's targets and whether each is met. See docs/benchmarks.md.

On PostgreSQL (``--postgres`` starts a throwaway server on 127.0.0.1, as the tests do; ``--warehouse URL`` uses an
empty database of yours, and the demo run a database ``<name>_demo`` created next to it) every run governs into the
server; the figures are the same, plus the server's peak memory (PSS of its processes, only for ``--postgres``: a
remote server's memory is not ours to read), and the floor is the same grouped aggregates run by PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import statistics
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pg_server import create_database, local_server, server_pss_mib  # noqa: E402
from _prefect_server import prefect_server  # noqa: E402
from _scale_data import Stack, build_stack, raw_sizes, write_delta  # noqa: E402

from steward.integrations.sources.streams import EXPORT_STREAMS  # noqa: E402

TARGETS = {"governance_s": 60.0, "peak_rss_mib": 2048.0, "ratio_vs_floor": 10.0, "first_s": 180.0,
           "daily_vs_full": 0.3}
_DBT_LINE = re.compile(r"\d+ of \d+ (?:OK|ERROR|PASS|FAIL|WARN)\b.*? (\S+) \.*\s*\[[A-Z]+(?: \d+)? in ([\d.]+)s\]")


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# Starts the run from a small process of its own and reports the run's ``ru_maxrss`` (as a JSON line to the file named
# first). Linux hands a child the resident peak of whoever spawned it: ``exec`` keeps the peak of the address space
# it replaces, and after fork or vfork that is the spawner's. Spawned from this benchmark, which holds the stack's
# DuckDB pages after building it, a run's ``ru_maxrss`` read 2970 MiB for a run that never passed 560 MiB; spawned
# from this launcher (about 10 MiB) it is the run's own.
_LAUNCHER = """
import json, os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(json.dumps({"maxrss_kib": usage.ru_maxrss, "pid": pid}))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def launch(command: list[str], rusage_path: Path, **popen) -> subprocess.Popen:
    """``command`` started through ``_LAUNCHER`` in a session of its own (so a stop reaches all of it); the launcher
    writes the command's own ``ru_maxrss`` to ``rusage_path`` when it exits."""
    return subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(rusage_path), *command],
                            start_new_session=True, **popen)


def run_steward(config: Path, label: str, timeout: float, max_rss_mib: float = 6144,
                server_pid: int | None = None, extra: tuple[str, ...] = (), prefect_api: str | None = None) -> dict:
    """One `steward run -c config --json` (plus ``extra`` options) in a fresh process: its figures, or how far it got
    before ``timeout``. ``prefect_api``: the running Prefect server the run records itself in (a scheduled run's);
    without it the run launches Prefect's temporary server, as a run started by hand does."""
    work = config.parent / "work" / "dbt"
    (work / "target" / "run_results.json").unlink(missing_ok=True)
    out_path, err_path = config.parent / f"run-{label}.json", config.parent / f"run-{label}.log"
    rusage_path = config.parent / f"run-{label}.rusage"
    rusage_path.unlink(missing_ok=True)
    # dbt's node lines go to the run's stderr ("dbt: 3 of 80 OK created ... [OK in 1.2s]"): the slowest nodes of a
    # run stopped before dbt writes run_results.json
    env = {**os.environ, "PREFECT_HOME": str(config.parent.parent / "prefect-home"), "STEWARD_DBT_LOG_LEVEL": "info",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("PREFECT_API_URL", None)
    if prefect_api:
        env["PREFECT_API_URL"] = prefect_api
    command = [sys.executable, "-m", "steward.flows.cli", "run", "-c", str(config), "--json", *extra]
    say(f"{label}: steward run -c {config} --json {' '.join(extra)}".rstrip())
    start = time.perf_counter()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = launch(command, rusage_path, stdout=out, stderr=err, cwd=config.parent, env=env)
        server: dict = {"peak": None}
        tree = TreeMemory(proc.pid)
        status, _usage, stopped, _ = _wait(proc, start + timeout, err_path, label, max_rss_mib,
                                           (lambda: _server_peak(server, server_pid)) if server_pid else None, tree)
    wall = time.perf_counter() - start
    stage = _last_stage(err_path)
    memory = tree.figures(launched_rusage(rusage_path))
    figures: dict = {"wall_s": round(wall, 2), **memory, "exit": os.waitstatus_to_exitcode(status),
                     "prefect": "running server" if prefect_api else "temporary server"}
    if server_pid:
        figures["server_peak_pss_mib"] = server["peak"]
    try:
        result = json.loads(out_path.read_text().strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        result = None
    if stopped or result is None:
        figures["status"] = (f"stopped after {wall:.0f} s: {stopped}" if stopped else "failed")
        figures["stage_reached"] = stage
        figures["error_tail"] = err_path.read_text()[-600:] if not stopped else ""
        figures["slowest_models"] = _slowest_from_log(err_path)
        figures["rows_landed"] = _landed_so_far(err_path)
        return figures
    figures.update(status=result["status"], run_seconds=result["seconds"], stages=result.get("timings", {}),
                   slowest_models=_slowest(work / "target" / "run_results.json"),
                   findings=_findings(result), rows_landed=sum(i.get("rows_loaded", 0) for i in result["ingested"]))
    say(f"{label}: {figures['wall_s']} s wall, {figures['peak_rss_mib']} MiB peak, stages {figures['stages']}")
    return figures


def _server_peak(server: dict, pid: int) -> None:
    now = server_pss_mib(pid)
    if now is not None and (server["peak"] is None or now > server["peak"]):
        server["peak"] = now


def _wait(proc: subprocess.Popen, deadline: float, err_path: Path, label: str, max_rss_mib: float, sample=None,
          tree: "TreeMemory | None" = None):
    """Polls the child (echoing its progress lines) until it exits; past the deadline, or above ``max_rss_mib``
    resident (the machine is shared), stops its process group. ``stopped`` says why, or is empty. ``sample`` is
    called once a poll (the server's memory); ``tree`` samples the memory of the child's processes."""
    shown, stopped = 0, ""
    while True:
        if sample is not None:
            sample()
        if tree is not None:
            tree.sample()
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        lines = err_path.read_text(errors="replace").splitlines()
        for line in lines[shown:]:
            if line.strip() and not line.startswith("dbt:"):
                print(f"    {label} | {line.strip()[:160]}", file=sys.stderr, flush=True)
        shown = len(lines)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, usage, stopped, shown
        rss = tree.current if tree is not None else _rss_mib(proc.pid)  # the whole tree's, when sampled
        if not stopped and (time.perf_counter() > deadline or rss > max_rss_mib):
            stopped = "time cap" if rss <= max_rss_mib else f"resident memory {rss:.0f} MiB > {max_rss_mib:.0f} MiB"
            say(f"{label}: {stopped}, stopping it")
            os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.perf_counter() + 20
        elif stopped and time.perf_counter() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.25 if tree is not None else 1.0)


class TreeMemory:
    """The resident memory of a process and everything it starts (the run, dbt in it, Prefect's temporary server),
    sampled every poll from /proc: each process's own peak (``VmHWM``, which the kernel keeps, so a sample misses only
    what a process adds after its last one) and the largest sum of what they held at one sample."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peaks: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.sampled_sum = 0.0
        self.current = 0.0

    def sample(self) -> None:
        total = 0.0
        for pid in _descendants(self.root)[1:]:  # not the launcher (the root): a few MiB of Python, not Steward's
            status = _status(pid)
            if not status:
                continue
            total += status.get("VmRSS", 0.0)
            if status.get("VmHWM", 0.0) > self.peaks.get(pid, 0.0):
                self.peaks[pid] = status["VmHWM"]
                self.names.setdefault(pid, _cmd(pid))
        self.current = total
        self.sampled_sum = max(self.sampled_sum, total)

    def figures(self, launched: dict | None) -> dict:
        """``peak_rss_mib``: the sum of every process's own peak (the run's exact, from ``wait4`` in the launcher;
        the others' sampled), an upper bound of what the tree held at once; ``peak_rss_sampled_mib``: the largest sum
        seen at one sample; ``peak_rss_processes``: each process's peak, largest first."""
        peaks = dict(self.peaks)
        if launched and launched.get("pid"):
            peaks[launched["pid"]] = max(peaks.get(launched["pid"], 0.0), launched["maxrss_kib"] / 1024)
            self.names.setdefault(launched["pid"], "steward run")
        processes = sorted(([round(mib), _short(self.names.get(pid, "?"))] for pid, mib in peaks.items()),
                           key=lambda p: -p[0])
        return {"peak_rss_mib": round(sum(peaks.values())), "peak_rss_sampled_mib": round(self.sampled_sum),
                "peak_rss_processes": processes[:5]}


def launched_rusage(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # the launcher was stopped with the run


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += parents.get(pid, [])
    return out


def _status(pid: int) -> dict[str, float]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {key: int(kib) / 1024 for key, kib in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, flags=re.M)}


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _short(cmd: str) -> str:
    """A process's role, for the JSON line: the run, Prefect's temporary server (uvicorn) or another helper."""
    if "steward.flows.cli" in cmd or cmd == "steward run":
        return "steward run"
    if "uvicorn" in cmd or "prefect" in cmd:
        return "prefect server"
    return cmd.split(" -c ")[0].rsplit("/", 1)[-1][:40] or "?"


def _rss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, flags=re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def _landed_so_far(err_path: Path) -> dict[str, int]:
    """Rows per integration.entity the run reported landed (its ``ingest  x.y: 51,200 rows`` lines)."""
    out: dict[str, int] = {}
    for entity, rows in re.findall(r"^\s*ingest\s+(\S+): ([\d,]+) rows", err_path.read_text(errors="replace"),
                                   flags=re.M):
        out[entity] = out.get(entity, 0) + int(rows.replace(",", ""))
    return out


def _last_stage(err_path: Path) -> str | None:
    """The stage the run was in: the last one it reported on stderr (progress lines read ``  <stage>  ...``, once a
    stage is done), or ``transform`` when dbt's node lines follow it (dbt reports its nodes as it goes)."""
    names = "start|health|ingest|drift|transform|judge|act|alert|audit|report|anchor"
    stages = re.findall(rf"^(dbt):|^\s*\W*\s*({names})\b", err_path.read_text(errors="replace"), flags=re.M)
    return (stages[-1][0] and "transform") or stages[-1][1] if stages else None


def _slowest(run_results: Path, n: int = 10) -> list[list]:
    if not run_results.is_file():
        return []
    rows = json.loads(run_results.read_text())["results"]
    rows = sorted(rows, key=lambda r: -(r.get("execution_time") or 0))[:n]
    return [[r["unique_id"].split(".", 2)[-1], round(r.get("execution_time") or 0, 2)] for r in rows]


def _slowest_from_log(log: Path, n: int = 10) -> list[list]:
    """The nodes dbt finished before the run was stopped, from its log lines (run_results.json comes at the end)."""
    if not log.is_file():
        return []
    done = [(m.group(1).split(".")[-1], float(m.group(2))) for m in _DBT_LINE.finditer(log.read_text(errors="replace"))]
    return [[name, round(s, 2)] for name, s in sorted(done, key=lambda d: -d[1])[:n]]


def _findings(result: dict) -> dict[str, int]:
    """Findings of the run by ``check_id/severity`` -> how many."""
    out: dict[str, int] = {}
    for f in result["findings"]:
        key = f"{f['check_id']}/{f['severity']}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def floor(warehouse: Path) -> tuple[float, dict[str, int]]:
    """Seconds for DuckDB to read every raw table once, one grouped aggregate each (by the entity's key, every
    column aggregated), and the rows it read per table."""
    keys = {f"{s.platform}__{s.entity}": s.primary_key.split(",") for s in EXPORT_STREAMS}
    con = duckdb.connect(str(warehouse), read_only=True, config={  # what a 2 GiB run may use, spilling beyond
        "memory_limit": "2GB", "temp_directory": str(warehouse.parent / "floor.tmp")})
    try:
        sizes = raw_sizes(con)
        start = time.perf_counter()
        for table in sizes:
            cols = [r[0] for r in con.execute(f'describe raw."{table}"').fetchall()]
            key = ", ".join(f'"{c}"' for c in keys.get(table, cols[:1]) if c in cols) or f'"{cols[0]}"'
            con.execute(f'select count(*) from (select {key}, count(*), max(columns(*)) from raw."{table}" '
                        f"group by all)").fetchone()
        return time.perf_counter() - start, sizes
    finally:
        con.close()


def floor_pg(url: str) -> tuple[float, dict[str, int]]:
    """The floor on PostgreSQL: every raw table read once, grouped by the entity's key (every column counted)."""
    import psycopg

    keys = {f"{s.platform}__{s.entity}": s.primary_key.split(",") for s in EXPORT_STREAMS}
    with psycopg.connect(url, autocommit=True) as con:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = "
                                            "'raw' order by 1").fetchall()]
        sizes = {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in tables}
        start = time.perf_counter()
        for table in tables:
            cols = [r[0] for r in con.execute("select column_name from information_schema.columns where table_schema"
                                              " = 'raw' and table_name = %s order by ordinal_position",
                                              [table]).fetchall()]
            key = ", ".join(f'"{c}"' for c in keys.get(table, cols[:1]) if c in cols) or f'"{cols[0]}"'
            counted = ", ".join(f'count("{c}")' for c in cols)
            con.execute(f'select count(*) from (select {key}, {counted} from raw."{table}" group by {key}) g'
                        ).fetchone()
        return time.perf_counter() - start, sizes


def _to_postgres(config: Path, url: str) -> None:
    import yaml

    from steward.contracts.yaml_input import read_yaml_mapping  # the one YAML reader (its size and node limits)

    data = read_yaml_mapping(config, "config file", "'integrations'")
    config.write_text(yaml.safe_dump({**data, "warehouse": url}, sort_keys=False))


def compare(demo: dict, scaled: dict) -> dict:
    """Which check/severity pairs one run found and the other did not (counts may differ: they scale)."""
    a, b = set(demo.get("findings", {})), set(scaled.get("findings", {}))
    return {"same": a == b, "only_at_scale": sorted(b - a), "only_in_demo": sorted(a - b)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=100_000, help="people (CRM contacts + leads = HubSpot contacts)")
    ap.add_argument("--events", type=int, default=1_000_000, help="HubSpot email events")
    ap.add_argument("--keep", type=Path, help="build in this folder and leave it (else a temporary one, removed)")
    ap.add_argument("--timeout", type=float, default=1200, help="cap per steward run, seconds (default 1200)")
    ap.add_argument("--budget", type=float, default=None,
                    help="stop starting runs once this many seconds have passed; a run in progress gets what is left")
    ap.add_argument("--max-rss-mib", type=float, default=6144,
                    help="stop a run whose process grows past this resident size (default 6144: a shared machine)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--delta", choices=["incremental", "snapshot"], default="incremental",
                    help="how the daily change arrives: only new/changed rows per file, or whole files (see the docs)")
    ap.add_argument("--no-demo", action="store_true", help="skip the scale-1 run the findings are compared with")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="time the full and daily runs N times each, in pairs on the same stack restored from a copy, "
                         "and judge daily_vs_full on their medians (DuckDB only; default 1)")
    ap.add_argument("--cold-daily", action="store_true",
                    help="run the full and daily runs as the others, each launching Prefect's temporary server, "
                         "instead of against a running Prefect server as a deployment's scheduled runs are")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--warehouse", metavar="URL", help="govern into this empty PostgreSQL database "
                       "(postgresql://user@host:port/db; the demo run into <db>_demo, created next to it)")
    where.add_argument("--postgres", action="store_true", help="govern into a throwaway local PostgreSQL server")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat: at least 1")
    if args.repeat > 1 and (args.warehouse or args.postgres):
        ap.error("--repeat: only on the DuckDB warehouse (a repeat restores the stack folder, warehouse file included)")
    root = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="steward-bench-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        if args.postgres:
            with local_server() as server:
                args.warehouse = server.url("postgres")
                print(json.dumps(bench(root, args, server.postmaster_pid, fresh=True)), flush=True)
        else:
            print(json.dumps(bench(root, args)), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def bench(root: Path, args: argparse.Namespace, server_pid: int | None = None, fresh: bool = False) -> dict:
    """``fresh``: ``args.warehouse`` is a server's maintenance database, and both runs get a new database."""
    start = time.perf_counter()
    stack: Stack = build_stack(root, args.contacts, args.events, args.seed)
    build_s = time.perf_counter() - start
    say(f"stack built in {build_s:.0f} s under {stack.root}")
    url = args.warehouse
    if url:
        name = url.rsplit("/", 1)[1]
        stack_url = create_database(url, "steward_bench") if fresh else url
        _to_postgres(stack.config, stack_url)
        if not args.no_demo:
            _to_postgres(stack.demo_config, create_database(url, "steward_bench_demo" if fresh else f"{name}_demo"))
        say(f"governing into PostgreSQL: {stack_url}")

    def run(config: Path, label: str, *extra: str, prefect_api: str | None = None) -> dict:
        left = args.budget - (time.perf_counter() - start) if args.budget else args.timeout  # capped at --timeout,
        if left < 30:  # or at what is left of --budget
            say(f"{label}: not started, --budget {args.budget:.0f} s spent")
            return {"status": "not started: --budget spent"}
        return run_steward(config, label, min(args.timeout, left), args.max_rss_mib, server_pid, extra, prefect_api)

    runs: dict = {}
    repeats: dict[str, list[dict]] = {"full": [], "daily": []}
    stack_dir = stack.config.parent
    if not args.no_demo:
        runs["demo"] = run(stack.demo_config, "demo")
    runs["first"] = run(stack.config, "first")
    sizes, floor_s = {}, None
    if runs["first"].get("status") == "completed":
        runs["governance"] = run(stack.config, "governance")
        with scheduled(root, args) as api:
            before_full = _copy_stack(stack_dir, root / "before-full") if args.repeat > 1 else None
            # what the daily run is compared with: every model rebuilt from all of raw, incremental ones included
            runs["full"] = run(stack.config, "full", "--full-refresh", prefect_api=api)
            floor_s, sizes = floor_pg(stack_url) if url else floor(stack.config.parent / "steward.duckdb")
            say(f"floor: {floor_s:.2f} s for {sum(sizes.values()):,} raw rows")
            delta = write_delta(stack, mode=args.delta)
            say(f"daily delta written: {delta}")
            before_daily = _copy_stack(stack_dir, root / "before-daily") if args.repeat > 1 else None
            runs["daily"] = run(stack.config, "daily", prefect_api=api)
            runs["steady"] = run(stack.config, "steady", prefect_api=api)  # nothing new since the daily run
            for i in range(2, args.repeat + 1):  # the same pair again, each run on the state its first one had
                _restore_stack(before_full, stack_dir)
                repeats["full"].append(run(stack.config, f"full-{i}", "--full-refresh", prefect_api=api))
                _restore_stack(before_daily, stack_dir)
                repeats["daily"].append(run(stack.config, f"daily-{i}", prefect_api=api))
            for copy in (before_full, before_daily):
                if copy is not None:
                    shutil.rmtree(copy, ignore_errors=True)
    out = figures(stack, args, build_s, runs, sizes, floor_s, repeats)
    if url:
        out["warehouse"] = "postgresql" + (" (local throwaway server)" if fresh else "")
        peaks = [r.get("server_peak_pss_mib") for r in runs.values() if r.get("server_peak_pss_mib")]
        out["server_peak_pss_mib"] = max(peaks) if peaks else None
    return out


def _copy_stack(stack_dir: Path, to: Path) -> Path:
    """The stack folder as it is now (warehouse, exports, dbt's work folder, ledger files), to time a run again from
    the same state; the runs' own output files (``run-<label>.*``) are left out."""
    shutil.rmtree(to, ignore_errors=True)
    shutil.copytree(stack_dir, to, symlinks=True, ignore=shutil.ignore_patterns("run-*"))
    return to


# dbt's compiled templates (integrations/transform/lighter.py): a cache of code for the project's text, not state a run
# reads data from. A team's next run finds what its last run compiled, so a repeat keeps the latest, where a restored
# copy would make each repeated daily run compile again the incremental macros only a daily run uses (~0.3 s).
KEPT_ACROSS_REPEATS = ("work/dbt/jinja",)


def _restore_stack(copy: Path | None, stack_dir: Path) -> None:
    """``stack_dir`` back to ``copy`` (``_copy_stack``), keeping the runs' output files and the caches in
    ``KEPT_ACROSS_REPEATS`` as the last run left them. Files keep their times (``copy2``), so an export file landed
    before is still known by its size and time, as on the first pass."""
    if copy is None:
        raise ValueError("no copy of the stack to restore")
    kept = stack_dir.parent / f".{stack_dir.name}-kept"
    shutil.rmtree(kept, ignore_errors=True)
    for name in KEPT_ACROSS_REPEATS:
        if (stack_dir / name).is_dir():
            (kept / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(stack_dir / name), str(kept / name))
    for item in stack_dir.iterdir():
        if item.name.startswith("run-"):
            continue
        shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
    for item in copy.iterdir():
        target = stack_dir / item.name
        if item.is_dir() and not item.is_symlink():
            shutil.copytree(item, target, symlinks=True)
        else:
            shutil.copy2(item, target, follow_symlinks=False)
    for name in KEPT_ACROSS_REPEATS:
        if (kept / name).is_dir():
            shutil.rmtree(stack_dir / name, ignore_errors=True)
            (stack_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(kept / name), str(stack_dir / name))
    shutil.rmtree(kept, ignore_errors=True)
    subprocess.run(["sync"], check=False)  # the copy's writes flushed before the timed run, not during it


def median_of(first: dict, more: list[dict], key: str = "wall_s") -> float | None:
    """The median of ``key`` over a run and its repeats, or None unless every one of them completed."""
    values = [r.get(key) for r in [first, *more]]
    if any(r.get("status") != "completed" for r in [first, *more]) or None in values:
        return None
    return round(statistics.median(values), 2)


@contextmanager
def scheduled(root: Path, args: argparse.Namespace) -> Iterator[str | None]:
    """The Prefect API the full and daily runs record themselves in: a server started here, as a deployment's runs
    find one up (_prefect_server.py), or none with ``--cold-daily`` (each run launches its temporary server)."""
    if args.cold_daily:
        yield None
        return
    say("starting a Prefect server for the scheduled runs (full, daily)")
    with prefect_server(root / "prefect-server") as api:
        say(f"Prefect server up: {api}")
        yield api


def figures(stack: Stack, args, build_s: float, runs: dict, sizes: dict, floor_s: float | None,
            repeats: dict[str, list[dict]] | None = None) -> dict:
    """The JSON line. With repeats (``--repeat``), full_s and daily_vs_full are the medians of the full and daily
    runs' walls, and ``repeats`` lists every pair."""
    repeats = repeats or {"full": [], "daily": []}

    def wall(name: str) -> float | None:
        run = runs.get(name, {})
        if name in repeats and repeats[name] and name in runs:
            return median_of(run, repeats[name])
        return run.get("wall_s") if run.get("status") == "completed" else None

    gov, first, daily, full = wall("governance"), wall("first"), wall("daily"), wall("full")
    ratio = round(gov / floor_s, 1) if gov and floor_s else None
    in_run = runs.get("governance", {}).get("run_seconds")
    ratio_in_run = round(in_run / floor_s, 1) if in_run and floor_s else None  # without start-up
    daily_vs_full = round(daily / full, 2) if daily and full else None  # against a run that rebuilds everything
    daily_vs_governance = round(daily / gov, 2) if daily and gov else None
    # the day's part of each: what the daily and full runs take beyond a run with nothing new (same Prefect server)
    steady = wall("steady")
    beyond = round((daily - steady) / (full - steady), 2) if daily and full and steady and full > steady else None
    peak = runs.get("governance", runs["first"]).get("peak_rss_mib")
    # the largest tree of the runs on the landed warehouse: the full refresh rebuilds the 10M-event tables too
    landed = [runs[r] for r in ("governance", "full", "daily", "steady") if r in runs] + repeats["full"] \
        + repeats["daily"]
    peak_landed = max((r.get("peak_rss_mib") or 0 for r in landed), default=None)
    met = {
        "governance_le_60s": gov is not None and gov <= TARGETS["governance_s"],
        "peak_rss_le_2048mib": peak is not None and peak <= TARGETS["peak_rss_mib"] and gov is not None,
        "peak_rss_every_landed_run_le_2048mib": bool(peak_landed) and peak_landed <= TARGETS["peak_rss_mib"],
        "ratio_vs_floor_le_10": ratio is not None and ratio <= TARGETS["ratio_vs_floor"],
        "first_le_180s": first is not None and first <= TARGETS["first_s"],
        "daily_le_30pct_of_full": daily_vs_full is not None and daily_vs_full <= TARGETS["daily_vs_full"],
    }
    out = {
        "benchmark": "scale", "contacts": args.contacts, "events": args.events, "delta": args.delta,
        "as_of": stack.as_of.isoformat(),
        "copies": {"people": stack.people_copies, "events": stack.event_copies}, "export_rows": stack.sizes,
        "raw_rows": sizes, "build_s": round(build_s, 1), "runs": runs,
        "floor_s": round(floor_s, 3) if floor_s else None, "ratio_vs_floor": ratio,
        "ratio_in_run_vs_floor": ratio_in_run, "daily_vs_full": daily_vs_full,
        "daily_vs_governance": daily_vs_governance, "full_s": full, "steady_s": steady,
        "daily_beyond_steady_vs_full": beyond,
        "full_vs_floor": round(full / floor_s, 1) if full and floor_s else None,
        "peak_rss_mib": peak, "peak_rss_landed_runs_mib": peak_landed, "targets": met,
    }
    if "demo" in runs and "governance" in runs:
        out["findings_vs_demo"] = compare(runs["demo"], runs["governance"])
    if "full" in runs and "governance" in runs:
        out["full_findings_vs_governance"] = compare(runs["governance"], runs["full"])
    if "daily" in runs and "governance" in runs:
        out["daily_findings_vs_governance"] = compare(runs["governance"], runs["daily"])
    if "steady" in runs and "governance" in runs:
        out["steady_findings_vs_governance"] = compare(runs["governance"], runs["steady"])
    if repeats["full"] or repeats["daily"]:
        pairs = list(zip([runs.get("full", {}), *repeats["full"]], [runs.get("daily", {}), *repeats["daily"]]))
        out["repeats"] = {
            "pairs": len(pairs),
            "full_wall_s": [f.get("wall_s") for f, _ in pairs], "daily_wall_s": [d.get("wall_s") for _, d in pairs],
            "daily_vs_full_each": [round(d["wall_s"] / f["wall_s"], 2) if d.get("wall_s") and f.get("wall_s") else None
                                   for f, d in pairs],
            "findings_same": "governance" in runs and all(
                r.get("status") == "completed" and compare(runs["governance"], r)["same"]
                for r in repeats["full"] + repeats["daily"]),
        }
    return out


if __name__ == "__main__":
    main()
