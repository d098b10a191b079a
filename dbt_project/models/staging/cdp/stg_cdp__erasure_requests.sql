with source as (
    {{ latest_records(source('cdp', 'erasure_requests'), 'request_id') }}
),

renamed as (
    select
        -- ids
        request_id,
        lower(trim(email_sha256)) as email_sha256,
        -- attributes
        request_type,
        status as request_status,
        source.source as request_source,
        -- timestamps
        requested_at,
        completed_at,
        updated_at,
        'cdp' as source_system,
        _batch_id
    from source
)

select * from renamed
