with source as (
    {{ latest_records(source('marketo', 'leads'), 'id') }}
),

renamed as (
    select
        -- ids
        cast(id as {{ text_type() }}) as marketo_lead_id,
        "sfdcContactId" as salesforce_contact_id,
        "sfdcLeadId" as salesforce_lead_id,
        {{ email_key('email') }} as email_key,
        -- booleans
        unsubscribed as is_unsubscribed,
        "emailInvalid" as is_email_invalid,
        -- timestamps
        "createdAt" as created_at,
        "updatedAt" as updated_at,
        'marketo' as source_system,
        _batch_id
    from source
)

select * from renamed
