with source as (
    {{ latest_records(source('custom', 'erasure_requests'), 'request_id') }}
)

select
    _integration || ':' || request_id as request_key,
    _integration as system,
    request_id,
    lower(trim(email_sha256)) as email_sha256,
    request_type,
    status as request_status,
    source.source as request_source,
    requested_at,
    completed_at,
    updated_at,
    _batch_id
from source
