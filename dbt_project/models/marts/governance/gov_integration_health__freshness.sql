-- How old each integration's newest record is, against its SLA from policy (`freshness_sla_hours`).
-- An ad report for day D is complete at the end of D, so it counts as a record of D + 1 day.
-- A `platform: custom` system is one more platform, named by its integration (its SLA keyed by that name): each of
-- its entities that has rows counts, dated by when its records came to be or last changed.
{%- set sla = var('freshness_sla_hours') %}
with latest as (
    select 'salesforce' as platform, 'accounts' as entity, max(updated_at) as last_record_at
    from {{ ref('stg_salesforce__accounts') }}
    union all select 'salesforce', 'contacts', max(updated_at) from {{ ref('stg_salesforce__contacts') }}
    union all select 'salesforce', 'leads', max(updated_at) from {{ ref('stg_salesforce__leads') }}
    union all select 'salesforce', 'campaigns', max(updated_at) from {{ ref('stg_salesforce__campaigns') }}
    union all select 'hubspot', 'contacts', max(updated_at) from {{ ref('stg_hubspot__contacts') }}
    union all select 'hubspot', 'email_events', max(occurred_at) from {{ ref('stg_hubspot__email_events') }}
    union all select 'google_ads', 'campaign_stats', cast({{ after('max(report_date)', 1, 'day') }} as {{ instant_type() }})
              from {{ ref('stg_google_ads__campaign_stats') }}
    union all select 'cdp', 'profiles', max(updated_at) from {{ ref('stg_cdp__profiles') }}
    union all select 'decisions', 'ai_decisions', max(decided_at) from {{ ref('stg_decisions__ai_decisions') }}
    {%- for entity, model, dated in [
        ('people', 'stg_custom__people', 'coalesce(updated_at, created_at)'),
        ('consent_events', 'stg_custom__consent_events', 'occurred_at'),
        ('touches', 'stg_custom__touches', 'touched_at'),
        ('engagement_events', 'stg_custom__engagement_events', 'occurred_at'),
        ('ad_spend', 'stg_custom__ad_spend', 'cast(' ~ after('report_date', 1, 'day') ~ ' as ' ~ instant_type() ~ ')'),
        ('campaigns', 'stg_custom__campaigns', 'updated_at'),
        ('decisions', 'stg_custom__decisions', 'decided_at'),
        ('erasure_requests', 'stg_custom__erasure_requests', 'updated_at'),
    ] %}
    union all select system, '{{ entity }}', max({{ dated }}) from {{ ref(model) }} group by system
    {%- endfor %}
),

per_platform as (
    select platform, max(last_record_at) as last_record_at, {{ string_list('entity', ', ') }} as entities
    from latest
    group by platform
)

select
    platform,
    entities,
    last_record_at,
    {{ hours_between('last_record_at', as_of()) }} as hours_since_last_record,
    case platform
        {%- for name, hours in sla.items() if name != 'default' %}
        when '{{ name }}' then {{ hours }}
        {%- endfor %}
        else {{ sla.get('default', 48) }}
    end as sla_hours,
    {{ hours_between('last_record_at', as_of()) }} / case platform
        {%- for name, hours in sla.items() if name != 'default' %}
        when '{{ name }}' then {{ hours }}
        {%- endfor %}
        else {{ sla.get('default', 48) }}
    end as staleness_ratio
from per_platform
