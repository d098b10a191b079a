"""Judges the governance marts against the policy and turns every breach into a Finding.

Each policy check becomes one pandera check per severity level over the metric (as a float; nulls pass); the rows
each check fails, as failure cases (row index, check), say which rows crossed which level, and
``findings_from_failures`` is the one place those become Findings. The marts are already aggregated by dbt, so this
never sees raw rows.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .campaigns import campaign_key
from .errors import ConfigError
from .filters import FilterError, parse_filter
from .finding import Finding, Severity
from .policy import CheckRule, Policy
from .wording import as_words

__all__ = ["evaluate", "judge", "findings_from_failures", "findings_from_dbt_tests", "FLOAT_NOISE", "SampleQuery"]

MartReader = Callable[[str], pd.DataFrame]
# (mart, key values of the row) -> the query that shows that row again; the caller supplies it
# (``integrations.warehouse.sample_queries``): judgement builds no SQL
SampleQuery = Callable[[str, Mapping[str, Any]], str]
_LEVELS = (Severity.critical, Severity.warn)
FLOAT_NOISE = 1e-9  # |observed| below this is judged (and reported) as exactly 0


def evaluate(policy: Policy, read_mart: MartReader, run_id: str,
             sample_query: SampleQuery | None = None) -> list[Finding]:
    """Every check of the policy over its mart; marts are read once each through ``read_mart``. ``sample_query``
    writes each finding's query to look again (none without it)."""
    cache: dict[str, pd.DataFrame] = {}
    findings: list[Finding] = []
    for check_id, rule in policy.checks.items():
        if rule.mart not in cache:
            try:
                cache[rule.mart] = read_mart(rule.mart)
            except Exception as exc:  # the reader's own error type depends on the warehouse
                raise ConfigError(f"{policy.source}: checks.{check_id}.mart: cannot read governance.{rule.mart} "
                                  f"({str(exc).strip().splitlines()[0]})") from exc
        findings += judge(check_id, rule, cache[rule.mart], run_id, policy, sample_query)
    return findings


def judge(check_id: str, rule: CheckRule, mart: pd.DataFrame, run_id: str, policy: Policy,
          sample_query: SampleQuery | None = None) -> list[Finding]:
    rows = _breaching(rule, _judgeable(check_id, rule, mart, policy))
    if rows.empty:
        return []
    checks = [pa.Check(_passes(rule.direction, limit), name=level.value)
              for level in _LEVELS if (limit := getattr(rule, level.value)) is not None]
    failures = _failure_cases(rule, rows, checks)
    if failures.empty:
        return []
    return findings_from_failures(check_id, rule, rows, failures, run_id, policy, sample_query)


def _failure_cases(rule: CheckRule, rows: pd.DataFrame, checks: list[pa.Check]) -> pd.DataFrame:
    """(index, check) of every row each level's check fails. The checks run on the metric as a float, directly: a
    one-column schema's lazy validation gave the same cases at ~18 ms a check (its error report is built for people,
    with the failing values consolidated per column), 0.5 s of a run with findings. A metric that does not convert
    to float goes through that schema as before, which converts what it can and reports the rest."""
    try:
        values = rows[rule.metric].astype(float)
    except (TypeError, ValueError):
        schema = pa.DataFrameSchema({rule.metric: pa.Column(float, nullable=True, coerce=True, checks=checks)})
        try:
            schema.validate(rows, lazy=True)
            return pd.DataFrame({"index": [], "check": []})
        except pa.errors.SchemaErrors as err:
            return err.failure_cases
    cases = []
    for check in checks:
        output = check(values).check_output  # the non-null values' (nulls pass: pandera leaves them out)
        cases += [(index, check.name) for index in output.index[~output.to_numpy(dtype=bool)]]
    return pd.DataFrame(cases, columns=["index", "check"])


def findings_from_failures(check_id: str, rule: CheckRule, rows: pd.DataFrame, failures: pd.DataFrame,
                           run_id: str, policy: Policy, sample_query: SampleQuery | None = None) -> list[Finding]:
    """The single translation from pandera failure cases to Findings: worst level per row wins."""
    failed = failures[failures["index"].notna() & failures["check"].isin([lvl.value for lvl in _LEVELS])]
    worst: dict[Any, Severity] = {}
    for idx, level in zip(failed["index"], failed["check"]):
        sev = Severity(level)
        if idx not in worst or sev.at_least(worst[idx]):
            worst[idx] = sev
    out = []
    for idx, severity in worst.items():
        row = {k: _plain(v) for k, v in rows.loc[idx].items()}
        threshold = getattr(rule, severity.value)
        observed = row.get(rule.metric)
        values = {**row, "observed": observed, "threshold": threshold, "severity": severity.value}
        out.append(Finding(
            run_id=run_id, check_id=check_id, family=rule.family, severity=severity,
            subject_type=rule.subject_type, subject=_fill(policy, check_id, "subject", rule.subject, values),
            metric=rule.metric, observed=observed, threshold=threshold,
            evidence=_evidence(policy, check_id, rule, row, values),
            explanation=" ".join(_fill(policy, check_id, "explanation", rule.explanation, values).split()),
            sample_query=sample_query(rule.mart, {k: row.get(k) for k in rule.key}) if sample_query else None,
            owner=rule.owner or row.get("owner") or policy.owner,
            action=rule.action_for(severity), target=_target(row)))
    return sorted(out, key=lambda f: (-f.severity.rank, f.subject))


