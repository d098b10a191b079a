{{ config(materialized='incremental', unique_key='email_event_id', incremental_strategy='logged_delete_insert',
          on_schema_change='sync_all_columns', pre_hook=["{{ create_change_log() }}"],
          change_log_where="event_type in ('SENT', 'STATUSCHANGE')",
          post_hook=["{{ log_full_build() }}",
                     "{{ log_tombstoned('email_event_id', 'email_events', source('hubspot', 'email_events'),
                                        'r.id') }}",
                     "{{ delete_tombstoned('email_event_id', 'email_events', source('hubspot', 'email_events'),
                                        'r.id') }}",
                     "{{ record_key_violations('email_event_id') }}",
                     "{{ record_read_batches(source('hubspot', 'email_events')) }}",
                     "{{ record_incremental_state() }}", "{{ prune_change_log() }}"]) }}
-- Incremental: each run reads only the batches landed since the last build (macros/incremental_events.sql). The
-- recipients of the sends and status changes it replaces, appends or deletes (tombstones) go to its change log, so the
-- per-person models (int_consent__email_people: it reads only those event types)
-- recompute only the people a day's sends reached (macros/per_key.sql); opens and clicks recompute nobody.
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
