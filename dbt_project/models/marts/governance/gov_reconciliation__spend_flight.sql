-- Per linked CRM campaign: the Google Ads spend on days outside the CRM campaign's dates, beyond the grace days,
-- from gov_reconciliation__spend_days. After the end and before the start are kept apart: spend after the CRM
-- ended a campaign is automated bidding the plan no longer covers (and still running, when the last such day is
-- recent); spend before the start is a launch the CRM did not know of yet.
--   spend_after_end_pct, spend_before_start_pct   that spend / every reported day's spend of the campaign
-- Money is rounded to cents; days are ISO dates, as findings quote them. A campaign Google reported nothing for is
-- not in the mart.
-- A custom ad platform's campaign (campaign_id '<system>:<id>') is judged against the campaign that books it and
-- has no pausable target; ad_platform_name and booked_in name the two sides in words.
with days as (
    select
        campaign_id, campaign_name, campaign_key, ad_platform_name, booked_in, google_ads_campaign_id, ads_cost,
        case when is_beyond_grace then flight_position end as counted_outside,  -- null: inside, or a grace day
        cast(crm_start_date as date) as crm_start_date,
        cast(crm_end_date as date) as crm_end_date,
        cast(spend_date as date) as spend_date
    from {{ ref('gov_reconciliation__spend_days') }}
),

outside as (
    select
        campaign_id,
        min(campaign_name) as campaign_name,
        min(google_ads_campaign_id) as google_ads_campaign_id,
        min(campaign_key) as campaign_key,
        min(ad_platform_name) as ad_platform_name,
        min(booked_in) as booked_in,
        min(crm_start_date) as crm_start_date,
        min(crm_end_date) as crm_end_date,
        count(*) as days_reported,
        sum(ads_cost) as ads_spend,
        count(*) filter (where counted_outside = 'after_end') as days_after_end,
        coalesce(sum(ads_cost) filter (where counted_outside = 'after_end'), 0) as spend_after_end,
        min(spend_date) filter (where counted_outside = 'after_end') as first_day_after_end,
        max(spend_date) filter (where counted_outside = 'after_end') as last_day_after_end,
        count(*) filter (where counted_outside = 'before_start') as days_before_start,
        coalesce(sum(ads_cost) filter (where counted_outside = 'before_start'), 0) as spend_before_start,
        min(spend_date) filter (where counted_outside = 'before_start') as first_day_before_start,
        max(spend_date) filter (where counted_outside = 'before_start') as last_day_before_start
    from days
    group by campaign_id
)

select
    campaign_id,
    campaign_name,
    campaign_key,
    ad_platform_name,
    booked_in,
    google_ads_campaign_id,
    cast(crm_start_date as {{ text_type() }}) as crm_start_date,
    cast(crm_end_date as {{ text_type() }}) as crm_end_date,
    days_reported,
    {{ round_to('ads_spend', 2) }} as ads_spend,
    days_after_end,
    {{ round_to('spend_after_end', 2) }} as spend_after_end,
    cast(first_day_after_end as {{ text_type() }}) as first_day_after_end,
    cast(last_day_after_end as {{ text_type() }}) as last_day_after_end,
    spend_after_end / nullif(ads_spend, 0) as spend_after_end_pct,
    days_before_start,
    {{ round_to('spend_before_start', 2) }} as spend_before_start,
    cast(first_day_before_start as {{ text_type() }}) as first_day_before_start,
    cast(last_day_before_start as {{ text_type() }}) as last_day_before_start,
    spend_before_start / nullif(ads_spend, 0) as spend_before_start_pct,
    case when google_ads_campaign_id is not null then 'google_ads' end as control_platform,
    google_ads_campaign_id as control_campaign_id
from outside
