with source as (
    {{ latest_records(source('salesforce', 'contacts'), '"Id"') }}
),

renamed as (
    select
        -- ids
        "Id" as contact_id,
        "AccountId" as account_id,
        {{ email_key('"Email"') }} as email_key,
        -- attributes
        "Age_Band__c" as age_band,
        "Gender__c" as gender,
        "Region__c" as region,
        "MailingCountry" as country,
        -- booleans
        "HasOptedOutOfEmail" as has_opted_out_of_email,
        -- timestamps
        "CreatedDate" as created_at,
        "SystemModstamp" as updated_at,
        'salesforce' as source_system,
        _batch_id
    from source
)

select * from renamed
