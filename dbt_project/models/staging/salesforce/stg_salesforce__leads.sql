with source as (
    {{ latest_records(source('salesforce', 'leads'), '"Id"') }}
),

renamed as (
    select
        -- ids
        "Id" as lead_id,
        {{ email_key('"Email"') }} as email_key,
        -- attributes
        "Company" as company,
        "Status" as lead_status,
        "LeadSource" as lead_source,
        "Age_Band__c" as age_band,
        "Gender__c" as gender,
        "Region__c" as region,
        -- booleans
        "HasOptedOutOfEmail" as has_opted_out_of_email,
        "IsConverted" as is_converted,
        -- timestamps
        "CreatedDate" as created_at,
        "SystemModstamp" as updated_at,
        'salesforce' as source_system,
        _batch_id
    from source
)

select * from renamed
