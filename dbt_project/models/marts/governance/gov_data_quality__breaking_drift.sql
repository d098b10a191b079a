-- The batches this governance run refused for breaking schema drift (var run_id), one row per integration and
-- entity: what was wrong and the diff. Nothing of them landed; their downstream models were left out of the build.
{%- set this_run -%}
    select *
    from {{ ref('stg_steward__schema_refusals') }}
    {% if var('run_id', none) %}
    where run_id = '{{ var("run_id") }}'
    {% else %}
    where false  -- a build outside a governance run judges no refusal
    {% endif %}
{%- endset %}
with refused as (
    {{ first_row_per(this_run, 'integration, entity', 'refused_at desc, refusal_id desc') }}
)

select
    integration,
    entity,
    platform,
    refusal_id,
    owner,
    kind,
    reason,
    rows_refused,
    1 as breaking,
    coalesce({{ json_value_text('drift', 'missing') }}, '[]') as missing_columns,
    coalesce({{ json_value_text('drift', 'added') }}, '[]') as added_columns,
    coalesce({{ json_value_text('drift', 'renamed') }}, '{}') as renamed_columns,
    coalesce({{ json_value_text('drift', 'retyped') }}, '{}') as retyped_columns,
    refused_at
from refused
