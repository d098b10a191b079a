-- The models that decide the launch's targeting or offers, judged on their recent decisions about its audience
-- (the last `metric_window_days`): the confidence distribution, how much of it sits below the review floor
-- (`oversight_min_confidence`), how many decisions a human reviewed, review coverage of the decisions policy says
-- need a review (int_decisions__review_rules), and versions the model registry does not hold, including the version
-- the launch says it uses.
{{ config(materialized='table', schema='launch', enabled=var('launch', none) is not none) }}
{%- set l = var('launch', none) or {} %}
{%- set models = l.get('models') or [] %}
{%- set registry = var('model_registry') %}
{%- set floor = var('oversight_min_confidence') %}
with audience as (
    select distinct crm_person_id from {{ ref('launch__audience') }} where is_selected and crm_person_id is not null
),

spec as (
    {%- for m in models %}
    select '{{ m.name }}' as model_name, {{ "'" ~ m.version ~ "'" if m.version else 'cast(null as ' ~ text_type() ~ ')' }}
           as approved_version,
           {%- set known = registry.get(m.name) or [] %}
           {{ 'true' if (not m.version or m.version in known) else 'false' }} as is_approved_version_registered
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not models %}
    select cast(null as {{ text_type() }}) as model_name, cast(null as {{ text_type() }}) as approved_version,
           true as is_approved_version_registered where false
    {%- endif %}
),

decisions as (
    select
        decisions.model_name,
        coalesce(decisions.model_version, 'unversioned') as model_version,
        decisions.confidence,
        coalesce(decisions.is_human_reviewed, false) as is_reviewed,
        rules.review_rule is not null as needs_review,
        case decisions.model_name
            {%- for name, versions in registry.items() %}
            when '{{ name }}' then {{ in_values('decisions.model_version', versions) }}
            {%- endfor %}
            else false
        end as is_registered
    from {{ ref('stg_decisions__ai_decisions') }} as decisions
    inner join {{ ref('int_decisions__review_rules') }} as rules on rules.decision_id = decisions.decision_id
    where decisions.crm_person_id in (select crm_person_id from audience)
      and decisions.decided_at > {{ before(as_of(), var('metric_window_days'), 'days') }}
)

select
    spec.model_name,
    spec.approved_version,
    spec.is_approved_version_registered,
    count(decisions.model_name) as decisions,
    {{ string_list('decisions.model_version', ', ', distinct=true) }} as versions_seen,
    {{ quantile('decisions.confidence', 0.1) }} as confidence_p10,
    {{ quantile('decisions.confidence', 0.5) }} as confidence_p50,
    {{ quantile('decisions.confidence', 0.9) }} as confidence_p90,
    {{ floor }} as confidence_floor,
    count(decisions.model_name) filter (where decisions.confidence < {{ floor }}) as low_confidence,
    cast(count(decisions.model_name) filter (where decisions.confidence < {{ floor }}) as {{ float_type() }})
        / nullif(count(decisions.model_name), 0) as share_low_confidence,
    count(decisions.model_name) filter (where decisions.is_reviewed) as reviewed,
    cast(count(decisions.model_name) filter (where decisions.is_reviewed) as {{ float_type() }})
        / nullif(count(decisions.model_name), 0) as reviewed_share,
    count(decisions.model_name) filter (where decisions.needs_review) as needing_review,
    count(decisions.model_name) filter (where decisions.needs_review and not decisions.is_reviewed) as unreviewed_needing_review,
    cast(count(decisions.model_name) filter (where decisions.needs_review and decisions.is_reviewed) as {{ float_type() }})
        / nullif(count(decisions.model_name) filter (where decisions.needs_review), 0) as review_coverage,
    count(decisions.model_name) filter (where not decisions.is_registered) as unregistered_decisions,
    count(distinct case when not decisions.is_registered
                        and decisions.model_version is distinct from spec.approved_version
                        then decisions.model_version end)
        + case when spec.is_approved_version_registered then 0 else 1 end as unregistered_versions
from spec
left join decisions on decisions.model_name = spec.model_name
group by spec.model_name, spec.approved_version, spec.is_approved_version_registered
