with source as (
    {{ latest_records(source('salesforce', 'campaigns'), '"Id"') }}
),

renamed as (
    select
        -- ids
        "Id" as campaign_id,
        "Google_Ads_Campaign_Id__c" as google_ads_campaign_id,
        -- attributes
        "Name" as campaign_name,
        "Type" as campaign_type,
        "Status" as campaign_status,
        "BudgetedCost" as budgeted_cost,
        "ActualCost" as actual_cost,
        cast("StartDate" as date) as start_date,
        cast("EndDate" as date) as end_date,
        -- booleans
        "IsActive" as is_active,
        -- timestamps
        "SystemModstamp" as updated_at,
        'salesforce' as source_system,
        _batch_id
    from source
)

select * from renamed
