with source as (
    select * from {{ source('steward', 'pii_columns') }}
),

renamed as (
    select
        -- ids
        table_schema,
        table_name,
        column_name,
        -- attributes
        data_type,
        name_kind,
        content_kind,
        values_sampled,
        values_matching,
        -- timestamps
        scanned_at,
        'steward' as source_system
    from source
)

select * from renamed
