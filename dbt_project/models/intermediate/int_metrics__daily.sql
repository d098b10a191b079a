-- The daily series the anomaly audit watches, one row per series and day over the span it looks at
-- (`anomaly_detection_days` + 7 x `anomaly_baseline_weeks` days up to as_of's day):
--   send_volume      HubSpot SENT events per marketing email (the thing that sends, and can be paused)
--   ad_spend         Google Ads cost per campaign
--   conversions      Google Ads conversions per campaign
--   quarantine_rate  rows quarantined / rows read per integration, from Steward's own batch ledger
-- A custom system (platform: custom) adds its own series under the same metrics: send_volume is its touches per
-- campaign, ad_spend and conversions its ad platform's per campaign, each subject its campaign key '<system>:<id>'.
--   subject_key    the subject in the campaign directory's id form (hubspot:<email>, google_ads:<id>,
--                  <system>:<id>; the integration for quarantine_rate), what a finding names
--   subject_label  the subject in words: 'hubspot email <id>', 'google ads campaign <id>', '<system> campaign <id>'
-- A series starts on its first day with data: days before it are no history, not zeros. After that a count is 0
-- on a day without records, while a rate has no value on a day nothing landed. Batches land during the run, so
-- today's rate is judged (judge_today); sends and ad reports are judged on complete days only.
-- HubSpot's sends are counted from int_email_events__instants (events per instant, kept while no event lands), not
-- from every event. A table: the anomaly mart and the key's test read it, and a view would run again for each.
{{ config(materialized='table') }}
{%- set span = var('anomaly_detection_days') + 7 * var('anomaly_baseline_weeks') %}
with days as (
    select {{ as_of_date() }} - n as day
    from ({{ integers(0, span) }}) as spine
),

observed as (
    select 'send_volume' as metric, marketing_email_id as subject_id, {{ utc_date('occurred_at') }} as day,
           cast(sum(events) as {{ float_type() }}) as value
    from {{ ref('int_email_events__instants') }}
    where event_type = 'SENT' and marketing_email_id is not null
    group by marketing_email_id, {{ utc_date('occurred_at') }}
    union all
    select 'ad_spend', google_ads_campaign_id, report_date, sum(cost)
    from {{ ref('stg_google_ads__campaign_stats') }}
    group by google_ads_campaign_id, report_date
    union all
    select 'conversions', google_ads_campaign_id, report_date, sum(conversions)
    from {{ ref('stg_google_ads__campaign_stats') }}
    group by google_ads_campaign_id, report_date
    union all
    select 'quarantine_rate', integration, {{ utc_date('loaded_at') }},
           cast(sum(rows_quarantined) as {{ float_type() }}) / nullif(sum(rows_read), 0)
    from {{ ref('stg_steward__batches') }}
    group by integration, {{ utc_date('loaded_at') }}
    union all
    select 'send_volume', campaign_key, {{ utc_date('occurred_at') }}, cast(count(*) as {{ float_type() }})
    from {{ ref('int_touches__attributed') }}
    where event_type = 'send' and campaign_key is not null
    group by campaign_key, {{ utc_date('occurred_at') }}
    union all
    select 'ad_spend', system || ':' || campaign_id, report_date, cast(sum(spend) as {{ float_type() }})
    from {{ ref('stg_custom__ad_spend') }}
    group by system, campaign_id, report_date
    union all
    select 'conversions', system || ':' || campaign_id, report_date, cast(sum(conversions) as {{ float_type() }})
    from {{ ref('stg_custom__ad_spend') }}
    where conversions is not null
    group by system, campaign_id, report_date
),

subjects as (
    select metric, subject_id, min(day) as first_day
    from observed
    group by metric, subject_id
),

ads_campaigns as (
    select ads.google_ads_campaign_id, max(ads.campaign_name) as campaign_name, max(crm.campaign_id) as campaign_id
    from {{ ref('stg_google_ads__campaign_stats') }} as ads
    left join {{ ref('stg_salesforce__campaigns') }} as crm on crm.google_ads_campaign_id = ads.google_ads_campaign_id
    group by ads.google_ads_campaign_id
),

labels as (
    select 'send_volume' as metric, marketing_email_id as subject_id, max(email_name) as subject_name,
           max(campaign_id) as campaign_id, 'hubspot' as control_platform, marketing_email_id as control_campaign_id
    from {{ ref('stg_hubspot__marketing_emails') }}
    group by marketing_email_id
    union all
    select metrics.metric, google_ads_campaign_id, campaign_name, campaign_id, 'google_ads', google_ads_campaign_id
    from ads_campaigns
    cross join (select 'ad_spend' as metric union all select 'conversions') as metrics
),

-- a custom campaign is named by the directory; it has no CRM campaign and nothing Steward can pause
custom_labels as (
    select campaign_key, campaign_id, campaign_name, platform
    from {{ ref('int_campaigns__directory') }}
    where platform not in ('salesforce', 'hubspot', 'marketo', 'google_ads')
)

select
    subjects.metric || '|' || subjects.subject_id || '|' || cast(days.day as {{ text_type() }}) as series_day_id,
    subjects.metric,
    subjects.subject_id,
    coalesce(labels.subject_name, custom_labels.campaign_name, subjects.subject_id) as subject_name,
    case
        when custom_labels.campaign_key is not null then custom_labels.campaign_key
        when subjects.metric = 'send_volume' then 'hubspot:' || subjects.subject_id
        when subjects.metric in ('ad_spend', 'conversions') then 'google_ads:' || subjects.subject_id
        else subjects.subject_id
    end as subject_key,
    case
        when custom_labels.campaign_key is not null
            then custom_labels.platform || ' campaign ' || custom_labels.campaign_id
        when subjects.metric = 'send_volume' then 'hubspot email ' || subjects.subject_id
        when subjects.metric in ('ad_spend', 'conversions') then 'google ads campaign ' || subjects.subject_id
        else subjects.subject_id
    end as subject_label,
    coalesce(labels.campaign_id, custom_labels.campaign_key) as campaign_id,
    days.day,
    subjects.first_day,
    case when subjects.metric = 'quarantine_rate' then observed.value else coalesce(observed.value, 0) end as value,
    subjects.metric = 'quarantine_rate' as judge_today,
    labels.control_platform,
    labels.control_campaign_id
from subjects
inner join days on days.day >= subjects.first_day
left join observed
    on observed.metric = subjects.metric and observed.subject_id = subjects.subject_id and observed.day = days.day
left join labels on labels.metric = subjects.metric and labels.subject_id = subjects.subject_id
left join custom_labels
    on custom_labels.campaign_key = subjects.subject_id and subjects.metric in ('send_volume', 'ad_spend', 'conversions')
