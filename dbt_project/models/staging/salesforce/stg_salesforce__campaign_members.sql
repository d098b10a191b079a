{{ config(materialized='incremental', unique_key='campaign_member_id', incremental_strategy='delete+insert',
          on_schema_change='sync_all_columns',
          post_hook=["{{ delete_tombstoned('campaign_member_id', 'campaign_members',
                                        source('salesforce', 'campaign_members'), 'r.\"Id\"') }}",
                     "{{ record_read_batches(source('salesforce', 'campaign_members')) }}",
                     "{{ record_incremental_state() }}"]) }}
-- Incremental, like the event models (macros/incremental_events.sql): the largest people-grain table (about 2.4
-- members per person), keyed by its Id and merged by landing, so a run reads only the batches landed since the last
-- build; with nothing new landed it reads nothing.
with source as (
    {{ latest_records_since(source('salesforce', 'campaign_members'), '"Id"') }}
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
