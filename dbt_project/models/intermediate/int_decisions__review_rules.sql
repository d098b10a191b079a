-- Every automated decision with the review rule that requires a human to look at it, if any:
--   low_confidence_high_value  confidence < oversight_min_confidence on an account with annual revenue at or above
--                              oversight_high_value_revenue (the rule gov_oversight__unreviewed judges as a count)
--   sensitive_segment          the person is in a segment of `oversight_sensitive_segments`: a unified-customer
--                              attribute (age_band: ["65+"]) or a CDP audience tag (audience: [vulnerable_customer])
-- A decision both rules cover is counted under the first, so each unreviewed decision is reported once.
-- review_hours is decided -> reviewed, for reviewed decisions with a review time.
{%- set segments = var('oversight_sensitive_segments') %}
{%- set has_segments = segments.values() | select | list | length > 0 %}
{%- set audience_values = segments.get('audience') or [] %}
-- A person is in an audience when any of their CDP profiles lists the tag (a comma-separated list, spaces ignored).
-- Only the profiles that list one of the policy's tags are grouped, one flag per tag: no list of every tag of
-- every person is built.
{%- set tags = "',' || replace(coalesce(audiences, ''), ' ', '') || ','" %}
with audiences as (
    {%- if audience_values %}
    select
        crm_person_id
        {%- for value in audience_values %},
        bool_or({{ tags }} like '%,{{ value }},%') as in_audience_{{ loop.index }}
        {%- endfor %}
    from {{ ref('stg_cdp__profiles') }}
    where crm_person_id is not null
      and ({% for value in audience_values %}{{ tags }} like '%,{{ value }},%'{% if not loop.last %} or {% endif %}{% endfor %})
    group by crm_person_id
    {%- else %}
    select crm_person_id from {{ ref('stg_cdp__profiles') }} where false
    {%- endif %}
),

decisions as (
    select
        decisions.*,
        coalesce(decisions.confidence < {{ var('oversight_min_confidence') }}
                 and accounts.annual_revenue >= {{ var('oversight_high_value_revenue') }}, false)
            as is_low_confidence_high_value,
        {%- if has_segments %}
        case
            {%- for attribute, values in segments.items() %}{% for value in values %}
            {%- if attribute == 'audience' %}
            when audiences.in_audience_{{ loop.index }} then 'audience={{ value }}'
            {%- else %}
            when customers.{{ attribute }} = '{{ value }}' then '{{ attribute }}={{ value }}'
            {%- endif %}
            {%- endfor %}{% endfor %}
        end
        {%- else %}
        cast(null as {{ text_type() }})
        {%- endif %} as sensitive_segment
    from {{ ref('int_decisions__all') }} as decisions
    left join {{ ref('stg_salesforce__accounts') }} as accounts on accounts.account_id = decisions.account_id
    left join {{ ref('int_customers__unified') }} as customers on customers.crm_person_id = decisions.crm_person_id
    left join audiences on audiences.crm_person_id = decisions.crm_person_id
)

select
    decision_id,
    model_name,
    coalesce(model_version, 'unversioned') as model_version,
    decided_at,
    reviewed_at,
    is_human_reviewed,
    is_executed,
    is_low_confidence_high_value,
    sensitive_segment,
    case
        when is_low_confidence_high_value then 'low_confidence_high_value'
        when sensitive_segment is not null then 'sensitive_segment'
    end as review_rule,
    case when is_human_reviewed and reviewed_at is not null
        then {{ hours_between('decided_at', 'reviewed_at') }} end as review_hours
from decisions
