"""The top of the report and the end of the console output: what Steward did, who must act, what changed, the trend.

A reader arriving from an alert asks, in this order: did Steward stop something (and how do I undo it), what do I
have to look at, is it new, is it getting worse. The report's sections below the top (family counts, finding cards,
ingestion, audit) stay as they were; these four answer the questions first, each pointing down to its card.

Built from the ledgers through the warehouse layer (``reads``, ``run_history``) and the pure comparison in
``contracts/run_changes.py``; campaigns are named through the campaign directory (``reads.campaign_refs``), so a
pause line and a finding about the same campaign show the same name and the same ``platform:id`` key.
"""

from __future__ import annotations

import shlex
from typing import Any

from ..contracts.campaigns import CampaignRef, campaign_key, ref_of
from ..contracts.finding import FAMILIES, Severity, fingerprint_of
from ..contracts.run_changes import FindingState, RunChanges, compare_runs
from ..integrations.warehouse import Warehouse, reads, run_history

from .report_charts import trend_chart

__all__ = ["action_first", "subject_label", "TREND_RUNS", "OWNER_LINES", "WAITING_HOWS"]

TREND_RUNS = 10  # runs in the trend: about two weeks of daily runs, still one glance wide
OWNER_LINES = 5  # per owner, the worst five in view (page and console); the rest folded, so the top stays short
# Approval outcomes that leave the decision to a person: nobody answered in time, no server to answer on, or the
# answer was refused (wrong signature, not an approver). A rejection is a person's decision and is not waiting.
WAITING_HOWS = ("timeout", "no_server", "refused")
_PAUSING = ("pause", "request_approval")


def action_first(wh: Warehouse, run: dict[str, Any], findings: list[dict[str, Any]], audit: list[dict[str, Any]],
                 paused: list[dict[str, Any]], refs: dict[str, CampaignRef] | None = None) -> dict[str, Any]:
    """The four top sections as plain data. ``findings``, ``audit`` and ``paused`` are the report's own rows
    (flows/report.py), so the top and the sections below it can never disagree; ``refs`` is the campaign directory
    (read here when not given)."""
    refs = reads.campaign_refs(wh) if refs is None else refs
    platforms = reads.landed_integrations(wh)
    config = run.get("config_path") or "steward.yaml"
    return {"did": _paused(paused, audit, refs, platforms, config) + _not_paused(audit, refs, run["run_id"]),
            "owners": _owners(findings, refs), "owner_lines": OWNER_LINES,
            "changes": _changes(wh, run["run_id"], findings, refs),
            "history": _history(wh, run["run_id"])}


def label_of(refs: dict[str, CampaignRef], platform: str | None, campaign_id: str | None) -> dict[str, Any]:
    """A campaign as the report names it: the directory's name when known, always with its platform and own id."""
    if not campaign_id:
        return {"name": None, "platform": platform, "campaign_id": campaign_id, "key": None, "label": "—"}
    key = campaign_key(platform or "", str(campaign_id)) if platform else str(campaign_id)
    ref = refs.get(key) or CampaignRef(platform or "", str(campaign_id))
    return {"name": ref.name, "platform": platform, "campaign_id": str(campaign_id), "key": key,
            "label": ref.label if platform else str(campaign_id)}


def _paused(paused: list[dict[str, Any]], audit: list[dict[str, Any]], refs: dict[str, CampaignRef],
            platforms: dict[str, str], config: str) -> list[dict[str, Any]]:
    """Every campaign Steward holds paused now, this run's pauses first, each with the command that resumes it."""
    this_run = {a["target"] for a in audit if a["action"] in _PAUSING and a.get("outcome") == "paused"}
    out = []
    for p in paused:
        platform = platforms.get(p["integration"], p["integration"])
        campaign = label_of(refs, platform, p["campaign_id"])
        out.append({"kind": "paused", **campaign, "integration": p["integration"], "why": p.get("reason") or "—",
                    "since": p["changed_at"], "this_run": campaign["key"] in this_run,
                    "how": f"steward campaigns resume {shlex.quote(str(p['integration']))} "
                           f"{shlex.quote(str(p['campaign_id']))} --reason \"...\" -c {shlex.quote(config)}"})
    return sorted(out, key=lambda d: (not d["this_run"], d["label"]))


