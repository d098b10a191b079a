{{ config(materialized='incremental', unique_key='contact_id', incremental_strategy='logged_delete_insert',
          on_schema_change='sync_all_columns', pre_hook=["{{ create_change_log() }}"],
          post_hook=["{{ log_full_build() }}",
                     "{{ log_tombstoned('contact_id', 'contacts', source('salesforce', 'contacts'), 'r.\"Id\"') }}",
                     "{{ delete_tombstoned('contact_id', 'contacts', source('salesforce', 'contacts'), 'r.\"Id\"') }}",
                     "{{ record_read_batches(source('salesforce', 'contacts')) }}",
                     "{{ record_incremental_state() }}", "{{ prune_change_log() }}"]) }}
-- Incremental (macros/incremental_events.sql): a run reads only the raw batches landed since the last build and
-- replaces their records by key; the people it touches (old and new email_key, and those of deleted records) go to
-- the change log the per-key people models read (macros/per_key.sql).
with source as (
    {{ latest_records_since(source('salesforce', 'contacts'), '"Id"') }}
),

renamed as (
    select
        -- ids
        "Id" as contact_id,
        "AccountId" as account_id,
        {{ email_key('"Email"') }} as email_key,
        -- attributes
        "Age_Band__c" as age_band,
        "Gender__c" as gender,
        "Region__c" as region,
        "MailingCountry" as country,
        -- booleans
        "HasOptedOutOfEmail" as has_opted_out_of_email,
        -- timestamps
        "CreatedDate" as created_at,
        "SystemModstamp" as updated_at,
        'salesforce' as source_system,
        _batch_id
    from source
)

select * from renamed
