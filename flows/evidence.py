"""The evidence pack (``steward evidence``): one folder an auditor or DPO can file for a window of time.

It is Steward explaining itself from its own ledgers (runs, findings, the audit log, campaign controls, incidents,
batches) and the governance marts' figures, mapped to the obligations each piece evidences by the policy's
``obligations:`` table. Reads are integrations/warehouse/evidence_reads.py (counts and masked ids only, never a
customer record); the mapping's judgement is contracts/obligations.py; this module only assembles and writes.

The pack is written whole or not at all: into a hidden sibling folder first, then renamed (or zipped) into place, so
an auditor never files half a pack; ``manifest.json`` holds the sha256 of every other file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..contracts.errors import ConfigError, StewardError
from ..contracts.obligations import EVIDENCE_KINDS, Coverage, coverage, resolution
from ..contracts.policy import Policy
from ..contracts.campaigns import CampaignRef, campaign_key
from ..integrations.warehouse import Warehouse, evidence_reads as reads
from ..integrations.warehouse.reads import campaign_refs, landed_integrations
from ..integrations.warehouse.ledger import AUDIT_KEY_ENV, audit_key, check_audit_log, latest_anchor

from .report_charts import chart_context

__all__ = ["Window", "parse_window", "write_pack", "collect_pack", "Pack"]

_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Window:
    """``[since, until)`` in UTC."""

    since: datetime
    until: datetime

    @property
    def label(self) -> str:
        return f"{_iso(self.since)} to {_iso(self.until)}"


def parse_window(since: str, until: str | None = None, now: datetime | None = None) -> Window:
    """``--since``/``--until`` as dates (whole days: ``--until 2026-12-31`` includes the 31st) or ISO timestamps
    (naive ones are UTC); ``--until`` defaults to now. A bad value is a ``ConfigError`` naming its option."""
    start = _instant(since, "--since", end_of_day=False)
    end = _instant(until, "--until", end_of_day=True) if until else (now or datetime.now(timezone.utc))
    if end <= start:
        raise ConfigError(f"--until: {_iso(end)} is not after --since {_iso(start)}")
    return Window(start, end)


def _instant(text: str, option: str, end_of_day: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end_of_day else day, time(), timezone.utc)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option}: expected a date (2026-12-01) or an ISO timestamp, not '{text}'") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@dataclass
class Pack:
    """What the pack holds before it is written: each table by file name, the verification, the obligation table."""

    window: Window
    warehouse: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sections: dict[str, tuple[int, str]] = field(default_factory=dict)  # evidence kind -> (rows, files)
    verification: dict[str, Any] = field(default_factory=dict)
    obligations: list[Coverage] = field(default_factory=list)


def collect_pack(wh: Warehouse, policy: Policy, window: Window, anchor_file: Path | None = None) -> Pack:
    """Read everything the pack shows for ``window``. Raises ``StewardError`` when no run started in the window: an
    empty pack would read as "nothing was checked" and be filed as such."""
    since, until = window.since, window.until
    runs = reads.window_runs(wh, since, until)
    if runs.empty:
        raise StewardError(f"no governance run started {window.label} in {wh.path}: nothing to evidence "
                           f"(widen --since/--until)")
    pack = Pack(window, str(wh.path))
    checks = _checks(policy, runs, reads.window_skipped_checks(wh, since, until),
                     reads.window_check_findings(wh, since, until))
    run_table = _runs(runs, checks)
    audit = reads.window_audit(wh, since, until)
    actions = audit[~audit["action"].str.endswith("-intent")].drop(columns=["fingerprint", "prev_hash", "hash",
                                                                           "key_id"])
    incidents = reads.window_incidents(wh, since, until)
    findings = _findings(reads.window_findings(wh, since, until), incidents, audit, _final_run(runs))
    _add(pack, "runs", "runs.csv", run_table)
    pack.tables["checks.csv"] = checks
    _add(pack, "findings", "findings.csv", findings)
    refs = campaign_refs(wh)
    _add(pack, "actions", "actions.csv", _with_campaign(actions, actions["target"], refs))
    _add(pack, "audit_log", "audit_log.csv", audit)
    controls = reads.window_controls(wh, since, until)
    platforms = landed_integrations(wh)
    keys = [campaign_key(platforms.get(i, i), c) for i, c in zip(controls["integration"], controls["campaign_id"])]
    _add(pack, "campaign_controls", "campaign_controls.csv", _with_campaign(controls, keys, refs))
    _add(pack, "incidents", "incidents.csv", incidents)
    _add(pack, "landing", "landing.csv", reads.window_landing(wh, since, until))
    for kind in reads.MART_FIGURES:
        for mart, frame in reads.mart_figures(wh, kind).items():
            _add(pack, kind, f"{mart.removeprefix('gov_')}.csv", frame)
    pack.verification = _verify(wh, anchor_file)
    ran = checks[checks["evaluated"] == "yes"].groupby("check_id")["run_id"].nunique().to_dict()
    found = findings.groupby("check_id").size().to_dict() if not findings.empty else {}
    pack.obligations = coverage(policy.obligation_table(), pack.sections, ran,
                                {c: r.family for c, r in policy.checks.items()}, found)
    pack.tables["obligations.csv"] = pd.DataFrame(
        [{"obligation_id": c.obligation_id, "law": c.obligation.law, "article": c.obligation.article,
          "title": c.obligation.title, "evidenced": "yes" if c.evidenced else "no",
          "evidence": "; ".join(f"{p.name}: {p.detail}" for p in c.pieces if p.present),
          "missing": "; ".join(f"{p.name}: {p.detail}" for p in c.pieces if not p.present)}
         for c in pack.obligations])
    return pack


def _add(pack: Pack, kind: str, file: str, frame: pd.DataFrame) -> None:
    pack.tables[file] = frame
    rows, files = pack.sections.get(kind, (0, ""))
    pack.sections[kind] = (rows + len(frame), f"{files}, {file}" if files else file)


def _with_campaign(frame: pd.DataFrame, keys: Any, refs: dict[str, CampaignRef]) -> pd.DataFrame:
    """The frame with a ``campaign`` column: the campaign's name and its one id form (``platform:id``), from the
    campaign directory; empty where the key names no campaign the directory knows."""
    out = frame.copy()
    out.insert(0, "campaign", [refs[k].label if k in refs else "" for k in keys])
    return out


def _checks(policy: Policy, runs: pd.DataFrame, skipped: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    """One row per run and policy check: evaluated or not (and why), and its findings in that run. A run's checks
    are the policy's checks minus the ones it recorded as not evaluated (``ledger.health_gate``)."""
    why = {(r.run_id, r.check_id): r.reason for r in skipped.itertuples(index=False)}
    count = {(r.run_id, r.check_id): int(r.findings) for r in found.itertuples(index=False)}
    rows = [{"run_id": run, "check_id": check, "family": rule.family,
             "evaluated": "no" if (run, check) in why else "yes", "not_evaluated_because": why.get((run, check), ""),
             "findings": count.get((run, check), 0)}
            for run in runs.loc[runs["status"] == "completed", "run_id"] for check, rule in policy.checks.items()]
    return pd.DataFrame(rows, columns=["run_id", "check_id", "family", "evaluated", "not_evaluated_because",
                                       "findings"])