def _not_paused(audit: list[dict[str, Any]], refs: dict[str, CampaignRef], run_id: str) -> list[dict[str, Any]]:
    """This run's pauses that did not happen: waiting on a person (an approval nobody gave), or held (dry run,
    kill switch, no pausable target, rejected), each saying why and what a person can do."""
    out = []
    for a in audit:
        outcome = a.get("outcome") or ""
        if a["action"] not in _PAUSING or not outcome.startswith("not executed"):
            continue
        how_come = outcome.split(": ", 1)[-1]
        platform, _, campaign_id = (a.get("target") or "").partition(":")
        campaign = label_of(refs, platform or None, campaign_id or None)
        waiting = a["action"] == "request_approval" and how_come in WAITING_HOWS
        how = (f"the next run asks again; answer it with `steward approve FLOW_RUN_ID --target {a['target']}` "
               f"(the run prints its FLOW_RUN_ID), or with the Approve button in the alert's Slack thread where "
               f"Slack approvals are set up"
               if waiting else "nothing was changed on the platform; pause it there by hand if it must stop")
        out.append({"kind": "waiting" if waiting else "held", **campaign, "integration": None,
                    "why": f"{a.get('check_id') or '—'}: {how_come} ({a.get('reason') or 'no reason recorded'})",
                    "since": a["logged_at"], "this_run": True, "how": how, "run_id": run_id})
    return out


