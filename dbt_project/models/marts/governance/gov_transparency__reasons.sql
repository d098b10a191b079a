-- How many automated decisions can be explained: share carrying at least one reason code, per model version.
select
    model_name,
    coalesce(model_version, 'unversioned') as model_version,
    count(*) as decisions,
    count(*) filter (where reason_codes is null) as without_reason,
    cast(count(*) filter (where reason_codes is not null) as {{ float_type() }}) / count(*) as share_with_reason
from {{ ref('int_decisions__all') }}
group by model_name, coalesce(model_version, 'unversioned')