def _runs(runs: pd.DataFrame, checks: pd.DataFrame) -> pd.DataFrame:
    summaries = [json.loads(s) if isinstance(s, str) else s for s in runs["summary"]]  # PostgreSQL: already a dict
    counts = [s.get("counts", {}) if isinstance(s, dict) else {} for s in summaries]
    out = runs.drop(columns=["summary"]).copy()
    for sev in ("critical", "warn", "info"):
        out[sev] = [c.get(sev, 0) for c in counts]
    evaluated = checks.groupby("run_id")["evaluated"]
    out["checks_evaluated"] = out["run_id"].map(evaluated.apply(lambda s: int((s == "yes").sum()))).fillna(0)
    out["checks_not_evaluated"] = out["run_id"].map(evaluated.apply(lambda s: int((s == "no").sum()))).fillna(0)
    return out.astype({"checks_evaluated": "int64", "checks_not_evaluated": "int64"})


def _final_run(runs: pd.DataFrame) -> str | None:
    done = runs[runs["status"] == "completed"]
    return str(done["run_id"].iloc[-1]) if not done.empty else None


def _findings(findings: pd.DataFrame, incidents: pd.DataFrame, audit: pd.DataFrame,
              final_run: str | None) -> pd.DataFrame:
    """Each finding with how it ended (contracts.obligations.resolution) and what was done about it (its audit
    rows: action, outcome, who decided)."""
    by_fp = {r.fingerprint: r for r in incidents.itertuples(index=False)}
    done = audit[~audit["action"].str.endswith("-intent") & audit["fingerprint"].notna()]
    taken: dict[str, list[str]] = {}
    for r in done.itertuples(index=False):
        taken.setdefault(r.fingerprint, []).append(f"{r.action}: {r.outcome} (decided by {r.decided_by})")
    out = findings.copy()
    out["resolution"] = [
        resolution(r.last_run_id, final_run, getattr(by_fp.get(r.fingerprint), "status", None),
                   _iso(getattr(by_fp.get(r.fingerprint), "resolved_at", None)) or None,
                   getattr(by_fp.get(r.fingerprint), "last_run_id", None))
        for r in findings.itertuples(index=False)]
    out["actions_taken"] = ["; ".join(taken.get(fp, [])) for fp in findings["fingerprint"]]
    return out


