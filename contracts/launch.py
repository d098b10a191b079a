"""The pre-launch audit's judgement: the launch checks over the launch marts, and the go / no-go verdict.

Judging reuses the governance judge (``contracts.governance.judge``: a pandera check per threshold) on the launch
marts, so a launch check is a policy rule like any other. ``warn`` becomes a condition, ``critical`` a blocking
reason: NO-GO on any critical finding, GO WITH CONDITIONS on any warn, else GO. Measuring the launch (dbt) and reading
the marts are ``flows/launch_checks.py``.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Mapping

import pandas as pd
from pydantic import BaseModel

from .errors import ConfigError
from .finding import Finding, Severity
from .governance import SampleQuery, judge
from .policy import LaunchPolicy, Policy, load_policy

__all__ = ["Reason", "Verdict", "launch_policy", "judge_marts", "decide", "LAUNCH_MARTS", "VERDICTS"]

VERDICTS = ("GO", "GO WITH CONDITIONS", "NO-GO")
LAUNCH_MARTS = ("launch__consent", "launch__suppression", "launch__frequency", "launch__bias", "launch__models",
                "launch__integrations", "launch__plan")


class Reason(BaseModel):
    """One blocking reason or condition, with the evidence that proves it and the SQL to look again."""

    kind: Literal["blocking", "condition"]
    check_id: str
    family: str
    subject: str
    metric: str
    observed: float | None
    threshold: float | None
    explanation: str
    condition: str
    evidence: dict[str, Any]
    sample_query: str | None


class Verdict(BaseModel):
    verdict: Literal["GO", "GO WITH CONDITIONS", "NO-GO"]
    blocking: list[Reason]
    conditions: list[Reason]
    checks_evaluated: list[str]


def launch_policy(policy: Policy) -> LaunchPolicy:
    """The policy's ``launch`` section, or the packaged default's when a custom policy has none."""
    section = policy.launch or load_policy().launch
    if section is None:  # pragma: no cover - the packaged policy always has one
        raise ConfigError(f"{policy.source}: launch: no pre-launch checks configured")
    return section


def judge_marts(marts: Mapping[str, pd.DataFrame], policy: Policy, audit_id: str,
                sample_query: SampleQuery | None = None) -> tuple[list[Finding], dict[str, str], dict]:
    """Every launch check over its mart (``marts``: each launch mart's rows, by name; ``sample_query`` writes each
    finding's query to look again).

    Returns the findings, each finding's condition (by fingerprint; the ``condition`` template is filled from the
    same mart row as the explanation, by judging the rule once more with it as the explanation) and every mart's
    rows (the evidence stored with the verdict).
    """
    section = launch_policy(policy)
    findings: list[Finding] = []
    conditions: dict[str, str] = {}
    for check_id, rule in section.checks.items():
        if rule.mart not in marts:
            raise ConfigError(f"{policy.source}: launch.checks.{check_id}.mart: unknown launch mart '{rule.mart}' "
                              f"(known: {', '.join(LAUNCH_MARTS)})")
        findings += judge(check_id, rule, marts[rule.mart], audit_id, policy, sample_query)
        as_condition = rule.model_copy(update={"explanation": rule.condition})
        conditions.update({f.fingerprint: f.explanation
                           for f in judge(check_id, as_condition, marts[rule.mart], audit_id, policy)})
    evidence = {name: json.loads(frame.to_json(orient="records", date_format="iso")) for name, frame in marts.items()}
    return findings, conditions, evidence


def decide(findings: list[Finding], conditions: dict[str, str], policy: Policy) -> Verdict:
    """NO-GO on any critical finding, GO WITH CONDITIONS on any warn, else GO."""
    section = launch_policy(policy)
    reasons = [_reason(f, conditions.get(f.fingerprint, "")) for f in findings if f.severity.at_least(Severity.warn)]
    blocking = [r for r in reasons if r.kind == "blocking"]
    conditions = [r for r in reasons if r.kind == "condition"]
    verdict = "NO-GO" if blocking else "GO WITH CONDITIONS" if conditions else "GO"
    return Verdict(verdict=verdict, blocking=blocking, conditions=conditions, checks_evaluated=list(section.checks))


def _reason(f: Finding, condition: str) -> Reason:
    return Reason(kind="blocking" if f.severity == Severity.critical else "condition", check_id=f.check_id,
                  family=f.family, subject=f.subject, metric=f.metric, observed=f.observed, threshold=f.threshold,
                  explanation=f.explanation, condition=condition, evidence=f.evidence, sample_query=f.sample_query)
