with source as (
    {{ latest_records(source('custom', 'ad_spend'), 'campaign_id, day') }}
)

select
    _integration || ':' || campaign_id || '|' || cast(cast(day as date) as {{ text_type() }}) as campaign_day_key,
    _integration as system,
    campaign_id,
    campaign_name,
    cast(day as date) as report_date,
    spend,
    currency,
    impressions,
    clicks,
    conversions,
    conversion_value,
    _batch_id
from source
