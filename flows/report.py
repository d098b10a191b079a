"""The HTML report of one governance run: what was found, what was done about it, and what was landed.

The report is the run explaining itself afterwards, so it is built only from the ledgers the run wrote, never from
raw tables. The quarantine ledger holds raw customer records; the report reads its counts and reasons and never the
``record`` column, so the file can be shared with people who may not see customer data. Autoescaping is on because
explanations, subjects and drifted column names all come from data Steward does not control.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..contracts.finding import FAMILIES, Severity, fingerprint_of
from ..contracts.policy import Policy, load_policy
from ..contracts.errors import StewardError, WarehouseError
from ..integrations.health import health_section
from ..integrations.warehouse.ledger import audit_head
from ..integrations.warehouse import Warehouse, reads

from .report_charts import chart_context
from .report_top import action_first, subject_label

__all__ = ["render_report", "report_context", "action_summary"]

TEMPLATE = "report.html.j2"
SEVERITIES: tuple[str, ...] = ("critical", "warn", "info")  # worst first: the order a reader triages in

def report_context(warehouse: Warehouse, run_id: str) -> dict[str, Any]:
    """Everything the template shows, as plain data, so tests can check the numbers without parsing HTML.

    Raises:
        WarehouseError: the run is not in ``ledger.runs``; an empty report would read as a clean run.
    """
    # one open of the DuckDB file for the report's dozen reads, not one open (and checkpoint) per read; inside a run
    # (already pinned) this changes nothing, and the pin lasts no longer than the reads did
    with warehouse.pinned():
        return _context(warehouse, run_id)


def _context(warehouse: Warehouse, run_id: str) -> dict[str, Any]:
    run, findings, audit, paused, top = _parts(warehouse, run_id)
    trend = top["history"].pop("chart")  # drawn with the other charts; the top keeps the counts (JSON export)
    counts = {sev: sum(f["severity"] == sev for f in findings) for sev in SEVERITIES}
    policy = _policy_of(run)
    return {
        "run": _run(run),
        "top": top,
        "counts": counts,
        "summary": ", ".join(f"{counts[sev]} {sev}" for sev in SEVERITIES),
        "is_clean": counts["critical"] == 0 and counts["warn"] == 0,
        "severities": list(SEVERITIES),
        "family_counts": _family_counts(findings),
        "families": _by_family(findings),
        "audit": audit,
        "paused": paused,
        "batches": [_batch(r) for r in _records(reads.run_batches(warehouse, run_id))],
        "refused": [_stamped({**r, "drift": _diff(r)}, "refused_at")
                    for r in _records(reads.run_refusals(warehouse, run_id))],
        "quarantine": _records(reads.run_quarantine_reasons(warehouse, run_id)),
        "generated_at": _when(datetime.now(timezone.utc)),
        "charts": {**chart_context(warehouse, policy), "trend": [c for c in [trend] if c]},
        "health": health_section(warehouse, run_id, health=policy.health),  # the team's rules, as the run judged
        "audit_head": audit_head(warehouse, run_id),  # the anchor: `steward audit log verify --expect-head`
    }


def action_summary(warehouse: Warehouse, run_id: str) -> dict[str, Any]:
    """The report's top alone (what Steward did, who must act, what changed, the trend), for the console summary
    at the end of ``steward run`` and ``steward demo``: the same data the page opens with.

    Raises:
        WarehouseError: the run is not in ``ledger.runs``.
    """
    with warehouse.pinned():  # one open of the file for its reads (report_context)
        return {**_parts(warehouse, run_id)[4], "run_id": run_id}


def _parts(warehouse: Warehouse, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]],
                                                       list[dict[str, Any]], dict[str, Any]]:
    """The run's row, findings (worst first), audit rows, paused campaigns, and the top built from those same rows."""
    runs = _records(reads.run_rows(warehouse, run_id))
    if not runs:
        raise WarehouseError(f"{warehouse.path}: no run '{run_id}' in ledger.runs; nothing to report")
    refs = reads.campaign_refs(warehouse)
    findings = [_finding(row) for row in _records(reads.run_findings(warehouse, run_id))]
    findings = [{**f, "subject_label": subject_label(f, refs)} for f in findings]  # the campaign's name, if known
    findings.sort(key=lambda f: (-Severity(f["severity"]).rank, f["check_id"], f["subject"]))
    audit = [_stamped(r, "logged_at") for r in _records(reads.run_audit(warehouse, run_id))]
    paused = [_stamped(r, "changed_at") for r in _records(reads.paused_campaigns(warehouse))]
    top = action_first(warehouse, runs[0], findings, audit, paused, refs)
    by_key = {(d["integration"], d["campaign_id"]): d for d in top["did"] if d["kind"] == "paused"}
    paused = [{**p, "campaign": by_key.get((p["integration"], p["campaign_id"]), {}).get("label") or p["campaign_id"],
               "resume": by_key.get((p["integration"], p["campaign_id"]), {}).get("how")} for p in paused]
    return runs[0], findings, audit, paused, top


