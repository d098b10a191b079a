-- Who the launch selects, against who it could have selected: the selection rate (selected / eligible) of every
-- group of every bias dimension, against the largest group, with the same statistics as gov_bias__selection_rates
-- (Wilson 95% interval, pooled two-proportion z). Dimensions the launch targets on purpose (launch.intended
-- dimensions, e.g. region for a regional launch) are left out. Judging (four-fifths rule, minimum n) is policy.
-- A launch whose selection harms (audience.favourable: false: a suppression or exclusion list, a higher price) is
-- judged the other way round, as in gov_bias__selection_rates: disparity_ratio and z_vs_reference are on the
-- favourable rate (1 - selection_rate), adverse_ratio compares the selection rates themselves.
{{ config(materialized='table', schema='launch', enabled=var('launch', none) is not none) }}
{%- set l = var('launch', none) or {} %}
{%- set dims = var('bias_dimensions') | reject('in', l.get('intended_dimensions') or []) | list %}
{%- set favourable = l.get('selection_favourable', true) is not false %}
with eligible as (
    select * from {{ ref('launch__audience') }} where is_eligible
),

long as (
    -- a missing attribute is the group '(missing)', apart from a literal 'unknown' a system recorded (codings)
    {%- for dim in dims %}
    select '{{ dim }}' as dimension, coalesce(cast({{ dim }} as {{ text_type() }}), '(missing)') as group_value, is_selected
    from eligible
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not dims %}
    select cast(null as {{ text_type() }}) as dimension, cast(null as {{ text_type() }}) as group_value, false as is_selected where false
    {%- endif %}
),

groups as (
    select dimension, group_value, count(*) as n, count(*) filter (where is_selected) as selected
    from long
    group by dimension, group_value
),

reference as (
    select dimension, group_value as reference_group, n as reference_n, selected as reference_selected
    from ({{ first_row_per('select * from groups', 'dimension', 'n desc, group_value') }}) as largest
),

rates as (
    select
        groups.*,
        cast(groups.selected as {{ float_type() }}) / groups.n as selection_rate,
        reference.reference_group,
        reference.reference_n,
        cast(reference.reference_selected as {{ float_type() }}) / reference.reference_n as reference_rate,
        cast(groups.selected + reference.reference_selected as {{ float_type() }}) / (groups.n + reference.reference_n)
            as pooled_rate
    from groups
    inner join reference using (dimension)
),

favourable_rates as (
    select
        rates.*,
        {{ 'true' if favourable else 'false' }} as favourable,
        {%- if favourable %}
        selection_rate as favourable_rate,
        reference_rate as reference_favourable_rate,
        pooled_rate as pooled_favourable_rate
        {%- else %}
        1 - selection_rate as favourable_rate,
        1 - reference_rate as reference_favourable_rate,
        1 - pooled_rate as pooled_favourable_rate
        {%- endif %}
    from rates
)

select
    dimension,
    group_value,
    favourable,
    case when favourable then 'favourable' else 'adverse' end as polarity,
    n,
    selected,
    selection_rate,
    {{ wilson('selected', 'n', '-') }} as ci_low,
    {{ wilson('selected', 'n', '+') }} as ci_high,
    reference_group,
    reference_n,
    reference_rate,
    favourable_rate,
    reference_favourable_rate,
    favourable_rate / nullif(reference_favourable_rate, 0) as disparity_ratio,
    {%- if favourable %}
    cast(null as {{ float_type() }}) as adverse_ratio,
    {%- else %}
    selection_rate / nullif(reference_rate, 0) as adverse_ratio,
    {%- endif %}
    case
        when selection_rate < reference_rate then 'less often'
        when selection_rate > reference_rate then 'more often'
        else 'as often'
    end as compared_with_reference,
    {{ z_vs_reference('favourable_rate', 'reference_favourable_rate', 'pooled_favourable_rate') }} as z_vs_reference
from favourable_rates
