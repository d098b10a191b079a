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
    revenue_overclaimed: bool = True
    """(c2) a conversion value rule ("+60%") left on the CRM's offline-conversion import: Google Ads credits the paid
    campaign with the most won revenue with 1.6x the Closed Won amounts the CRM booked for it."""
    spend_after_crm_end: bool = True
    """(c3) marketing ended Display - Retargeting in the CRM ten days ago, but Google Ads' automated bidding kept
    spending on it every day since."""
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
    ads_upload_without_consent: bool = True
    """(p1) people whose CDP profile says ``consent_ads = false`` are uploaded to a Google Ads Customer Match list."""
    erasure_not_propagated: bool = True
    """(p2) erasure requests marked completed a month ago, yet the people are still in Salesforce, HubSpot and the CDP
    and keep receiving the weekly emails."""
    expired_email_events: bool = True
    """(p3) HubSpot still keeps sends of a retired email from 740+ days ago, past the 2-year retention period."""
    pii_in_decision_log: bool = True
    """(p4) the AI decision log grew a ``debug_contact_email`` column holding each subject's email address."""
    send_volume_spike: bool = True
    """(g1) a misfiring trigger mails Product Launch Teaser to every subscriber yesterday, a weekday it never sends on
    (about twice its weekly audience in one day)."""
    frequency_cap_breach: bool = True
    """(g2) a new "Webinar Reminders" automation mails the Webinar Invites audience on each of the last six days,
    pushing them far past the weekly contact cap while total clicks rise."""
    paid_overbidding: bool = True
    """(g3) Search - Brand's automated bidding ramps daily spend from 1x to 6x over eight weeks for 40% more
    conversions: cost per conversion rises about 1.8x between the two policy windows."""
    unregistered_model_version: bool = True
    """(g4) a fifth of last week's next-best offers came from canary ``1.5.0-rc1``, which is not in the model
    registry."""
    missing_input_snapshots: bool = True
    """(g5) the feature-store snapshot writer was down for two days: decisions made then have no
    ``input_snapshot_id``."""
    slow_reviews: bool = True
    """(g6) 30% of next-best-offer reviews older than a week took 1.5 to 6.5 days instead of 3 hours."""
    unreviewed_sensitive_segment: bool = True
    """(g7) the CDP tags about 4% of people ``vulnerable_customer`` (a sensitive segment in policy); decisions about
    them keep running without a human review."""
    lifecycle_stage_out_of_sync: bool = True
    """(x1) a HubSpot workflow marks about 10% of the CRM's leads ``customer``, though no deal was ever won."""

    @classmethod
    def none(cls) -> "Injections":
        return cls(**{f.name: False for f in fields(cls)})

    def enabled(self) -> list[str]:
        return [name for name, on in asdict(self).items() if on]


# injection -> the check ids (contracts/policy.yaml) whose findings prove it was caught; the first is the primary one.
EXPECTED_CHECKS: dict[str, tuple[str, ...]] = {
    "biased_lead_scoring": ("bias.selection_rate_disparity",),
    # the missed unsubscribes are weeks old: the CRM and the CDP are also late in seeing them
    "consent_mismatch": ("consent.send_after_opt_out", "reconciliation.consent_crm_vs_esp",
                         "consent.email_without_consent", "timeliness.change_not_propagated"),
    "spend_mismatch": ("reconciliation.ad_spend_vs_crm_cost",),
    "revenue_overclaimed": ("reconciliation.attributed_revenue_vs_crm_won",),
    "spend_after_crm_end": ("reconciliation.spend_after_crm_end",),
    # ~13% of the low-confidence/high-value decisions go unreviewed: the rule's review coverage drops below 95% too
    "unreviewed_low_confidence": ("oversight.unreviewed_high_risk_decisions", "oversight.review_coverage"),
    "over_optimised_campaign": ("metric_balance.kpi_up_guardrail_down",),
    "missing_reason_codes": ("transparency.decisions_without_reason",),
    "stale_integration": ("integration_health.stale_source",),
    "schema_drift": ("data_quality.schema_drift",),
    "ads_upload_without_consent": ("consent.ad_upload_without_consent",),
    "erasure_not_propagated": ("privacy.erasure_not_honoured",),
    "expired_email_events": ("privacy.retention_exceeded",),
    # an unexpected column is schema drift too: the contract does not know it, so it lands in `_unmapped`
    "pii_in_decision_log": ("privacy.pii_outside_allowed_tables", "data_quality.schema_drift"),
    "send_volume_spike": ("anomaly.send_volume_spike",),
    # the daily reminders also raise each contact's weekly frequency from the campaign: two guardrails, one cause
    "frequency_cap_breach": ("metric_balance.contact_cap_breach", "metric_balance.contact_frequency_up"),
    "paid_overbidding": ("metric_balance.cost_per_outcome_up",),
    "unregistered_model_version": ("transparency.unregistered_model_version",),
    "missing_input_snapshots": ("transparency.decisions_not_reproducible",),
    "slow_reviews": ("oversight.review_latency",),
    # unreviewed sensitive decisions are counted (any is critical) and lower the segment rule's review coverage
    "unreviewed_sensitive_segment": ("oversight.sensitive_segment_unreviewed", "oversight.review_coverage"),
    "lifecycle_stage_out_of_sync": ("reconciliation.lifecycle_stage_mismatch",),
}
