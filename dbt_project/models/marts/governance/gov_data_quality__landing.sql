-- What the newest batch of every landed entity looked like: rows quarantined and columns drifted (missing, added,
-- renamed, and retyped: a column whose type family changed since the entity's previous snapshot).
with latest as (
    select *
    from {{ ref('stg_steward__batches') }}
    qualify row_number() over (partition by integration, entity order by loaded_at desc, batch_id desc) = 1
)

select
    integration,
    entity,
    batch_id,
    owner,
    rows_read,
    rows_loaded,
    rows_quarantined,
    cast(rows_quarantined as double) / nullif(rows_read, 0) as quarantine_rate,
    coalesce(json_array_length(drift, '$.missing'), 0) + coalesce(json_array_length(drift, '$.added'), 0)
        + coalesce(len(json_keys(drift, '$.retyped')), 0) as drifted_columns,
    coalesce(drift ->> '$.missing', '[]') as missing_columns,
    coalesce(drift ->> '$.added', '[]') as added_columns,
    coalesce(drift ->> '$.renamed', '{}') as renamed_columns,
    coalesce(drift ->> '$.retyped', '{}') as retyped_columns,
    loaded_at
from latest
