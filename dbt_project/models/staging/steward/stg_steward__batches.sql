with source as (
    select * from {{ source('steward', 'batches') }}
),

renamed as (
    select
        -- ids
        batch_id,
        run_id,
        integration,
        platform,
        entity,
        -- attributes
        source as batch_source,
        rows_read,
        rows_loaded,
        rows_quarantined,
        contract_version,
        owner,
        drift,
        delivery,
        -- timestamps
        loaded_at,
        'steward' as source_system
    from source
)

select * from renamed
