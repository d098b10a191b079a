with source as (
    {{ latest_records(source('custom', 'campaigns'), 'campaign_id') }}
)

select
    _integration || ':' || campaign_id as campaign_key,
    _integration as system,
    campaign_id,
    name as campaign_name,
    lower(trim(channel)) as channel,
    status as campaign_status,
    cast(start_date as date) as start_date,
    cast(end_date as date) as end_date,
    booked_cost,
    currency,
    updated_at,
    _batch_id
from source
