with source as (
    {{ latest_records(source('hubspot', 'marketing_emails'), 'id') }}
),

renamed as (
    select
        -- ids
        cast(id as {{ text_type() }}) as marketing_email_id,
        "salesforceCampaignId" as campaign_id,
        -- attributes
        name as email_name,
        state as email_state,
        -- timestamps
        "updatedAt" as updated_at,
        'hubspot' as source_system,
        _batch_id
    from source
)

select * from renamed
