with source as (
    select * from {{ source('steward', 'schema_refusals') }}
),

renamed as (
    select
        -- ids
        refusal_id,
        run_id,
        integration,
        platform,
        entity,
        -- attributes
        source as source_location,
        kind,
        reason,
        drift,
        rows_refused,
        owner,
        -- timestamps
        refused_at,
        'steward' as source_system
    from source
)

select * from renamed
