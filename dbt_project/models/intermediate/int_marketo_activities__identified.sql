-- Marketo email activities with the person they reached, by the lead's normalised email: Marketo's activities name
-- only a lead id, while every cross-system check matches people on email. An activity of a lead Steward no longer
-- holds (deleted since) keeps a null email_key.
select
    activities.activity_id,
    activities.marketo_lead_id,
    leads.email_key,
    activities.activity_type,
    activities.occurred_at,
    activities.smart_campaign_id,
    activities.asset_id
from {{ ref('stg_marketo__activities') }} as activities
left join {{ ref('stg_marketo__leads') }} as leads on leads.marketo_lead_id = activities.marketo_lead_id
