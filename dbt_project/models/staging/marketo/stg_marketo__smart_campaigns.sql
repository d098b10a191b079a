with source as (
    {{ latest_records(source('marketo', 'smart_campaigns'), 'id') }}
),

renamed as (
    select
        -- ids
        cast(id as {{ text_type() }}) as smart_campaign_id,
        -- attributes
        name as smart_campaign_name,
        type as smart_campaign_type,
        status as smart_campaign_status,
        -- booleans
        "isActive" as is_active,
        -- timestamps
        "createdAt" as created_at,
        "updatedAt" as updated_at,
        'marketo' as source_system,
        _batch_id
    from source
)

select * from renamed
