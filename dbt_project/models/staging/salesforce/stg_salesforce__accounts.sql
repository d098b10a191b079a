with source as (
    {{ latest_records(source('salesforce', 'accounts'), '"Id"') }}
),

renamed as (
    select
        -- ids
        "Id" as account_id,
        -- attributes
        "Name" as account_name,
        "Industry" as industry,
        "AnnualRevenue" as annual_revenue,
        "BillingCountry" as billing_country,
        -- timestamps
        "CreatedDate" as created_at,
        "SystemModstamp" as updated_at,
        'salesforce' as source_system,
        _batch_id
    from source
)

select * from renamed
