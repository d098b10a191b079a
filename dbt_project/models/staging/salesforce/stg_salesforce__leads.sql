{{ config(materialized='incremental', unique_key='lead_id', incremental_strategy='logged_delete_insert',
          on_schema_change='sync_all_columns', pre_hook=["{{ create_change_log() }}"],
          post_hook=["{{ log_full_build() }}",
                     "{{ log_tombstoned('lead_id', 'leads', source('salesforce', 'leads'), 'r.\"Id\"') }}",
                     "{{ delete_tombstoned('lead_id', 'leads', source('salesforce', 'leads'), 'r.\"Id\"') }}",
                     "{{ record_read_batches(source('salesforce', 'leads')) }}",
                     "{{ record_incremental_state() }}", "{{ prune_change_log() }}"]) }}
-- Incremental (macros/incremental_events.sql): a run reads only the raw batches landed since the last build and
-- replaces their records by key; the people it touches (old and new email_key, and those of deleted records) go to
-- the change log the per-key people models read (macros/per_key.sql).
with source as (
    {{ latest_records_since(source('salesforce', 'leads'), '"Id"') }}
),

renamed as (
    select
        -- ids
        "Id" as lead_id,
        {{ email_key('"Email"') }} as email_key,
        -- attributes
        "Company" as company,
        "Status" as lead_status,
        "LeadSource" as lead_source,
        "Age_Band__c" as age_band,
        "Gender__c" as gender,
        "Region__c" as region,
        -- booleans
        "HasOptedOutOfEmail" as has_opted_out_of_email,
        "IsConverted" as is_converted,
        -- timestamps
        "CreatedDate" as created_at,
        "SystemModstamp" as updated_at,
        'salesforce' as source_system,
        _batch_id
    from source
)

select * from renamed
