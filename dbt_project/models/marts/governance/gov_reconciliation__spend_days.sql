-- Each day Google Ads charged a paid campaign, placed against the dates of the CRM campaign linked to it
-- (Google_Ads_Campaign_Id__c). One row per linked CRM campaign and reported day, never after as_of's day.
--
-- Salesforce books a campaign's cost as one total (ActualCost, judged against the whole report by
-- gov_reconciliation__spend); what it holds per day is the campaign's flight, StartDate to EndDate. A day Google
-- charged outside those dates is money no CRM campaign plans or books: most often automated bidding still running
-- after marketing ended the campaign, sometimes a campaign launched before the CRM knew of it.
--   flight_position   before_start | in_flight | after_end (a missing StartDate or EndDate leaves that side open)
--   days_outside      whole days between the report day and the flight's nearest edge (0 inside it)
--   is_beyond_grace   days_outside > spend_flight_grace_days: Google reports days in the account's time zone and a
--                     campaign stopped at midnight in one zone spends into the next date in another, so the first
--                     days past an edge are not counted.
-- A custom ad platform's days (int_ad_spend__booked) are placed against the dates of the campaign that books them;
-- campaign_id is then the spending campaign's key ('<system>:<id>') and google_ads_campaign_id is empty.
with campaigns as (
    select
        campaign_id, campaign_name, google_ads_campaign_id,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date
    from {{ ref('stg_salesforce__campaigns') }}
    where google_ads_campaign_id is not null
),

days as (
    select google_ads_campaign_id, cast(report_date as date) as report_date, cost
    from {{ ref('stg_google_ads__campaign_stats') }}
    where report_date <= {{ as_of_date() }}
),

joined as (
    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        'salesforce:' || campaigns.campaign_id as campaign_key,
        'Google Ads' as ad_platform_name,
        'the CRM' as booked_in,
        cast(campaigns.google_ads_campaign_id as {{ text_type() }}) as google_ads_campaign_id,
        days.report_date,
        days.cost,
        campaigns.start_date,
        campaigns.end_date
    from campaigns
    inner join days on days.google_ads_campaign_id = campaigns.google_ads_campaign_id
    union all
    select
        campaign_key, campaign_name, campaign_key, system, booked_in, cast(null as {{ text_type() }}),
        cast(report_date as date), spend, cast(start_date as date), cast(end_date as date)
    from {{ ref('int_ad_spend__booked') }}
    where report_date <= {{ as_of_date() }}
),

placed as (
    select
        campaign_id,
        campaign_name,
        campaign_key,
        ad_platform_name,
        booked_in,
        google_ads_campaign_id,
        report_date as spend_date,
        cost as ads_cost,
        start_date as crm_start_date,
        end_date as crm_end_date,
        case
            when report_date < start_date then 'before_start'
            when report_date > end_date then 'after_end'
            else 'in_flight'
        end as flight_position,
        case
            when report_date < start_date then start_date - report_date
            when report_date > end_date then report_date - end_date
            else 0
        end as days_outside
    from joined
)

select
    *,
    days_outside > {{ var('spend_flight_grace_days') }} as is_beyond_grace
from placed
