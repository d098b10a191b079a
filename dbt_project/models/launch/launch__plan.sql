-- The launch's plan against what the warehouse knows: audience size against the planned volume, and the planned
-- daily budget against the paid history (the busiest paid campaign's average daily cost over the last
-- `metric_window_days` of Google Ads reports). One row.
{{ config(materialized='table', schema='launch', enabled=var('launch', none) is not none) }}
{%- set l = var('launch', none) or {} %}
with audience as (
    select count(*) as audience_people from {{ ref('launch__audience') }} where is_selected
),

history as (
    select google_ads_campaign_id, avg(cost) as avg_daily_cost
    from {{ ref('stg_google_ads__campaign_stats') }}
    where report_date >= {{ as_of_date() }} - {{ var('metric_window_days') }}
    group by google_ads_campaign_id
)

select
    '{{ l.get("launch_id", "launch") }}' as launch_id,
    audience.audience_people,
    {{ l.get('planned_people') or 'cast(null as bigint)' }} as planned_people,
    cast(audience.audience_people as {{ float_type() }}) / nullif({{ l.get('planned_people') or 'null' }}, 0) as volume_ratio,
    {{ l.get('daily_budget') if l.get('daily_budget') is not none else 'cast(null as ' ~ float_type() ~ ')' }} as planned_daily_budget,
    (select max(avg_daily_cost) from history) as history_daily_spend,
    (select count(*) from history) as paid_campaigns_in_history,
    {{ l.get('daily_budget') if l.get('daily_budget') is not none else 'cast(null as ' ~ float_type() ~ ')' }}
        / nullif((select max(avg_daily_cost) from history), 0) as budget_ratio
from audience
