{{ config(materialized='table') }}
-- A table, built once per run: several marts read it, and a view would rank raw's versions again for each.
with source as (
    {{ latest_records(source('google_ads', 'campaign_stats'), '"campaign.id", "segments.date"') }}
),

renamed as (
    select
        -- ids
        "campaign.id" || '|' || cast(cast("segments.date" as date) as {{ text_type() }}) as campaign_day_id,
        "campaign.id" as google_ads_campaign_id,
        -- attributes
        "campaign.name" as campaign_name,
        "campaign.status" as campaign_status,
        cast("segments.date" as date) as report_date,
        {{ to_float('"metrics.cost_micros"') }} / 1000000.0 as cost,
        "metrics.impressions" as impressions,
        "metrics.clicks" as clicks,
        "metrics.conversions" as conversions,
        "metrics.conversions_value" as conversions_value,  -- null: the export predates the column or imports none
        'google_ads' as source_system,
        _batch_id
    from source
)

select * from renamed