def _judgeable(check_id: str, rule: CheckRule, mart: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    needed = [rule.metric, *rule.key, *rule.evidence]
    unknown = [c for c in needed if c not in mart.columns]
    if unknown:
        raise ConfigError(f"{policy.source}: checks.{check_id}: unknown column '{unknown[0]}' in mart {rule.mart} "
                          f"(columns: {', '.join(map(str, mart.columns))})")
    rows = _without_float_noise(mart, rule.metric)
    if not rule.where:
        return rows
    try:  # parsed again here: a rule built in code (model_copy) never went through the policy's validation
        return parse_filter(rule.where).apply(rows)
    except FilterError as exc:
        raise ConfigError(f"{policy.source}: checks.{check_id}.where: in mart {rule.mart}: {exc}") from None


def _breaching(rule: CheckRule, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows past at least one of the rule's levels, with their index: only they can become findings, so only they
    go through pandera, whose validation costs ~70 ms per check whatever the mart's size (42 checks: 3 s of a run,
    most of them on marts with nothing to find). The same comparisons as the schema's checks, on the metric as the
    schema coerces it; a metric that does not coerce keeps every row, and pandera reports it as before."""
    limits = [limit for level in _LEVELS if (limit := getattr(rule, level.value)) is not None]
    if rows.empty or not limits:
        return rows
    try:
        values = rows[rule.metric].astype(float)
    except (TypeError, ValueError):
        return rows
    breach = np.zeros(len(rows), dtype=bool)
    for limit in limits:
        breach |= (values.notna() & ~_passes(rule.direction, limit)(values)).to_numpy()
    return rows[breach]


def _without_float_noise(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A metric within FLOAT_NOISE of 0 is 0: sums and ratios of equal amounts come out as 1e-16, not 0, and an
    exact match must not become a finding against a threshold of 0."""
    values = rows[metric]
    if rows.empty or not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return rows
    noise = values.notna() & (values.abs() < FLOAT_NOISE) & (values != 0)
    return rows.assign(**{metric: values.mask(noise, 0.0)}) if noise.any() else rows


def _passes(direction: str, limit: float) -> Callable[[pd.Series], pd.Series]:
    if direction == "min":
        return lambda s: s >= limit
    return lambda s: s <= limit


def _fill(policy: Policy, check_id: str, field: str, template: str, values: dict[str, Any]) -> str:
    safe = {k: (math.nan if v is None else v) for k, v in values.items()}
    if field == "explanation":  # a series or a JSON list reads as words, never as a Python or JSON literal
        safe = {k: as_words(v) for k, v in safe.items()}
    try:
        return template.format_map(safe)
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"{policy.source}: checks.{check_id}.{field}: cannot fill '{template[:60]}...': {exc!r}") from exc


def _evidence(policy: Policy, check_id: str, rule: CheckRule, row: dict[str, Any],
              values: dict[str, Any]) -> dict[str, Any]:
    """The rule's evidence columns, plus the campaigns in their one id form: ``campaign`` (the subject's, when the
    rule names it) and ``pause_campaign`` (what an action would pause), so a finding and its pause relate."""
    evidence = {k: row.get(k) for k in rule.evidence}
    if rule.campaign:
        evidence["campaign"] = _fill(policy, check_id, "campaign", rule.campaign, values)
    target = _target(row)
    if target:
        evidence["pause_campaign"] = campaign_key(target["platform"], target["campaign_id"])
    return evidence


def _target(row: dict[str, Any]) -> dict[str, str] | None:
    """Marts whose subjects can be paused name the platform and its own campaign id in ``control_*`` columns."""
    if row.get("control_platform") and row.get("control_campaign_id"):
        return {"platform": str(row["control_platform"]), "campaign_id": str(row["control_campaign_id"])}
    return None


def _plain(value: Any) -> Any:
    """JSON-friendly Python values from numpy/pandas cells."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def findings_from_dbt_tests(failures: list[Any], run_id: str, policy: Policy) -> list[Finding]:
    """A failed dbt data test (duplicate key, broken relationship) means staged data cannot be trusted as is."""
    return [Finding(
        run_id=run_id, check_id="data_quality.dbt_test", family="data_quality", severity=policy.dbt_test_severity,
        subject_type="model", subject=f"{t.model or 'project'}: {t.test}", metric="failing_rows",
        observed=float(t.failures), threshold=0.0, evidence={"test": t.test, "failing_rows": t.failures},
        explanation=f"dbt test {t.test} found {t.failures} failing rows in {t.model or 'the project'}; "
                    f"models built on it may double-count or drop records.",
        sample_query=None, owner=policy.owner, action="alert") for t in failures]