def render_report(warehouse: Warehouse, run_id: str, out_path: Path) -> Path:
    """Write the run's report to ``out_path`` whole or not at all, so a reader never opens half a file."""
    html = _environment().get_template(TEMPLATE).render(**report_context(warehouse, run_id))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out_path)
    return out_path


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """One Jinja environment per process: it keeps the templates it compiled (~0.12 CPU s for the report's four,
    paid at every report otherwise), and reloads one whose file changed."""
    return Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _policy_of(run: dict[str, Any]) -> Policy:
    """The policy the run was judged by (its steward.yaml's), for the charts' threshold lines; the packaged default
    when that file is gone or no longer loads."""
    from .config import load_config

    try:
        return load_policy(load_config(run["config_path"]).policy) if run.get("config_path") else load_policy()
    except StewardError:
        return load_policy()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows with pandas' NaN/NaT turned into None, so the template tests one kind of missing."""
    return [{k: (None if _missing(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _run(row: dict[str, Any]) -> dict[str, Any]:
    return {**_stamped(row, "started_at", "finished_at"), "summary": _json(row.get("summary"))}


def _finding(row: dict[str, Any]) -> dict[str, Any]:
    evidence = _json(row["evidence"]) or {}
    if not isinstance(evidence, dict):
        evidence = {"value": evidence}
    fingerprint = fingerprint_of(row["check_id"], row["subject_type"], str(row["subject"]))
    return {**_stamped(row, "first_seen_at", "last_seen_at"), "fingerprint": fingerprint,
            "anchor": f"finding-{fingerprint}", "observed_value": row["observed"], "threshold_value": row["threshold"],
            "observed": _number(row["observed"]), "threshold": _number(row["threshold"]),
            "evidence": [(str(k), _cell(v)) for k, v in evidence.items()]}


def _family_counts(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per family that has findings, worst first, plus its total."""
    rows = []
    for family in _family_order(findings):
        counts = {sev: sum(f["family"] == family and f["severity"] == sev for f in findings) for sev in SEVERITIES}
        rows.append({"family": family, **counts, "total": sum(counts.values())})
    return rows


def _by_family(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"family": fam, "findings": [f for f in findings if f["family"] == fam]} for fam in _family_order(findings)]


def _family_order(findings: list[dict[str, Any]]) -> list[str]:
    """Families with a critical finding first, so the reader meets what was paused before what was merely noted."""
    worst: dict[str, int] = {}
    for f in findings:
        worst[f["family"]] = max(worst.get(f["family"], 0), Severity(f["severity"]).rank)
    known = {fam: i for i, fam in enumerate(FAMILIES)}
    return sorted(worst, key=lambda fam: (-worst[fam], known.get(fam, len(known)), fam))


def _batch(row: dict[str, Any]) -> dict[str, Any]:
    return {**_stamped(row, "loaded_at"), "drift": _diff(row)}


def _diff(row: dict[str, Any]) -> list[tuple[str, str]]:
    """Drift as a diff: renames once as ``old → new``, not also as a missing and an added column; retyped columns
    as ``column: from → to`` (type families)."""
    drift = _json(row.get("drift")) or {}
    renamed = {str(k): str(v) for k, v in (drift.get("renamed") or {}).items()}
    diff = [("renamed", f"{old} → {new}") for old, new in renamed.items()]
    diff += [("missing", str(c)) for c in drift.get("missing") or [] if c not in renamed]
    diff += [("added", str(c)) for c in drift.get("added") or [] if c not in renamed.values()]
    diff += [("retyped", f"{c}: {t.get('from')} → {t.get('to')}") for c, t in (drift.get("retyped") or {}).items()]
    return diff


def _stamped(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {**row, **{k: _when(row.get(k)) for k in keys}}


def _when(value: Any) -> str:
    """Timestamps in UTC, whatever time zone the DuckDB session handed them back in."""
    if value is None:
        return "—"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def _json(value: Any) -> Any:
    if value is None or not isinstance(value, (str, bytes)):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _number(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4g}"


def _cell(value: Any) -> str:
    """One evidence value as text: lists joined, mappings as ``k: v``, numbers without float noise."""
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return _number(value)
    return str(value)
