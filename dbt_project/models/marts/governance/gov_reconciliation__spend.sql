-- Ad-platform spend against the CRM campaign's booked actual cost. The gap is relative to the larger of the two,
-- so a campaign the CRM books at zero still shows up.
with spend as (
    select google_ads_campaign_id, sum(cost) as ads_spend, count(*) as days_reported
    from {{ ref('stg_google_ads__campaign_stats') }}
    group by google_ads_campaign_id
)

select
    campaigns.campaign_id,
    campaigns.campaign_name,
    campaigns.google_ads_campaign_id,
    coalesce(campaigns.actual_cost, 0) as crm_actual_cost,
    coalesce(spend.ads_spend, 0) as ads_spend,
    coalesce(spend.ads_spend, 0) - coalesce(campaigns.actual_cost, 0) as spend_diff,
    abs(coalesce(spend.ads_spend, 0) - coalesce(campaigns.actual_cost, 0))
        / nullif(greatest(coalesce(spend.ads_spend, 0), coalesce(campaigns.actual_cost, 0)), 0) as spend_diff_pct,
    coalesce(spend.days_reported, 0) as days_reported,
    'google_ads' as control_platform,
    campaigns.google_ads_campaign_id as control_campaign_id
from {{ ref('stg_salesforce__campaigns') }} as campaigns
left join spend on spend.google_ads_campaign_id = campaigns.google_ads_campaign_id
where campaigns.google_ads_campaign_id is not null
