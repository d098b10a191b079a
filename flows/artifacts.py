"""What the Prefect UI shows for a run, under stable keys: a governance run's summary, findings table and a link to
its HTML report; a pre-launch audit's verdict, reasons table and a link to its Markdown export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

if TYPE_CHECKING:
    from .governance import RunResult
    from .prelaunch import LaunchAuditResult

__all__ = ["publish_artifacts", "summary_markdown", "launch_markdown", "publish_launch_artifacts"]


def summary_markdown(result: "RunResult") -> str:
    c = result.counts
    lines = [f"# Steward governance run `{result.run_id}`", "",
             f"**{c.get('critical', 0)} critical, {c.get('warn', 0)} warn, {c.get('info', 0)} info** "
             f"in {result.seconds:.1f} s. Report: `{result.report}`", ""]
    if result.actions:
        lines += ["## Actions", *[f"- {a['action']} `{a['target']}`: {a['outcome']}" for a in result.actions], ""]
    lines += ["## Findings", "", "| severity | check | subject | observed | threshold |", "|---|---|---|---|---|"]
    lines += [f"| {f.severity} | {f.check_id} | {f.subject} | {_num(f.observed)} | {_num(f.threshold)} |"
              for f in result.findings]
    return "\n".join(lines)


def publish_artifacts(result: "RunResult") -> None:
    """Artifacts need a flow-run context; outside one (plain function calls in tests) there is nothing to attach to."""
    create_markdown_artifact(key="steward-run-summary", markdown=summary_markdown(result),
                             description=f"Steward run {result.run_id}")
    create_table_artifact(key="steward-findings", table=[f.model_dump() for f in result.findings],
                          description="Findings of the latest governance run")
    create_link_artifact(key="steward-run-report", link=Path(result.report).resolve().as_uri(),
                         link_text=f"HTML report of {result.run_id}", description="The run's report (a local file)")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def launch_markdown(result: "LaunchAuditResult") -> str:
    """The verdict for a ticket or the Prefect UI: each reason with its numbers, evidence and reproducing SQL."""
    lines = [f"# Pre-launch audit: {result.name} — **{result.verdict}**", "",
             f"Launch `{result.launch_id}`, audit `{result.audit_id}`: {len(result.blocking)} blocking, "
             f"{len(result.conditions)} conditions, {len(result.checks_evaluated)} checks evaluated.", ""]
    for title, reasons in (("Blocking reasons", result.blocking), ("Conditions", result.conditions)):
        if not reasons:
            continue
        lines += [f"## {title}", ""]
        for r in reasons:
            lines += [f"### `{r.check_id}` — {r.subject}", "", r.explanation, "",
                      f"- observed **{_num(r.observed)}** vs threshold {_num(r.threshold)} ({r.metric})"]
            if r.kind == "condition":
                lines.append(f"- condition: {r.condition}")
            lines += [f"- {k}: {_cell(v)}" for k, v in r.evidence.items()]
            if r.sample_query:
                lines += ["", "```sql", r.sample_query, "```"]
            lines.append("")
    passed = [c for c in result.checks_evaluated if c not in {r.check_id for r in result.blocking + result.conditions}]
    lines += ["## Checks passed", "", ", ".join(f"`{c}`" for c in passed) or "none", ""]
    return "\n".join(lines)


def publish_launch_artifacts(result: "LaunchAuditResult") -> None:
    """The verdict (markdown), its reasons (table) and a link to the Markdown export, under stable keys."""
    create_markdown_artifact(key="steward-launch-verdict", markdown=launch_markdown(result),
                             description=f"Pre-launch audit {result.audit_id}: {result.verdict}")
    rows = [{"kind": r.kind, "check_id": r.check_id, "subject": r.subject, "observed": r.observed,
             "threshold": r.threshold, "condition": r.condition if r.kind == "condition" else ""}
            for r in result.blocking + result.conditions]
    create_table_artifact(key="steward-launch-reasons", table=rows or [{"kind": "none", "check_id": "",
                                                                           "subject": "all checks passed"}],
                          description=f"Blocking reasons and conditions of {result.launch_id}")
    create_link_artifact(key="steward-launch-export", link=Path(result.export).resolve().as_uri(),
                         link_text=f"{result.launch_id}: Markdown export", description="For the launch ticket")


def _cell(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return _num(value) if isinstance(value, float) else str(value)
