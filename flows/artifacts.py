"""What the Prefect UI shows for a run: a markdown summary and the findings table, under stable keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect.artifacts import create_markdown_artifact, create_table_artifact

if TYPE_CHECKING:
    from .governance import RunResult

__all__ = ["publish_artifacts", "summary_markdown"]


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


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
