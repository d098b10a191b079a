-- The campaign directory: one row per platform and the platform's own campaign id, with the name people know it by
-- and, for HubSpot emails and Google Ads campaigns, the Salesforce campaign they belong to. Findings, pauses, the
-- report and Slack name a campaign from here (contracts/campaigns.py builds its one id form, `platform:id`).
-- A custom system (platform: custom) is a platform of its own, named by its integration: its campaigns, and every
-- campaign its touches or ad spend name, are `<system>:<campaign id>`; the campaigns entity's name comes first.
-- Portable SQL (DuckDB and PostgreSQL): no qualify, ranks in subqueries.
with salesforce as (
    select
        'salesforce' as platform,
        cast(campaign_id as {{ text_type() }}) as campaign_id,
        campaign_name,
        cast(null as {{ text_type() }}) as crm_campaign_id
    from {{ ref('stg_salesforce__campaigns') }}
),

hubspot as (
    select
        'hubspot' as platform,
        marketing_email_id as campaign_id,
        email_name as campaign_name,
        cast(campaign_id as {{ text_type() }}) as crm_campaign_id
    from {{ ref('stg_hubspot__marketing_emails') }}
),

marketo as (
    select
        'marketo' as platform,
        smart_campaign_id as campaign_id,
        smart_campaign_name as campaign_name,
        cast(null as {{ text_type() }}) as crm_campaign_id
    from {{ ref('stg_marketo__smart_campaigns') }}
),

-- Google Ads names a campaign on every day's stats row: the newest day's name is its name now.
google_ads_days as (
    select
        cast(google_ads_campaign_id as {{ text_type() }}) as campaign_id,
        campaign_name,
        row_number() over (partition by google_ads_campaign_id order by report_date desc) as recency
    from {{ ref('stg_google_ads__campaign_stats') }}
),

google_ads as (
    select
        'google_ads' as platform,
        days.campaign_id,
        days.campaign_name,
        cast(crm.campaign_id as {{ text_type() }}) as crm_campaign_id
    from google_ads_days as days
    left join (
        select google_ads_campaign_id, min(campaign_id) as campaign_id
        from {{ ref('stg_salesforce__campaigns') }}
        where google_ads_campaign_id is not null
        group by google_ads_campaign_id
    ) as crm on cast(crm.google_ads_campaign_id as {{ text_type() }}) = days.campaign_id
    where days.recency = 1
),

custom_named as (
    select system, campaign_id, campaign_name, 1 as source_rank from {{ ref('stg_custom__campaigns') }}
    union all
    select system, campaign_id, max(campaign_name), 2 from {{ ref('stg_custom__touches') }}
    group by system, campaign_id
    union all
    select system, campaign_id, max(campaign_name), 3 from {{ ref('stg_custom__ad_spend') }}
    group by system, campaign_id
),

custom as (
    select
        system as platform,
        cast(campaign_id as {{ text_type() }}) as campaign_id,
        campaign_name,
        cast(null as {{ text_type() }}) as crm_campaign_id
    from ({{ first_row_per("select * from custom_named where campaign_id is not null",
                           'system, campaign_id', 'case when campaign_name is null then 1 else 0 end, source_rank, campaign_name') }}) as named
),

unioned as (
    select * from salesforce
    union all select * from hubspot
    union all select * from marketo
    union all select * from google_ads
    union all select * from custom
)

-- Several integrations of one platform may hold the same id: one row per platform and id, the first name wins.
select
    platform,
    campaign_id,
    platform || ':' || campaign_id as campaign_key,
    min(campaign_name) as campaign_name,
    min(crm_campaign_id) as crm_campaign_id
from unioned
where campaign_id is not null
group by platform, campaign_id
