with source as (
    {{ latest_records(source('custom', 'engagement_events'), 'event_id') }}
)

select
    _integration || ':' || event_id as event_key,
    _integration as system,
    event_id,
    touch_id,
    person_id,
    {{ email_key('email') }} as email_key,
    campaign_id,
    lower(trim(channel)) as channel,
    event_type,
    occurred_at,
    value,
    _batch_id
from source
