{{ config(materialized='incremental', unique_key='activity_id', incremental_strategy='delete+insert',
          on_schema_change='sync_all_columns',
          post_hook=["{{ delete_tombstoned('activity_id', 'activities', source('marketo', 'activities'),
                                        'cast(r.id as ' ~ text_type() ~ ')') }}",
                     "{{ record_read_batches(source('marketo', 'activities')) }}",
                     "{{ record_incremental_state() }}"]) }}
-- Incremental: each run reads only the batches landed since the last build (macros/incremental_events.sql).
-- Marketo's standard email activity type ids (the only ones the adapter pulls) under names staging can filter on.
with source as (
    {{ latest_records_since(source('marketo', 'activities'), 'id') }}
),

renamed as (
    select
        -- ids
        cast(id as {{ text_type() }}) as activity_id,
        cast("leadId" as {{ text_type() }}) as marketo_lead_id,
        cast("campaignId" as {{ text_type() }}) as smart_campaign_id,
        cast("primaryAttributeValueId" as {{ text_type() }}) as asset_id,
        -- attributes
        case "activityTypeId"
            when 6 then 'send_email' when 7 then 'email_delivered' when 8 then 'email_bounced'
            when 9 then 'unsubscribe_email' when 10 then 'open_email' when 11 then 'click_email'
        end as activity_type,
        "primaryAttributeValue" as asset_name,
        -- timestamps
        "activityDate" as occurred_at,
        'marketo' as source_system,
        _batch_id
    from source
)

select * from renamed
