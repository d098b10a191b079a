{{ config(materialized='incremental', unique_key='profile_id', incremental_strategy='logged_delete_insert',
          on_schema_change='sync_all_columns', built_vars=['codings'], pre_hook=["{{ create_change_log() }}"],
          post_hook=["{{ log_full_build() }}",
                     "{{ log_tombstoned('profile_id', 'profiles', source('cdp', 'profiles'), 'r.profile_id') }}",
                     "{{ delete_tombstoned('profile_id', 'profiles', source('cdp', 'profiles'), 'r.profile_id') }}",
                     "{{ record_read_batches(source('cdp', 'profiles')) }}",
                     "{{ record_incremental_state() }}", "{{ record_built_vars() }}",
                     "{{ prune_change_log() }}"]) }}
-- Incremental (macros/incremental_events.sql): a run reads only the raw batches landed since the last build and
-- replaces their records by key; the people it touches (old and new email_key, and those of deleted records) go to
-- the change log the per-key people models read (macros/per_key.sql). Its SQL renders the policy's codings (age
-- bands): when they change, the build reads all of raw again (built_vars).
with source as (
    {{ people_records_since(source('cdp', 'profiles'), 'profile_id') }}
),

renamed as (
    select
        -- ids
        profile_id,
        user_id as crm_person_id,
        {{ email_key('email') }} as email_key,
        -- attributes
        {{ banded('age_band', 'age', 'age') }} as age_band,  -- a band given wins; else the policy's band of age
        gender,
        region,
        audiences,
        -- booleans
        consent_email as has_email_consent,
        consent_ads as has_ads_consent,
        -- timestamps
        first_seen_at,
        updated_at,
        'cdp' as source_system,
        _batch_id
    from source
)

-- the email's SHA-256 (what a Customer Match upload holds) and its masked token, computed here for the rows a build
-- writes, not by every reader on every run (gov_consent__channel_purpose matched 1M profiles' hashes each run)
select
    renamed.*,
    {{ sha256_hex('email_key') }} as email_sha256,
    {{ mask_id('email_key') }} as customer_token
from renamed