def _owners(findings: list[dict[str, Any]], refs: dict[str, CampaignRef]) -> list[dict[str, Any]]:
    """Findings that need a person (warn, critical) grouped by owner; the owner with the most critical first, and
    within an owner critical before warn."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if Severity(f["severity"]).at_least("warn"):
            groups.setdefault(f.get("owner") or "unassigned", []).append(_line(f, refs))
    out = [{"owner": owner, "critical": sum(i["severity"] == "critical" for i in items),
            "warn": sum(i["severity"] == "warn" for i in items),
            "items": sorted(items, key=lambda i: (-Severity(i["severity"]).rank, i["check_id"], i["subject"]))}
           for owner, items in groups.items()]
    return sorted(out, key=lambda g: (-g["critical"], -g["warn"], g["owner"]))


def _line(f: dict[str, Any], refs: dict[str, CampaignRef]) -> dict[str, Any]:
    """One finding as one line: what, on what, and the first sentence of its explanation."""
    return {"severity": f["severity"], "check_id": f["check_id"],
            "subject": f.get("subject_label") or subject_label(f, refs),
            "anchor": f["anchor"], "summary": first_sentence(f.get("explanation") or ""),
            "observed": f["observed"], "threshold": f["threshold"]}


def subject_label(f: dict[str, Any], refs: dict[str, CampaignRef]) -> str:
    """The finding's subject, with the campaign's name when the finding is about a campaign the directory knows
    (its evidence names the campaign's key, or its subject is a campaign id only one platform uses)."""
    evidence = dict(f.get("evidence") or [])
    try:
        ref = ref_of(evidence.get("campaign"), evidence.get("campaign_name"), refs)
    except ValueError:  # evidence from before campaign keys: not a platform:id
        ref = None
    if ref is None and f.get("subject_type") == "campaign":
        same = _by_id(refs).get(str(f["subject"]), [])
        ref = same[0] if len(same) == 1 else None
    return ref.label if ref is not None else f"{f['subject_type']}: {f['subject']}"


_INDEXED: tuple[dict[str, CampaignRef], dict[str, list[CampaignRef]]] | None = None


def _by_id(refs: dict[str, CampaignRef]) -> dict[str, list[CampaignRef]]:
    """The directory's campaigns by campaign id and by key, built once per directory read (``refs`` is read fresh
    for each report and not changed after): a report labels every finding of its run and of the run before, and a
    scan of the whole directory per finding grew with findings x campaigns (at 1M people ~600 labels over thousands
    of campaigns)."""
    global _INDEXED
    indexed = _INDEXED
    if indexed is None or indexed[0] is not refs:
        index: dict[str, list[CampaignRef]] = {}
        for ref in refs.values():
            index.setdefault(ref.campaign_id, []).append(ref)
            if ref.key != ref.campaign_id:
                index.setdefault(ref.key, []).append(ref)
        indexed = _INDEXED = (refs, index)
    return indexed[1]


def first_sentence(text: str, limit: int = 220) -> str:
    """The explanation's first sentence, cut at a word near ``limit`` characters: a summary line, not the card."""
    text = " ".join(text.split())
    end = text.find(". ")
    text = text if end < 0 else text[:end + 1]
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _changes(wh: Warehouse, run_id: str, findings: list[dict[str, Any]],
             refs: dict[str, CampaignRef]) -> dict[str, Any]:
    previous = run_history.previous_completed_run(wh, run_id)
    now = [_state(f, refs) for f in findings]
    before = None if previous is None else [
        _state({**r, "anchor": None}, refs) for r in _rows(run_history.findings_brief(wh, previous))]
    changes = compare_runs(now, before, previous)
    return {"previous_run_id": previous, "any": changes.any, "still_open": changes.still_open,
            "new": [_change(n, b) for n, b in changes.new], "worse": [_change(n, b) for n, b in changes.worse],
            "resolved": [_change(n, b) for n, b in changes.resolved],
            "summary": _change_summary(changes)}


def _state(f: dict[str, Any], refs: dict[str, CampaignRef]) -> FindingState:
    fingerprint = f.get("fingerprint") or fingerprint_of(f["check_id"], f["subject_type"], str(f["subject"]))
    raw = (lambda k: f[f"{k}_value"] if f"{k}_value" in f else f.get(k))  # noqa: E731  the report's rows format
    return FindingState(fingerprint, f["severity"], _float(raw("observed")), _float(raw("threshold")),
                        {"check_id": f["check_id"], "subject": f.get("subject_label") or subject_label(f, refs),
                         "anchor": f.get("anchor"),
                         "owner": f.get("owner")})


def _change(now: FindingState | None, before: FindingState | None) -> dict[str, Any]:
    shown = now or before
    return {**shown.info, "severity": now.severity if now else None,
            "before_severity": before.severity if before else None,
            "observed": _text(now.observed if now else None),
            "before_observed": _text(before.observed if before else None), "threshold": _text(shown.threshold)}


def _change_summary(changes: RunChanges) -> str:
    if changes.previous_run_id is None:
        return "first run: nothing to compare with yet"
    return (f"{len(changes.new)} new, {len(changes.worse)} worse, {len(changes.resolved)} resolved, "
            f"{changes.still_open} still open since run {changes.previous_run_id}")


def _history(wh: Warehouse, run_id: str) -> dict[str, Any]:
    """Warn and critical findings per family over the last runs, as counts and as one small-multiples chart."""
    rows = _rows(run_history.family_trend(wh, run_id, TREND_RUNS))
    runs = list(dict.fromkeys(r["run_id"] for r in rows))
    started = {r["run_id"]: r["started_at"] for r in rows}
    counts = {(r["run_id"], r["family"]): int(r["findings"] or 0) for r in rows if r["family"]}
    known = {fam: i for i, fam in enumerate(FAMILIES)}
    families = sorted({fam for (_, fam), c in counts.items() if c}, key=lambda fam: (known.get(fam, len(known)), fam))
    series = {fam.replace("_", " "): [counts.get((run, fam), 0) for run in runs] for fam in families}
    stamps = [_short(started[r]) for r in runs]
    return {"runs": runs, "series": series,
            "chart": trend_chart("history", f"Warn and critical findings per family, last {len(runs)} "
                                            f"run{'s' if len(runs) != 1 else ''}", stamps, series,
                                 tips=[f"{s} ({r})" for s, r in zip(stamps, runs)])}


def _short(value: Any) -> str:
    import pandas as pd

    if value is None:
        return "—"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%m-%d %H:%M")


def _rows(frame: Any) -> list[dict[str, Any]]:
    import pandas as pd

    return [{k: (None if v is None or v is pd.NaT or (isinstance(v, float) and v != v) else v)
             for k, v in row.items()} for row in frame.to_dict("records")]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _text(value: float | None) -> str:
    """A figure as the finding cards print it (flows/report.py): thousands separated, four significant digits."""
    if value is None:
        return "—"
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4g}"
