{{ config(materialized='incremental', unique_key='marketo_lead_id', incremental_strategy='logged_delete_insert',
          on_schema_change='sync_all_columns', pre_hook=["{{ create_change_log() }}"],
          post_hook=["{{ log_full_build() }}",
                     "{{ log_tombstoned('marketo_lead_id', 'leads', source('marketo', 'leads'),
                                        'cast(r.id as ' ~ text_type() ~ ')') }}",
                     "{{ delete_tombstoned('marketo_lead_id', 'leads', source('marketo', 'leads'),
                                           'cast(r.id as ' ~ text_type() ~ ')') }}",
                     "{{ record_read_batches(source('marketo', 'leads')) }}",
                     "{{ record_incremental_state() }}", "{{ prune_change_log() }}"]) }}
-- Incremental (macros/incremental_events.sql): a run reads only the raw batches landed since the last build and
-- replaces their records by key; the people it touches (old and new email_key, and those of deleted records) go to
-- the change log the per-key people models read (macros/per_key.sql).
with source as (
    {{ latest_records_since(source('marketo', 'leads'), 'id') }}
),

renamed as (
    select
        -- ids
        cast(id as {{ text_type() }}) as marketo_lead_id,
        "sfdcContactId" as salesforce_contact_id,
        "sfdcLeadId" as salesforce_lead_id,
        {{ email_key('email') }} as email_key,
        -- booleans
        unsubscribed as is_unsubscribed,
        "emailInvalid" as is_email_invalid,
        -- timestamps
        "createdAt" as created_at,
        "updatedAt" as updated_at,
        'marketo' as source_system,
        _batch_id
    from source
)

select * from renamed
