-- What each CRM campaign spent and earned, recent window against the one before, on complete days: recent = the
-- `metric_window_days` days before as_of's day, prior = the same number of days before those.
--   spend     paid campaigns (with a Google Ads id): Google Ads cost of each day. The others: the CRM's ActualCost
--             spread evenly over the days the campaign has run (StartDate up to EndDate or yesterday)
--   revenue   Closed Won opportunities attributed by CampaignId, on their CloseDate
--   outcomes  Google Ads conversions for paid campaigns, Closed Won deals for the others (the KPI)
--   romi = (revenue - spend) / spend;  cost_per_outcome = spend / outcomes
-- weekly_* are the weekly sums behind the windows, oldest first.
{%- set n = var('metric_window_days') %}
with days as (
    select {{ as_of_date() }} - n as day, n as days_ago
    from ({{ integers(1, 2 * n) }}) as spine
),

campaigns as (
    select
        campaign_id,
        campaign_name,
        google_ads_campaign_id,
        google_ads_campaign_id is not null as is_paid,
        coalesce(actual_cost, 0) as actual_cost,
        start_date,
        least(coalesce(end_date, {{ as_of_date() }} - 1), {{ as_of_date() }} - 1) as accrued_until
    from {{ ref('stg_salesforce__campaigns') }}
),

ads as (
    select google_ads_campaign_id, report_date as day, sum(cost) as cost, sum(conversions) as conversions
    from {{ ref('stg_google_ads__campaign_stats') }}
    group by google_ads_campaign_id, report_date
),

deals as (
    select campaign_id, close_date as day, count(*) as deals, sum(coalesce(amount, 0)) as revenue
    from {{ ref('stg_salesforce__opportunities') }}
    where stage = 'Closed Won' and campaign_id is not null
    group by campaign_id, close_date
),

daily as (
    select
        campaigns.campaign_id,
        days.days_ago,
        cast(floor((days.days_ago - 1) / 7.0) as integer) as weeks_ago,
        case
            when campaigns.is_paid then coalesce(ads.cost, 0)
            when days.day between campaigns.start_date and campaigns.accrued_until
                then campaigns.actual_cost / nullif(campaigns.accrued_until - campaigns.start_date + 1, 0)
            else 0
        end as spend,
        case when campaigns.is_paid then coalesce(ads.conversions, 0) else coalesce(deals.deals, 0) end as outcomes,
        coalesce(deals.revenue, 0) as revenue
    from campaigns
    cross join days
    left join ads on ads.google_ads_campaign_id = campaigns.google_ads_campaign_id and ads.day = days.day
    left join deals on deals.campaign_id = campaigns.campaign_id and deals.day = days.day
),

weekly as (
    select campaign_id, weeks_ago, sum(spend) as spend, sum(outcomes) as outcomes
    from daily
    group by campaign_id, weeks_ago
),

windows as (
    select
        campaign_id,
        {%- for name in ['spend', 'outcomes', 'revenue'] %}
        sum(case when days_ago > {{ n }} then {{ name }} else 0 end) as {{ name }}_prior,
        sum(case when days_ago <= {{ n }} then {{ name }} else 0 end) as {{ name }}_recent
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from daily
    group by campaign_id
),

series as (
    select
        campaign_id,
        {{ ordered_array(round_to('spend', 2), 'weeks_ago desc') }} as weekly_spend,
        {{ ordered_array(round_to('outcomes', 1), 'weeks_ago desc') }} as weekly_outcomes
    from weekly
    group by campaign_id
),

measures as (
    select
        windows.*,
        (revenue_prior - spend_prior) / nullif(spend_prior, 0) as romi_prior,
        (revenue_recent - spend_recent) / nullif(spend_recent, 0) as romi_recent,
        spend_prior / nullif(outcomes_prior, 0) as cost_per_outcome_prior,
        spend_recent / nullif(outcomes_recent, 0) as cost_per_outcome_recent
    from windows
)

select
    campaigns.campaign_id,
    campaigns.campaign_name,
    case when campaigns.is_paid then 'google_ads' else 'crm_actual_cost' end as spend_source,
    case when campaigns.is_paid then 'conversions' else 'closed_won_deals' end as outcome_kind,
    spend_prior,
    spend_recent,
    outcomes_prior,
    outcomes_recent,
    cast(outcomes_recent as {{ float_type() }}) / nullif(outcomes_prior, 0) as kpi_ratio,
    revenue_prior,
    revenue_recent,
    romi_prior,
    romi_recent,
    cost_per_outcome_prior,
    cost_per_outcome_recent,
    cost_per_outcome_recent / nullif(cost_per_outcome_prior, 0) as cost_per_outcome_ratio,
    series.weekly_spend,
    series.weekly_outcomes,
    case when campaigns.is_paid then 'google_ads' end as control_platform,
    campaigns.google_ads_campaign_id as control_campaign_id
from campaigns
inner join measures on measures.campaign_id = campaigns.campaign_id
inner join series on series.campaign_id = campaigns.campaign_id
