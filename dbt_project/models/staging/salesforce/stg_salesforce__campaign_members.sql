with source as (
    {{ latest_records(source('salesforce', 'campaign_members'), '"Id"') }}
),

renamed as (
    select
        -- ids
        "Id" as campaign_member_id,
        "CampaignId" as campaign_id,
        "ContactId" as contact_id,
        "LeadId" as lead_id,
        coalesce("ContactId", "LeadId") as crm_person_id,
        -- attributes
        "Status" as member_status,
        -- timestamps
        "CreatedDate" as created_at,
        "SystemModstamp" as updated_at,
        'salesforce' as source_system,
        _batch_id
    from source
)

select * from renamed