def _verify(wh: Warehouse, anchor_file: Path | None) -> dict[str, Any]:
    """The whole audit log's chain checked as ``steward audit log verify`` checks it (same code), as data."""
    anchor = latest_anchor(anchor_file) if anchor_file else None
    key = audit_key()
    check = check_audit_log(wh, key, [anchor] if anchor else [])
    if check.needs_key:
        problem = f"row {check.broken_seq} {check.problem}: set {AUDIT_KEY_ENV} to verify it"
    elif check.broken_seq is not None:
        problem = f"row {check.broken_seq} {check.problem}"
    else:
        problem = check.anchor_problem
    return {"verified": check.intact and not check.needs_key, "rows": check.rows,
            "head": check.head.text if check.head else None, "key_id": check.key_id,
            "keyed": check.key_id is not None, "legacy_rows": check.legacy_rows,
            "anchors_checked": [a.text for a in check.anchors], "problem": problem}


def write_pack(wh: Warehouse, policy: Policy, window: Window, out: Path, as_zip: bool = False,
               anchor_file: Path | None = None) -> Path:
    """Collect and write the pack to ``out`` (a folder), or ``out`` + ``.zip`` with ``as_zip``; returns the path."""
    target = out.with_name(out.name + ".zip") if as_zip else out
    if target.exists() and (target.is_file() or any(target.iterdir())):
        raise ConfigError(f"--out: {target} already exists; an evidence pack is never written over another")
    with wh.pinned():  # one open of the DuckDB file for the pack's dozen ledger and mart reads, not one each
        pack = collect_pack(wh, policy, window, anchor_file)
        charts = chart_context(wh, policy)["bias"]
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _write_files(staging, pack, charts)
        if as_zip:
            _zip(staging, target)
        else:
            if target.exists():
                target.rmdir()
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_files(folder: Path, pack: Pack, charts: list) -> None:
    for name, frame in pack.tables.items():
        _csv(frame).to_csv(folder / name, index=False)
    (folder / "audit_verification.json").write_text(json.dumps(pack.verification, indent=2) + "\n")
    (folder / "obligations.json").write_text(json.dumps(
        [{"obligation_id": c.obligation_id, **c.obligation.model_dump(), "evidenced": c.evidenced,
          "pieces": [asdict(p) for p in c.pieces]} for c in pack.obligations], indent=2) + "\n")
    context = _context(pack)
    (folder / "index.md").write_text(_env(False).get_template("evidence.md.j2").render(**context), encoding="utf-8")
    (folder / "index.html").write_text(_env(True).get_template("evidence.html.j2").render(**context, charts=charts),
                                       encoding="utf-8")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    manifest = {"window": {"since": _iso(pack.window.since), "until": _iso(pack.window.until)},
                "generated_at": _iso(datetime.now(timezone.utc)), "warehouse": pack.warehouse,
                "files": {p.name: {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
                          for p in files}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _context(pack: Pack) -> dict[str, Any]:
    def rows(name: str) -> list[dict[str, Any]]:
        return _csv(pack.tables[name]).fillna("").to_dict("records")

    return {"window": pack.window.label, "generated_at": _iso(datetime.now(timezone.utc)),
            "warehouse": pack.warehouse, "verification": pack.verification, "obligations": pack.obligations,
            "kinds": EVIDENCE_KINDS, "sections": pack.sections, "runs": rows("runs.csv"),
            "findings": rows("findings.csv"), "actions": rows("actions.csv"),
            "controls": rows("campaign_controls.csv"), "landing": rows("landing.csv"),
            "figures": {name: rows(name) for name in pack.tables if "__" in name}}


@lru_cache(maxsize=2)
def _env(html: bool) -> Environment:
    """One environment per kind and process: it keeps the templates it compiled, and reloads a changed file."""
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=html, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = _md_cell
    return env


def _md_cell(value: Any) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _zip(folder: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{target.stem}/{path.name}")
    os.replace(tmp, target)


def _csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as ISO 8601 UTC text, floats without binary noise, so the CSV reads the same in any locale."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = [_iso(v) for v in out[column]]
        elif pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(6)
    return out


def _iso(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
