"""A run's report as Markdown (to paste into a ticket) or JSON (for another tool), from the same context as the HTML.

``steward report [RUN_ID] --format md|json|html``. Both carry what the HTML page carries except the charts: the top
(what Steward did, who must act, what changed), findings with their evidence and reproducing SQL, actions, paused
campaigns, ingestion and quarantine counts. Like the page, they never hold a quarantined record.
"""

from __future__ import annotations

import json
from typing import Any

from ..contracts.errors import WarehouseError
from ..integrations.warehouse import Warehouse, reads

__all__ = ["report_markdown", "report_json", "latest_run_id"]


def report_json(context: dict[str, Any]) -> str:
    """The context without its drawings: the charts, and each health row's history strip (an SVG), which a tool
    reading JSON cannot use; the health states themselves stay."""
    doc = {k: v for k, v in context.items() if k != "charts"}
    health = doc.get("health")
    if isinstance(health, dict) and health.get("integrations"):
        doc["health"] = {**health, "integrations": [{k: v for k, v in row.items() if k != "svg"}
                                                    for row in health["integrations"]]}
    return json.dumps(doc, default=str, indent=2)


def report_markdown(context: dict[str, Any]) -> str:
    run = context["run"]
    lines = [f"# Steward run `{run['run_id']}`", "",
             f"{run.get('kind') or 'run'}, started {run['started_at']}, finished {run['finished_at']}, "
             f"status {run.get('status') or '—'}", "", f"**{context['summary']}**", ""]
    lines += _top_markdown(context["top"])
    for group in context["families"]:
        lines += [f"## {group['family'].replace('_', ' ')}", ""]
        for f in group["findings"]:
            lines += [f"### {f['severity'].upper()} `{f['check_id']}` — {f['subject_type']}: {f['subject']}", "",
                      f["explanation"], "",
                      f"- {f['metric']}: observed {f['observed']}, threshold {f['threshold']}; owner {f['owner']}, "
                      f"action {f['action']}, first seen {f['first_seen_at']}"]
            lines += [f"- {key}: {value}" for key, value in f["evidence"]]
            if f.get("sample_query"):
                lines += ["", "```sql", f["sample_query"], "```"]
            lines.append("")
    if not context["families"]:
        lines += ["No findings.", ""]
    lines += ["## Actions", ""] + ([f"- {a['action']} {a['target'] or '—'}: {a['outcome'] or '—'} "
                                    f"({a['decided_by'] or '—'})" for a in context["audit"]] or ["None."]) + [""]
    lines += ["## Campaigns paused", ""] + ([f"- {p['integration']} `{p['campaign_id']}` since {p['changed_at']}: "
                                             f"{p['reason'] or '—'}" for p in context["paused"]] or ["None."])
    return "\n".join(lines) + "\n"


def _top_markdown(top: dict[str, Any]) -> list[str]:
    """The page's top, in its order (flows/report_top.py): what Steward did, who must act, what changed."""
    kinds = {"paused": "PAUSED", "waiting": "WAITING", "held": "NOT PAUSED"}
    lines = ["## What Steward did", ""] + [
        f"- {kinds[d['kind']]} {d['label']}: {d['why']}. "
        + (f"Resume: `{d['how']}`" if d["kind"] == "paused" else f"Next: {d['how']}") for d in top["did"]]
    lines += ([] if top["did"] else ["Nothing paused, no approval waiting."]) + ["", "## Needs a person, by owner", ""]
    for g in top["owners"]:
        lines += [f"- **{g['owner']}**: {g['critical']} critical, {g['warn']} warn"]
        lines += [f"  - {i['severity'].upper()} `{i['check_id']}` {i['subject']}: {i['summary']}" for i in g["items"]]
    changes = top["changes"]
    lines += ["", "## Since the last run", "", changes["summary"], ""]
    lines += [f"- {kind}: {c['severity'] or c['before_severity']} `{c['check_id']}` {c['subject']}"
              for kind in ("new", "worse", "resolved") for c in changes[kind]]
    return lines + [""]


def latest_run_id(warehouse: Warehouse) -> str:
    run_id = reads.latest_completed_run(warehouse)
    if run_id is None:
        raise WarehouseError(f"{warehouse.path}: no completed run in ledger.runs; run `steward run` first")
    return run_id
