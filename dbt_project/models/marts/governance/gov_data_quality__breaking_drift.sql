-- The batches this governance run refused for breaking schema drift (var run_id), one row per integration and
-- entity: what was wrong and the diff. Nothing of them landed; their downstream models were left out of the build.
with refused as (
    select *
    from {{ ref('stg_steward__schema_refusals') }}
    {% if var('run_id', none) %}
    where run_id = '{{ var("run_id") }}'
    {% else %}
    where false  -- a build outside a governance run judges no refusal
    {% endif %}
    qualify row_number() over (partition by integration, entity order by refused_at desc, refusal_id desc) = 1
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
    coalesce(drift ->> '$.missing', '[]') as missing_columns,
    coalesce(drift ->> '$.added', '[]') as added_columns,
    coalesce(drift ->> '$.renamed', '{}') as renamed_columns,
    coalesce(drift ->> '$.retyped', '{}') as retyped_columns,
    refused_at
from refused
