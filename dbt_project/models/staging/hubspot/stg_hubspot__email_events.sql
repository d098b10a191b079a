with source as (
    {{ latest_records(source('hubspot', 'email_events'), 'id') }}
),

renamed as (
    select
        -- ids
        id as email_event_id,
        cast("emailCampaignId" as varchar) as marketing_email_id,
        {{ email_key('recipient') }} as email_key,
        -- attributes
        type as event_type,
        -- timestamps
        to_timestamp(created / 1000.0) as occurred_at,
        'hubspot' as source_system,
        _batch_id
    from source
)

select * from renamed
