-- Custom ad platforms' daily spend (stg_custom__ad_spend), each day with the campaign that books it: the
-- reconciliation checks hold it against that booking as they hold Google Ads against the Salesforce campaign.
-- A spending campaign (system, campaign id) is booked by the campaign with the same id, taken in this order:
--   1 the same system's campaigns entity   2 another custom system's (a planning tool)
--   3 a Salesforce campaign with that id    4 a Salesforce campaign whose ad campaign id (Google_Ads_Campaign_Id__c)
--                                             is that id
-- a booking with a cost before one without. Spend no campaign books is not here: nothing says what it should be.
--   campaign_key  '<system>:<campaign id>' of the spending campaign (the directory's id form), the checks' subject
--   booked_in     where it is booked, as explanations say it: 'the CRM' (Salesforce) or 'the <system>'
with spending as (
    select system, campaign_id
    from {{ ref('stg_custom__ad_spend') }}
    where campaign_id is not null
    group by system, campaign_id
),

candidates as (
    select
        spending.system, spending.campaign_id,
        case when booked.system = spending.system then 1 else 2 end as match_rank,
        'the ' || booked.system as booked_in,
        booked.campaign_key as booked_key,
        booked.campaign_name,
        cast(booked.booked_cost as {{ float_type() }}) as booked_cost,
        booked.start_date,
        booked.end_date
    from spending
    inner join {{ ref('stg_custom__campaigns') }} as booked on booked.campaign_id = spending.campaign_id
    union all
    select
        spending.system, spending.campaign_id, 3, 'the CRM', 'salesforce:' || crm.campaign_id, crm.campaign_name,
        cast(crm.actual_cost as {{ float_type() }}), cast(crm.start_date as date), cast(crm.end_date as date)
    from spending
    inner join {{ ref('stg_salesforce__campaigns') }} as crm
        on cast(crm.campaign_id as {{ text_type() }}) = spending.campaign_id
    union all
    select
        spending.system, spending.campaign_id, 4, 'the CRM', 'salesforce:' || crm.campaign_id, crm.campaign_name,
        cast(crm.actual_cost as {{ float_type() }}), cast(crm.start_date as date), cast(crm.end_date as date)
    from spending
    inner join {{ ref('stg_salesforce__campaigns') }} as crm
        on cast(crm.google_ads_campaign_id as {{ text_type() }}) = spending.campaign_id
),

booking as (
    {{ first_row_per("select *, case when booked_cost is null then 1 else 0 end as is_without_cost from candidates",
                     'system, campaign_id', 'is_without_cost, match_rank, booked_key') }}
)

select
    spend.campaign_day_key,
    spend.system,
    spend.campaign_id,
    spend.system || ':' || spend.campaign_id as campaign_key,
    coalesce(booking.campaign_name, spend.campaign_name) as campaign_name,
    spend.report_date,
    spend.spend,
    spend.conversions,
    booking.booked_in,
    booking.booked_key,
    booking.booked_cost,
    booking.start_date,
    booking.end_date
from {{ ref('stg_custom__ad_spend') }} as spend
inner join booking on booking.system = spend.system and booking.campaign_id = spend.campaign_id
