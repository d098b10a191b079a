-- Can each automated decision be explained and reproduced? Per model version: the share recorded with a reason
-- code, a model version and the input snapshot the model read (share_fully_recorded), and whether that version is
-- in the model registry of policy (`model_registry`: model name -> registered versions). A missing version counts
-- as the version 'unversioned', which no registry holds.
--   share_reproducible  decisions with both a model version and an input snapshot id
{%- set registry = var('model_registry') %}
with decisions as (
    select
        model_name,
        coalesce(model_version, 'unversioned') as version_label,
        decided_at,
        is_executed,
        reason_codes is not null as has_reason,
        model_version is not null as has_version,
        input_snapshot_id is not null as has_snapshot,
        case
            {%- for model, versions in registry.items() %}
            when model_name = '{{ model }}' then coalesce({{ in_values('model_version', versions) }}, false)
            {%- endfor %}
            else false
        end as is_registered,
        case
            {%- for model, versions in registry.items() %}
            when model_name = '{{ model }}' then '{{ versions | join(", ") or "none" }}'
            {%- endfor %}
            else 'none'
        end as registered_versions
    from {{ ref('int_decisions__all') }}
)

select
    model_name,
    version_label as model_version,
    count(*) as decisions,
    count(*) filter (where is_executed) as executed,
    count(*) filter (where has_reason) as with_reason,
    count(*) filter (where has_version) as with_version,
    count(*) filter (where has_snapshot) as with_snapshot,
    count(*) filter (where not has_snapshot) as without_snapshot,
    cast(count(*) filter (where has_version and has_snapshot) as {{ float_type() }}) / count(*) as share_reproducible,
    cast(count(*) filter (where has_reason and has_version and has_snapshot) as {{ float_type() }}) / count(*)
        as share_fully_recorded,
    bool_and(is_registered) as is_registered,
    min(registered_versions) as registered_versions,
    case when bool_and(is_registered) then 0 else count(*) end as unregistered_decisions,
    min(decided_at) as first_decided_at,
    max(decided_at) as last_decided_at
from decisions
group by model_name, version_label
