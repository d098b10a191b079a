with source as (
    {{ latest_records(source('salesforce', 'opportunities'), '"Id"') }}
),

renamed as (
    select
        -- ids
        "Id" as opportunity_id,
        "AccountId" as account_id,
        "CampaignId" as campaign_id,
        -- attributes
        "Name" as opportunity_name,
        "StageName" as stage,
        "Amount" as amount,
        cast("CloseDate" as date) as close_date,
        -- timestamps
        "CreatedDate" as created_at,
        "SystemModstamp" as updated_at,
        'salesforce' as source_system,
        _batch_id
    from source
)

select * from renamed
