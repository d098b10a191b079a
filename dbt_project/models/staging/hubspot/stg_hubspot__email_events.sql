{{ config(materialized='incremental', unique_key='email_event_id', incremental_strategy='delete+insert',
          on_schema_change='sync_all_columns',
          post_hook=["{{ delete_tombstoned('email_event_id', 'email_events', source('hubspot', 'email_events'),
                                        'r.id') }}",
                     "{{ record_key_violations('email_event_id') }}",
                     "{{ record_read_batches(source('hubspot', 'email_events')) }}",
                     "{{ record_incremental_state() }}"]) }}
-- Incremental: each run reads only the batches landed since the last build (macros/incremental_events.sql).
with source as (
    {{ latest_records_since(source('hubspot', 'email_events'), 'id') }}
),

renamed as (
    select
        -- ids
        id as email_event_id,
        cast("emailCampaignId" as {{ text_type() }}) as marketing_email_id,
        {{ email_key('recipient') }} as email_key,
        -- attributes
        type as event_type,
        -- timestamps
        to_timestamp(created / 1000.0) as occurred_at,
        'hubspot' as source_system,
        _batch_id,
        _loaded_at  -- when the batch landed: what int_email_sends__addressed reads new events by
    from source
)

select * from renamed
