"""What a bias audit reads from the packaged policy, read without building the whole policy (issue #15: start-up).

``steward audit bias FILE`` judges with the packaged policy unless ``--policy`` names another. It reads the two bias
checks' thresholds, ``where``, owner and actions, the policy's owner and ``audits.bias``: nothing else. Building every
pydantic model of the policy (alerts, approvals, scope, health, launch, obligations, quality, ...) to read those
cost a 721k-row audit about a tenth of its time, on a file that is the same in every run and is validated whole by
the test suite (tests/contracts/test_policy.py). ``packaged_bias_policy`` reads just those parts into frozen
dataclasses with the attributes contracts/fairness.py reads of a ``Policy`` (``checks.get(id).warn``,
``.action_for(severity)``, ``audits.bias.error_rate_ratio``, ``owner``); tests/contracts/test_bias_policy.py holds
every value equal to ``load_policy()``'s. A ``--policy`` file is a user's: it is loaded and validated whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .finding import Action, Severity

__all__ = ["BiasPolicy", "BiasRule", "BiasAuditThresholds", "BiasAudits", "BIAS_CHECK_IDS", "packaged_bias_policy"]

# the checks whose thresholds and routing a bias audit reads (contracts/fairness.py CHECK_ID, ADVERSE_CHECK_ID)
BIAS_CHECK_IDS = ("bias.selection_rate_disparity", "bias.adverse_rate_disparity")


@dataclass(frozen=True)
class BiasRule:
    """One bias check's thresholds and routing, as ``CheckRule`` holds them."""

    warn: float | None = None
    critical: float | None = None
    where: str | None = None
    owner: str | None = None
    action: Mapping[Severity, Action] = field(default_factory=dict)

    def action_for(self, severity: Severity) -> Action:
        """``CheckRule.action_for``: the action the check names for ``severity``, else alert from warn up."""
        return self.action.get(severity, "alert" if severity.at_least(Severity.warn) else "none")


@dataclass(frozen=True)
class BiasAuditThresholds:
    """``audits.bias`` (``BiasAuditRules``): error-rate parity, with the same defaults."""

    error_rate_ratio: float = 1.25
    error_rate_critical_ratio: float | None = 2.0
    error_rate_min_difference: float = 0.05
    error_rate_min_denominator: int = 30
    error_rate_z: float = 2.58


@dataclass(frozen=True)
class BiasAudits:
    bias: BiasAuditThresholds = field(default_factory=BiasAuditThresholds)


@dataclass(frozen=True)
class BiasPolicy:
    """The parts of a ``Policy`` a bias audit reads: ``owner``, the bias ``checks`` and ``audits.bias``."""

    owner: str
    checks: Mapping[str, BiasRule]
    audits: BiasAudits
    source: str = "default policy"


def packaged_bias_policy() -> BiasPolicy:
    """The packaged policy's bias checks and ``audits.bias``, read with the one YAML reader (yaml_input), which
    builds those parts of the document alone."""
    from .yaml_input import read_packaged_yaml_parts

    data = read_packaged_yaml_parts("policy.yaml", "default policy", "policy file", "'checks'",
                                    {"owner": None, "checks": BIAS_CHECK_IDS, "audits": ("bias",)})
    checks = data.get("checks") or {}
    rules = {cid: _rule(checks[cid]) for cid in BIAS_CHECK_IDS if cid in checks}
    bias = ((data.get("audits") or {}).get("bias")) or {}
    return BiasPolicy(owner=str(data.get("owner", "marketing-ops")), checks=rules,
                      audits=BiasAudits(BiasAuditThresholds(**bias)))


def _rule(raw: Mapping[str, Any]) -> BiasRule:
    return BiasRule(warn=_float(raw.get("warn")), critical=_float(raw.get("critical")), where=raw.get("where"),
                    owner=raw.get("owner"), action={Severity(k): v for k, v in (raw.get("action") or {}).items()})


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
