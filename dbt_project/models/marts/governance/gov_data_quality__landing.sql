-- What the newest batch of every landed entity looked like: rows quarantined and columns drifted (missing, added,
-- renamed, and retyped: a column whose type family changed since the entity's previous snapshot).
with latest as (
    {{ first_row_per('select * from ' ~ ref('stg_steward__batches'), 'integration, entity',
                     'loaded_at desc, batch_id desc') }}
)

select
    integration,
    entity,
    batch_id,
    owner,
    rows_read,
    rows_loaded,
    rows_quarantined,
    cast(rows_quarantined as {{ float_type() }}) / nullif(rows_read, 0) as quarantine_rate,
    coalesce({{ json_array_size('drift', 'missing') }}, 0) + coalesce({{ json_array_size('drift', 'added') }}, 0)
        + coalesce({{ json_object_size('drift', 'retyped') }}, 0) as drifted_columns,
    coalesce({{ json_value_text('drift', 'missing') }}, '[]') as missing_columns,
    coalesce({{ json_value_text('drift', 'added') }}, '[]') as added_columns,
    coalesce({{ json_value_text('drift', 'renamed') }}, '{}') as renamed_columns,
    coalesce({{ json_value_text('drift', 'retyped') }}, '{}') as retyped_columns,
    loaded_at
from latest
