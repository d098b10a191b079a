{{ config(materialized='table') }}
-- A table: frequency, opt-out and over-optimisation checks all read the touches.
with source as (
    {{ latest_records(source('custom', 'touches'), 'touch_id') }}
)

select
    _integration || ':' || touch_id as touch_key,
    _integration as system,
    touch_id,
    person_id,
    {{ email_key('email') }} as email_key,
    lower(trim(channel)) as channel,
    campaign_id,
    campaign_name,
    touched_at,
    _batch_id
from source
