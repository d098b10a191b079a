"""Test helper: govern a workspace without Prefect (land, dbt build, judge), to test the rooms, not the orchestration."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from steward.contracts.finding import Finding
from steward.contracts.governance import evaluate
from steward.contracts.policy import Policy, load_policy
from steward.integrations.transform import dbt_build
from steward.integrations.warehouse import pii_scan
from steward.integrations.warehouse.landing import land_batch
from steward.integrations.sources import ExportFilesAdapter
from steward.integrations.warehouse import Warehouse
from steward.integrations.warehouse.validation import check_batch
from steward.integrations.warehouse.sample_queries import governance_sample_query
from steward.integrations.demo.generator import Workspace, generate_workspace
from steward.integrations.demo.injections import Injections

PLATFORMS = ("salesforce", "hubspot", "google_ads", "cdp", "decisions")


def land_exports(wh: Warehouse, exports: Path, run_id: str = "t") -> list:
    """Every export file landed, the warehouse held open for the whole pass (``Warehouse.pinned``), as a run's pulls
    hold it (flows/pull.py): one open of the file, not one per batch and per fingerprint look-up."""
    results = []
    with wh.pinned():
        for platform in PLATFORMS:
            adapter = ExportFilesAdapter(platform, platform, exports / platform, wh)
            for stream in adapter.streams():
                for batch in adapter.pull(stream.entity):
                    v = check_batch(batch)
                    results.append(land_batch(wh, batch, v.valid, v.quarantined, v.drift, v.contract.version,
                                              run_id, v.contract.owner))
    return results


def govern(exports: Path, work: Path, policy: Policy | None = None,
           unit_tests: bool = True) -> tuple[Warehouse, list[Finding]]:
    """Land, scan, build and judge. ``unit_tests=False`` leaves dbt's unit tests out of the build: they test the
    models' SQL on fixed fixture rows, so they say the same for every workspace, and a quarter of a demo build is
    spent on them; the session's template build (``governed_template``) runs them all and fails on any failure."""
    wh, findings, _ = _govern(exports, work, policy or load_policy(), unit_tests)
    return wh, findings


def _govern(exports: Path, work: Path, policy: Policy,
            unit_tests: bool) -> tuple[Warehouse, list[Finding], dbt_build.BuildOutcome]:
    wh = Warehouse(work / "w.duckdb")
    land_exports(wh, exports)
    pii_scan.scan_pii(wh, policy.scope.pii_scan_schemas, policy.scope.pii_sample_rows)
    outcome = dbt_build.build(wh.path, work / "dbt",
                              {**policy.dbt_vars(), "as_of": pd.Timestamp.now(tz="UTC").isoformat()},
                              exclude=None if unit_tests else ["test_type:unit"])
    with wh.pinned():  # dbt is done: every mart read from one open of the file, as a run's judge step reads them
        findings = evaluate(policy, lambda m: wh.query_df(f"select * from governance.{m}"), "t",
                            governance_sample_query)
    return wh, findings, outcome


def alerting(findings: list[Finding]) -> set[str]:
    return {f.check_id for f in findings if f.severity.value in ("warn", "critical")}


# ------------------------------------------------------------------------------------------- shared templates
# Several modules compare marts with the export files of the same demo (seed 11, scale 0.5, every injection on).
# Generating, landing and building it costs ~35 s, so it is built once per test session -- by whichever pytest-xdist
# worker asks first, the others wait on a file lock -- and each module gets its own copy of the folder (DuckDB lets
# one process at a time write a file, and the re-landing test changes its copy).


@dataclass(frozen=True)
class Governed:
    """A copy of a governed template: the generated workspace, its warehouse, the findings and when it started."""

    ws: Workspace
    wh: Warehouse
    findings: list[Finding]
    started: pd.Timestamp  # just before the build (the privacy marts judge retention against the run's now)


