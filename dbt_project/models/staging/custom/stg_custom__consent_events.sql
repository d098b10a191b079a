with source as (
    {{ latest_records(source('custom', 'consent_events'), 'event_id') }}
)

select
    _integration || ':' || event_id as event_key,
    _integration as system,
    event_id,
    person_id,
    {{ email_key('email') }} as email_key,
    lower(trim(channel)) as channel,
    lower(trim(purpose)) as purpose,
    status = 'withdrawn' as is_withdrawn,
    legal_basis,
    occurred_at,
    source.source as consent_source,
    _batch_id
from source
