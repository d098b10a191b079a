-- Selection (favourable-decision) rate per group of every audited model and dimension, against a reference group.
-- Reference = the largest group of that model and dimension. z is the pooled two-proportion z-test vs the reference;
-- ci_low/ci_high are the Wilson 95% interval of the group's rate. Judging (four-fifths rule, minimum n) is policy.
{%- set dims = var('bias_dimensions') %}
{%- set models = var('bias_models') %}

with decisions as (
    select
        decisions.model_name,
        decisions.decision,
        {%- for dim in dims %}
        customers.{{ dim }},
        {%- endfor %}
        case
            {%- for model, positives in models.items() %}
            when decisions.model_name = '{{ model }}'
                then decisions.decision in ({% for p in positives %}'{{ p }}'{% if not loop.last %}, {% endif %}{% endfor %})
            {%- endfor %}
        end as is_positive
    from {{ ref('stg_decisions__ai_decisions') }} as decisions
    inner join {{ ref('int_customers__unified') }} as customers
        on customers.crm_person_id = decisions.crm_person_id
    where decisions.model_name in ({% for model in models %}'{{ model }}'{% if not loop.last %}, {% endif %}{% endfor %})
),

long as (
    {%- for dim in dims %}
    select model_name, '{{ dim }}' as dimension, coalesce(cast({{ dim }} as varchar), 'unknown') as group_value,
           is_positive
    from decisions
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

groups as (
    select model_name, dimension, group_value,
           count(*) as n,
           sum(case when is_positive then 1 else 0 end) as positives
    from long
    group by model_name, dimension, group_value
),

reference as (
    select model_name, dimension, group_value as reference_group, n as reference_n, positives as reference_positives
    from groups
    qualify row_number() over (partition by model_name, dimension order by n desc, group_value) = 1
),

rates as (
    select
        groups.*,
        cast(groups.positives as double) / groups.n as selection_rate,
        reference.reference_group,
        reference.reference_n,
        cast(reference.reference_positives as double) / reference.reference_n as reference_rate,
        cast(groups.positives + reference.reference_positives as double)
            / (groups.n + reference.reference_n) as pooled_rate
    from groups
    inner join reference using (model_name, dimension)
)

select
    model_name,
    dimension,
    group_value,
    n,
    positives,
    selection_rate,
    {{ wilson('positives', 'n', '-') }} as ci_low,
    {{ wilson('positives', 'n', '+') }} as ci_high,
    reference_group,
    reference_n,
    reference_rate,
    selection_rate / nullif(reference_rate, 0) as disparity_ratio,
    selection_rate - reference_rate as rate_difference,
    {{ z_vs_reference('selection_rate', 'reference_rate', 'pooled_rate') }} as z_vs_reference
from rates
