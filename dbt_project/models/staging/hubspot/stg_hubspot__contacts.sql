with source as (
    {{ latest_records(source('hubspot', 'contacts'), 'id') }}
),

renamed as (
    select
        -- ids
        id as hubspot_contact_id,
        salesforcecontactid as salesforce_contact_id,
        salesforceleadid as salesforce_lead_id,
        {{ email_key('email') }} as email_key,
        -- attributes
        lifecyclestage as lifecycle_stage,
        -- booleans
        archived as is_archived,
        -- timestamps
        "createdAt" as created_at,
        "updatedAt" as updated_at,
        'hubspot' as source_system,
        _batch_id
    from source
)

select * from renamed
