-- Deletions each platform reported, with the platform read from the batch that carried them (integration names are
-- the team's own, e.g. two Salesforce orgs named "crm-eu" and "crm-us").
with source as (
    select * from {{ source('steward', 'tombstones') }}
),

batches as (
    select batch_id, platform from {{ source('steward', 'batches') }}
),

renamed as (
    select
        source.integration,
        batches.platform,
        source.entity,
        source.record_id,
        lower(source.email_sha256) as email_sha256,
        source.seen_at as deleted_seen_at,
        source.batch_id,
        'steward' as source_system
    from source
    left join batches on batches.batch_id = source.batch_id
)

select * from renamed
