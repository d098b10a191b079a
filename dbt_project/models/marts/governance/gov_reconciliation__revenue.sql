-- The revenue Google Ads attributes to a paid campaign (metrics.conversions_value, which the CRM's offline-conversion
-- import feeds back) against the Closed Won opportunities the CRM books for the Salesforce campaign linked to it
-- (Google_Ads_Campaign_Id__c). One row per linked CRM campaign. Google claiming more than the CRM booked is what
-- makes automated bidding (target ROAS) overspend: it bids for revenue that never closed.
--
-- Window: per campaign, the days the Google Ads report carries a conversion value for it, from the first to the
-- last (never after as_of's day); Google's side by report_date, the CRM's by close_date over those same days.
-- Not `metric_window_days`: Google books a conversion's value on the day of the ad click, the CRM on the day the
-- deal closes, so a 28-day window would put every deal whose sales cycle crosses its edge on one side only. Over the
-- whole period the report covers, only deals clicked before its first day differ, and they make the CRM side larger,
-- never Google's. Days without a value (exports from before the column existed) are outside the window; a campaign
-- with no such day has no window, a null gap, and is not judged.
-- revenue_diff = ads - crm (positive: Google over-claims); revenue_diff_pct is relative to the larger amount, as
-- for spend, so a campaign the CRM books no deal for shows as 100 %. Money is rounded to cents.
with ads as (
    select
        google_ads_campaign_id,
        min(report_date) as window_start,
        max(report_date) as window_end,
        count(*) as days_reported,
        {{ round_to('sum(conversions_value)', 2) }} as ads_attributed_revenue
    from {{ ref('stg_google_ads__campaign_stats') }}
    where conversions_value is not null and report_date <= {{ as_of_date() }}
    group by google_ads_campaign_id
),

campaigns as (
    select campaign_id, campaign_name, google_ads_campaign_id
    from {{ ref('stg_salesforce__campaigns') }}
    where google_ads_campaign_id is not null
),

won as (
    select
        campaigns.campaign_id,
        count(opportunities.opportunity_id) as crm_won_opportunities,
        {{ round_to('coalesce(sum(coalesce(opportunities.amount, 0)), 0)', 2) }} as crm_won_amount,
        {{ example_ids(mask_id('opportunities.opportunity_id')) }} as example_opportunities
    from campaigns
    left join ads on ads.google_ads_campaign_id = campaigns.google_ads_campaign_id
    left join {{ ref('stg_salesforce__opportunities') }} as opportunities
        on opportunities.campaign_id = campaigns.campaign_id
        and opportunities.stage = 'Closed Won'
        and opportunities.close_date between ads.window_start and ads.window_end
    group by campaigns.campaign_id
)

select
    campaigns.campaign_id,
    campaigns.campaign_name,
    campaigns.google_ads_campaign_id,
    cast(ads.window_start as {{ text_type() }}) as window_start,  -- ISO dates: findings quote them as they are
    cast(ads.window_end as {{ text_type() }}) as window_end,
    coalesce(ads.days_reported, 0) as days_reported,
    ads.ads_attributed_revenue,
    won.crm_won_amount,
    won.crm_won_opportunities,
    ads.ads_attributed_revenue - won.crm_won_amount as revenue_diff,
    abs(ads.ads_attributed_revenue - won.crm_won_amount)
        / nullif(greatest(ads.ads_attributed_revenue, won.crm_won_amount), 0) as revenue_diff_pct,
    won.example_opportunities,
    'google_ads' as control_platform,
    campaigns.google_ads_campaign_id as control_campaign_id
from campaigns
inner join won on won.campaign_id = campaigns.campaign_id
left join ads on ads.google_ads_campaign_id = campaigns.google_ads_campaign_id
