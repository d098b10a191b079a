{{ config(materialized='incremental', unique_key='person_key', incremental_strategy='logged_delete_insert',
          on_schema_change='sync_all_columns', built_vars=['codings'], pre_hook=["{{ create_change_log() }}"],
          post_hook=["{{ log_full_build() }}",
                     "{{ log_tombstoned('person_key', 'people', source('custom', 'people'), 'r.person_id',
                                        key_prefix=true) }}",
                     "{{ delete_tombstoned_prefixed('person_key', 'people', source('custom', 'people'),
                                                    'r.person_id') }}",
                     "{{ record_read_batches(source('custom', 'people')) }}",
                     "{{ record_incremental_state() }}", "{{ record_built_vars() }}",
                     "{{ prune_change_log() }}"]) }}
-- Incremental (macros/incremental_events.sql): a run reads only the raw batches landed since the last build and
-- replaces their records by key; the people it touches (old and new email_key, and those of deleted records) go to
-- the change log the per-key people models read (macros/per_key.sql). Its SQL renders the policy's codings (age
-- bands): when they change, the build reads all of raw again (built_vars).
with source as (
    {{ people_records_since(source('custom', 'people'), 'person_id') }}
)

select
    -- ids
    _integration || ':' || person_id as person_key,
    _integration as system,
    person_id,
    crm_person_id,
    {{ email_key('email') }} as email_key,
    -- attributes
    age,
    {{ banded('age_band', 'age', 'age') }} as age_band,  -- a band given wins; else the policy's band of the age
    gender,
    region,
    country,
    segments,
    -- consent
    email_opt_out as is_email_opted_out,
    opted_out_at,
    -- timestamps
    created_at,
    updated_at,
    _batch_id
from source
