{{ config(materialized='incremental', unique_key='hubspot_contact_id', incremental_strategy='logged_delete_insert',
          on_schema_change='sync_all_columns', pre_hook=["{{ create_change_log() }}"],
          post_hook=["{{ log_full_build() }}",
                     "{{ log_tombstoned('hubspot_contact_id', 'contacts', source('hubspot', 'contacts'), 'r.id') }}",
                     "{{ delete_tombstoned('hubspot_contact_id', 'contacts', source('hubspot', 'contacts'), 'r.id') }}",
                     "{{ record_read_batches(source('hubspot', 'contacts')) }}",
                     "{{ record_incremental_state() }}", "{{ prune_change_log() }}"]) }}
-- Incremental (macros/incremental_events.sql): a run reads only the raw batches landed since the last build and
-- replaces their records by key; the people it touches (old and new email_key, and those of deleted records) go to
-- the change log the per-key people models read (macros/per_key.sql).
with source as (
    {{ latest_records_since(source('hubspot', 'contacts'), 'id') }}
),

renamed as (
    select
        -- ids
        id as hubspot_contact_id,
        salesforcecontactid as salesforce_contact_id,
        salesforceleadid as salesforce_lead_id,
        {{ email_key('email') }} as email_key,
        -- attributes
        lifecyclestage as lifecycle_stage,
        -- booleans
        archived as is_archived,
        -- timestamps
        "createdAt" as created_at,
        "updatedAt" as updated_at,
        'hubspot' as source_system,
        _batch_id
    from source
)

select * from renamed
