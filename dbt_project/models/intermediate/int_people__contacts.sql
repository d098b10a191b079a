{{ config(materialized='incremental', incremental_strategy='per_key', per_key_column='email_key',
          on_schema_change='sync_all_columns',
          per_key_inputs=['stg_hubspot__email_events', 'stg_marketo__leads', 'stg_custom__people'],
          per_key_watch=['source:marketo.activities', 'source:custom.touches'],
          pre_hook=["{{ create_change_log() }}", "{{ per_key_prepare() }}"],
          post_hook=["{{ log_full_build() }}", "{{ per_key_finish() }}", "{{ record_incremental_state() }}",
                     "{{ prune_change_log() }}"]) }}
-- Every time a system reached a person, by normalised email and its SHA-256: HubSpot and Marketo sends and every
-- touch of a custom system (any channel). Privacy checks compare these times with when the person asked to be erased
-- or was deleted elsewhere, matching the request log's and the tombstones' hashes on email_sha256. Customer Match
-- uploads carry only the hash (no email_key to key them by), so the marts read stg_google_ads__audience_uploads
-- themselves.
-- Per key (macros/per_key.sql): a person's rows depend only on the input rows with their email_key, so a daily run
-- hashes and rewrites only the recipients the inputs' change logs name (stg_hubspot__email_events logs its SENT
-- events' recipients; a Marketo lead or custom person whose email changed logs old and new email), never every
-- recipient of 10M events. A Marketo activity or custom touch landed rebuilds every person (they keep no change log).
-- int_marketo_activities__identified takes each send's email from its lead, so a lead whose email changed moves its
-- sends: stg_marketo__leads' change log names both emails.
-- depends_on: {{ ref('stg_marketo__leads') }}
{%- set keys = per_key_keys() %}
with contacts as (
    select 'hubspot' as system, email_key, occurred_at as contacted_at
    from {{ ref('stg_hubspot__email_events') }}
    where event_type = 'SENT' and email_key is not null and {{ per_key_match('email_key', keys) }}
    union all
    select 'marketo', email_key, occurred_at
    from {{ ref('int_marketo_activities__identified') }}
    where activity_type = 'send_email' and email_key is not null and {{ per_key_match('email_key', keys) }}
    union all
    select system, email_key, touched_at
    from ({{ custom_touches() }}) as touches
    where email_key is not null and {{ per_key_match('email_key', keys) }}
),

-- each address is hashed once, not once per contact
recipients as (
    select email_key, {{ sha256_hex('email_key') }} as email_sha256
    from (select distinct email_key from contacts) as r
)

select contacts.system, contacts.email_key, recipients.email_sha256, contacts.contacted_at
from contacts
inner join recipients on recipients.email_key = contacts.email_key
