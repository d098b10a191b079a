-- Selection rate per group of every audited model and dimension, against a reference group.
-- Reference = the largest group of that model and dimension. z is the pooled two-proportion z-test vs the reference;
-- ci_low/ci_high are the Wilson 95% interval of the group's rate. Judging (four-fifths rule, minimum n) is policy.
-- Polarity (scope.bias_models.<model>.favourable): the listed decisions are a benefit (priority, an offer) or a harm
-- (flagged high-risk, suppressed). selection_rate is the rate of the listed decisions either way; disparity_ratio and
-- z_vs_reference are on the FAVOURABLE rate (1 - selection_rate for an adverse model), so a value below 1 (below 0)
-- always means the group is worse off; adverse_ratio compares the adverse rates of an adverse model.
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
            {%- for model, spec in models.items() %}
            when decisions.model_name = '{{ model }}'
                then {{ in_values('decisions.decision', spec['decisions']) }}
            {%- endfor %}
        end as is_positive
    from {{ ref('int_decisions__all') }} as decisions
    inner join {{ ref('int_customers__unified') }} as customers
        on customers.crm_person_id = decisions.crm_person_id
    where decisions.model_name in ({% for model in models %}'{{ model }}'{% if not loop.last %}, {% endif %}{% endfor %})
),

polarity as (
    {%- for model, spec in models.items() %}
    select '{{ model }}' as model_name, {{ 'true' if spec.get('favourable', true) else 'false' }} as favourable,
           '{{ spec['decisions'] | join(' or ') }}' as decision
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

long as (
    -- a missing attribute is the group '(missing)', apart from a literal 'unknown' a system recorded (codings)
    {%- for dim in dims %}
    select model_name, '{{ dim }}' as dimension, coalesce(cast({{ dim }} as {{ text_type() }}), '(missing)') as group_value,
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
    from ({{ first_row_per('select * from groups', 'model_name, dimension', 'n desc, group_value') }}) as largest
),

rates as (
    select
        groups.*,
        polarity.favourable,
        polarity.decision,
        cast(groups.positives as {{ float_type() }}) / groups.n as selection_rate,
        reference.reference_group,
        reference.reference_n,
        cast(reference.reference_positives as {{ float_type() }}) / reference.reference_n as reference_rate,
        cast(groups.positives + reference.reference_positives as {{ float_type() }})
            / (groups.n + reference.reference_n) as pooled_rate
    from groups
    inner join reference using (model_name, dimension)
    inner join polarity using (model_name)
),

favourable_rates as (
    -- the listed decisions' rates turned into the rates of the favourable outcome (unchanged for a favourable model)
    select
        rates.*,
        case when favourable then selection_rate else 1 - selection_rate end as favourable_rate,
        case when favourable then reference_rate else 1 - reference_rate end as reference_favourable_rate,
        case when favourable then pooled_rate else 1 - pooled_rate end as pooled_favourable_rate
    from rates
)

select
    model_name,
    dimension,
    group_value,
    favourable,
    case when favourable then 'favourable' else 'adverse' end as polarity,
    decision,
    n,
    positives,
    selection_rate,
    {{ wilson('positives', 'n', '-') }} as ci_low,
    {{ wilson('positives', 'n', '+') }} as ci_high,
    favourable_rate,
    reference_group,
    reference_n,
    reference_rate,
    reference_favourable_rate,
    favourable_rate / nullif(reference_favourable_rate, 0) as disparity_ratio,
    case when not favourable then selection_rate / nullif(reference_rate, 0) end as adverse_ratio,
    selection_rate - reference_rate as rate_difference,
    case
        when selection_rate < reference_rate then 'less often'
        when selection_rate > reference_rate then 'more often'
        else 'as often'
    end as compared_with_reference,
    {{ z_vs_reference('favourable_rate', 'reference_favourable_rate', 'pooled_favourable_rate') }} as z_vs_reference
from favourable_rates