def _session_dir(tmp_path_factory) -> Path:
    """A folder all xdist workers of this session share (their basetemps are siblings), and no other session."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def template_day() -> str:
    """Today's date in UTC, part of every session template's key: a run is judged as of the day it runs (the
    demo's dates, freshness, the metric windows), so a test that runs after midnight must not compare its own run
    with a template governed the day before (a suite crossing midnight UTC failed that way). A new day builds its
    templates again, once."""
    return pd.Timestamp.now(tz="UTC").date().isoformat()


def governed_template(tmp_path_factory, seed: int, scale: float, injections: Injections) -> Path:
    """The folder of a demo workspace generated, landed, scanned, built and judged once for the whole session."""
    tag = hashlib.sha256(repr((seed, scale, injections, template_day())).encode()).hexdigest()[:12]
    root = _session_dir(tmp_path_factory) / f"governed-template-{tag}"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"governed-template-{tag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "template.pickle").exists():
            shutil.rmtree(root, ignore_errors=True)
            ws = generate_workspace(root / "ws", seed=seed, scale=scale, injections=injections)
            started = pd.Timestamp.now(tz="UTC")
            wh, findings, _ = _govern(ws.exports, root / "work", load_policy(), unit_tests=True)
            results = json.loads((root / "work" / "dbt" / "target" / "run_results.json").read_text())["results"]
            unit = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
            assert unit and set(unit.values()) == {"pass"}, unit  # every unit test of the project ran and passed
            with wh.connect() as con:
                con.execute("checkpoint")  # every model in the file itself, not in a write-ahead log, before copying
            (root / "findings.json").write_text(json.dumps([f.model_dump(mode="json") for f in findings]))
            (root / "template.pickle").write_bytes(pickle.dumps((ws, started)))  # written last: the template is done
    return root


def governed_copy(tmp_path_factory, name: str, seed: int, scale: float, injections: Injections) -> Governed:
    """A private copy of the session's template for ``(seed, scale, injections)``, as ``govern()`` left it."""
    template = governed_template(tmp_path_factory, seed, scale, injections)
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(template, root, dirs_exist_ok=True)
    ws, started = pickle.loads((root / "template.pickle").read_bytes())
    files = {key: root / "ws" / Path(path).relative_to(ws.root) for key, path in ws.files.items()}
    ws = replace(ws, root=root / "ws", files=files)
    findings = [Finding.model_validate(f) for f in json.loads((root / "findings.json").read_text())]
    return Governed(ws, Warehouse(root / "work" / "w.duckdb"), findings, started)


# ------------------------------------------------------------------------------------------- a governed demo run
# Several flow modules start from "a small demo workspace governed once": the test then breaks an export, the policy
# or the config and runs again. That first run is the same every time (seed, scale, files), so it runs once per
# session -- a real governance flow run, as `steward demo --source files` does it -- and each test gets its own copy
# of the folder. The folder is relocatable: steward.yaml names the warehouse, exports and reports relative to it.


@dataclass(frozen=True)
class DemoRun:
    """A copy of a demo workspace after one governance run: its config, what was generated, and the run's result."""

    config: Path
    ws: Workspace
    result: object  # steward.flows.governance.RunResult, with its paths pointing into the copy
    prefect: dict | None = None  # what the Prefect server held right after the run (``_prefect_record``)


def _prefect_record(run_id: str) -> dict:
    """What the session's Prefect server holds for the run just made: its flow run and artifacts, read right after
    it and found by the run id its summary names (the server is shared by every worker: shared_prefect.py). The run
    is paid once per session by whichever worker asks first, so a test about the flow run's record
    (test_governance_flow.py) reads this instead of another run of its own."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["steward-findings", "steward-run-summary"])))
        flow_run_ids = {a.flow_run_id for a in artifacts if run_id in str(a.data)}  # the run's summary names it
        mine = [a for a in artifacts if a.flow_run_id in flow_run_ids]
        flow_runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(flow_run_ids))))
    return {"flow_runs": [{"id": str(r.id), "name": r.name, "completed": bool(r.state and r.state.is_completed())}
                          for r in flow_runs],
            "artifacts": [{"key": a.key, "flow_run_id": str(a.flow_run_id), "data": str(a.data)} for a in mine]}


def demo_run_template(tmp_path_factory, scale: float = 0.2, seed: int = 7, clean: bool = False) -> Path:
    """The folder of ``prepare_demo(scale, seed, clean)`` after one ``governance_run(kind="demo")``, built once for
    the session by whichever xdist worker asks first. The caller must have a Prefect API (the ``prefect_harness``
    fixture): the run is a real flow run."""
    from steward.flows.demo import prepare_demo
    from steward.flows.governance import RunParams, governance_run

    tag = hashlib.sha256(repr(("demo-run", scale, seed, clean, template_day())).encode()).hexdigest()[:12]
    root = _session_dir(tmp_path_factory) / f"demo-run-{tag}"
    with open(root.parent / f"demo-run-{tag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "template.pickle").exists():
            shutil.rmtree(root, ignore_errors=True)
            config, ws = prepare_demo(root / "ws", scale=scale, seed=seed, clean=clean)
            result = governance_run(RunParams(config=str(config), kind="demo"))
            assert result.status == "completed", result.status
            import duckdb

            with duckdb.connect(result.warehouse) as con:
                con.execute("checkpoint")  # every table in the file itself, none in a write-ahead log, before copying
            (root / "prefect.json").write_text(json.dumps(_prefect_record(result.run_id)))
            (root / "template.pickle").write_bytes(pickle.dumps((ws, result.model_dump_json())))  # written last
    return root


def demo_run_copy(tmp_path_factory, name: str, scale: float = 0.2, seed: int = 7, clean: bool = False) -> DemoRun:
    """A private copy of the session's governed demo (``demo_run_template``), as the run left it."""
    from steward.flows.governance import RunResult

    template = demo_run_template(tmp_path_factory, scale, seed, clean)
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(template / "ws", root / "ws", symlinks=True)
    ws, result_json = pickle.loads((template / "template.pickle").read_bytes())
    old, new = str(ws.root), str(root / "ws")
    files = {key: root / "ws" / Path(path).relative_to(ws.root) for key, path in ws.files.items()}
    result = RunResult.model_validate_json(result_json)
    result = result.model_copy(update={"warehouse": result.warehouse.replace(old, new, 1),
                                       "report": result.report.replace(old, new, 1)})
    prefect = json.loads((template / "prefect.json").read_text())
    return DemoRun(root / "ws" / "steward.yaml", replace(ws, root=root / "ws", files=files), result, prefect)


# ------------------------------------------------------------------------------------------- `steward demo` runs
# The README's `steward demo` at scale 1, injected and clean, each run once per session in a fresh `steward` process:
# test_cli_end_to_end.py asks what the newcomer sees (its JSON, exit code, report, audit log), and
# test_prelaunch_audit.py audits the launch specs on the very warehouses `steward demo` leaves, as the README's next
# step does (`steward audit launch ... -c steward-demo/steward.yaml`). Before, each module paid its own two scale-1
# runs. Each caller gets a private copy of the folder; the process's output is kept with it, its paths moved into
# the copy.


@dataclass(frozen=True)
class CliDemo:
    """A copy of the folder a `steward demo` process ran in, and that process's exit code and output."""

    cwd: Path
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def steward_process(*args: str, cwd: Path, env: dict | None = None) -> "subprocess.CompletedProcess":
    """The ``steward`` command in a fresh process, with none of this process's Prefect API or Slack settings unless
    ``env`` gives them (test_cli_end_to_end.py's ``steward`` is this function)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "SLACK_"))}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "steward.flows.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env=environment)


# `steward demo` as a newcomer runs it: no Prefect server anywhere (the run starts its own temporary one), and dbt
# parses the project as on a fresh machine (tests/dbt_parses is left out)
NEWCOMER = {"STEWARD_TEST_DBT_PARSES": ""}
INJECTED_DEMO = ("demo", "--json", "--fail-on", "critical")
CLEAN_DEMO = ("demo", "--clean", "--json", "--fail-on", "warn", "--workdir", "clean")


def cli_demo_template(tmp_path_factory, args: tuple[str, ...], env: dict[str, str]) -> Path:
    """The folder ``steward <args>`` ran in, run once for the session by whichever xdist worker asks first (the
    others wait on a file lock). ``env`` is part of the key: a newcomer's run and a run on the session's Prefect
    server are different runs."""
    key = ("cli-demo", args, sorted(k for k in env if k != "PREFECT_API_URL"), template_day())
    tag = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
    root = _session_dir(tmp_path_factory) / f"cli-demo-{tag}"
    with open(root.parent / f"cli-demo-{tag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "process.json").exists():
            shutil.rmtree(root, ignore_errors=True)
            (root / "cwd").mkdir(parents=True)
            proc = steward_process(*args, cwd=root / "cwd", env=env)
            record = {"cwd": str(root / "cwd"), "returncode": proc.returncode, "stdout": proc.stdout,
                      "stderr": proc.stderr}
            (root / "process.json").write_text(json.dumps(record))  # written last: the template is done
    return root


def cli_demo_copy(tmp_path_factory, name: str, args: tuple[str, ...], env: dict[str, str]) -> CliDemo:
    """A private copy of the session's ``steward <args>`` folder (``cli_demo_template``), with the process's output;
    every path it printed into the template's folder now names the copy."""
    template = cli_demo_template(tmp_path_factory, args, env)
    record = json.loads((template / "process.json").read_text())
    cwd = tmp_path_factory.mktemp(name) / "cwd"
    shutil.copytree(template / "cwd", cwd, symlinks=True)
    moved = {k: record[k].replace(record["cwd"], str(cwd)) for k in ("stdout", "stderr")}
    return CliDemo(cwd, args, record["returncode"], moved["stdout"], moved["stderr"])
