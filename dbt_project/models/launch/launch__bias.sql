-- Who the launch selects, against who it could have selected: the selection rate (selected / eligible) of every
-- group of every bias dimension, against the largest group, with the same statistics as gov_bias__selection_rates
-- (Wilson 95% interval, pooled two-proportion z). Dimensions the launch targets on purpose (launch.intended
-- dimensions, e.g. region for a regional launch) are left out. Judging (four-fifths rule, minimum n) is policy.
{{ config(materialized='table', schema='launch', enabled=var('launch', none) is not none) }}
{%- set l = var('launch', none) or {} %}
{%- set dims = var('bias_dimensions') | reject('in', l.get('intended_dimensions') or []) | list %}
with eligible as (
    select * from {{ ref('launch__audience') }} where is_eligible
),

long as (
    {%- for dim in dims %}
    select '{{ dim }}' as dimension, coalesce(cast({{ dim }} as varchar), 'unknown') as group_value, is_selected
    from eligible
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not dims %}
    select cast(null as varchar) as dimension, cast(null as varchar) as group_value, false as is_selected where false
    {%- endif %}
),

groups as (
    select dimension, group_value, count(*) as n, count(*) filter (where is_selected) as selected
    from long
    group by dimension, group_value
),

reference as (
    select dimension, group_value as reference_group, n as reference_n, selected as reference_selected
    from groups
    qualify row_number() over (partition by dimension order by n desc, group_value) = 1
),

rates as (
    select
        groups.*,
        cast(groups.selected as double) / groups.n as selection_rate,
        reference.reference_group,
        reference.reference_n,
        cast(reference.reference_selected as double) / reference.reference_n as reference_rate,
        cast(groups.selected + reference.reference_selected as double) / (groups.n + reference.reference_n)
            as pooled_rate
    from groups
    inner join reference using (dimension)
)

select
    dimension,
    group_value,
    n,
    selected,
    selection_rate,
    {{ wilson('selected', 'n', '-') }} as ci_low,
    {{ wilson('selected', 'n', '+') }} as ci_high,
    reference_group,
    reference_n,
    reference_rate,
    selection_rate / nullif(reference_rate, 0) as disparity_ratio,
    {{ z_vs_reference('selection_rate', 'reference_rate', 'pooled_rate') }} as z_vs_reference
from rates
