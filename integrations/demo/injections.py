"""The named problems the demo workspace can carry.

Each switch plants one defect that an autonomous marketing stack really produces, so the governance loop has
something true to find. They are documented one by one in ``docs/demo-workspace.md``; the check that must catch
each one is named in ``EXPECTED_CHECKS`` so tests and docs share one source.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["Injections", "EXPECTED_CHECKS"]


@dataclass(frozen=True)
class Injections:
    """Which defects the generator plants. All on by default; ``Injections.none()`` is the clean workspace."""

    biased_lead_scoring: bool = True
    """(a) the lead-scoring model marks people aged 55-64 as 'priority' far less often than everyone else."""
    consent_mismatch: bool = True
    """(b) people who unsubscribed in HubSpot stay opted-in in Salesforce and keep receiving sends."""
    spend_mismatch: bool = True
    """(c) the CRM books only 70% of what Google Ads charged one paid campaign (a 30% gap, tolerance 5%)."""
    unreviewed_low_confidence: bool = True
    """(d) low-confidence next-best-offer decisions on high-value accounts executed with no human review."""
    over_optimised_campaign: bool = True
    """(e) one email campaign's click rate rises while unsubscribes and complaints more than triple."""
    missing_reason_codes: bool = True
    """(f) a share of lead-scoring decisions carry no reason code."""
    stale_integration: bool = True
    """(g) the CDP export has not changed for five days."""
    schema_drift: bool = True
    """(h) Salesforce's leads export renamed ``LeadSource`` to ``Lead_Source__c``."""

    @classmethod
    def none(cls) -> "Injections":
        return cls(**{f.name: False for f in fields(cls)})

    def enabled(self) -> list[str]:
        return [name for name, on in asdict(self).items() if on]


# injection -> the check ids (contracts/policy.yaml) whose findings prove it was caught; the first is the primary one.
EXPECTED_CHECKS: dict[str, tuple[str, ...]] = {
    "biased_lead_scoring": ("bias.selection_rate_disparity",),
    "consent_mismatch": ("consent.send_after_opt_out", "reconciliation.consent_crm_vs_esp"),
    "spend_mismatch": ("reconciliation.ad_spend_vs_crm_cost",),
    "unreviewed_low_confidence": ("oversight.unreviewed_high_risk_decisions",),
    "over_optimised_campaign": ("metric_balance.kpi_up_guardrail_down",),
    "missing_reason_codes": ("transparency.decisions_without_reason",),
    "stale_integration": ("integration_health.stale_source",),
    "schema_drift": ("data_quality.schema_drift",),
}
