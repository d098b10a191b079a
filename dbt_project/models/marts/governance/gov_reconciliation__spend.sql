-- Ad-platform spend against the CRM campaign's booked actual cost. The gap is relative to the larger of the two,
-- so a campaign the CRM books at zero still shows up.
-- A custom ad platform's campaigns (int_ad_spend__booked) are held against the campaign that books them, a custom
-- system's or Salesforce's; campaign_id is then the spending campaign's key ('<system>:<id>'), as in the directory.
--   ad_platform_name, booked_in   the two sides in words ('Google Ads' and 'the CRM' for the built-in pair)
with spend as (
    select google_ads_campaign_id, sum(cost) as ads_spend, count(*) as days_reported
    from {{ ref('stg_google_ads__campaign_stats') }}
    group by google_ads_campaign_id
)

select
    campaigns.campaign_id,
    campaigns.campaign_name,
    'salesforce:' || campaigns.campaign_id as campaign_key,
    'Google Ads' as ad_platform_name,
    'the CRM' as booked_in,
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
union all
select
    campaign_key,
    min(campaign_name),
    campaign_key,
    min(system),
    min(booked_in),
    cast(null as {{ text_type() }}),
    coalesce(min(booked_cost), 0),
    sum(spend),
    sum(spend) - coalesce(min(booked_cost), 0),
    abs(sum(spend) - coalesce(min(booked_cost), 0))
        / nullif(greatest(sum(spend), coalesce(min(booked_cost), 0)), 0),
    count(*),
    cast(null as {{ text_type() }}),
    cast(null as {{ text_type() }})
from {{ ref('int_ad_spend__booked') }}
group by campaign_key
