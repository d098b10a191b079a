{{ config(materialized='incremental', unique_key='subscription_key', incremental_strategy='logged_delete_insert',
          on_schema_change='sync_all_columns', pre_hook=["{{ create_change_log() }}"],
          post_hook=["{{ log_full_build() }}",
                     "{{ record_read_batches(source('hubspot', 'subscriptions')) }}",
                     "{{ record_incremental_state() }}", "{{ prune_change_log() }}"]) }}
-- Incremental (macros/incremental_events.sql): a run reads only the raw batches landed since the last build and
-- replaces their records by key; the people it touches (old and new email_key, and those of deleted records) go to
-- the change log the per-key people models read (macros/per_key.sql).
-- Its key is composite (recipient and subscription type): landing keeps no tombstone-deleted rows for it, so
-- there is nothing to delete after the build.
with source as (
    {{ latest_records_since(source('hubspot', 'subscriptions'), 'recipient, "subscriptionId"') }}
),

renamed as (
    select
        -- ids
        {{ email_key('recipient') }} || '|' || "subscriptionId" as subscription_key,
        {{ email_key('recipient') }} as email_key,
        "subscriptionId" as subscription_id,
        -- attributes
        status as subscription_status,
        "legalBasis" as legal_basis,
        -- booleans
        status = 'UNSUBSCRIBED' as is_unsubscribed,
        -- timestamps
        "timestamp" as status_changed_at,
        'hubspot' as source_system,
        _batch_id
    from source
)

select * from renamed
