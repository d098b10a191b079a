-- Records kept past their retention period: one row per entity policy sets a period for (`retention_days`,
-- keyed "<platform>.<entity>"). Age is measured on the timestamp that says when the record came to be.
-- "custom.<entity>" sets the period of that canonical entity in every `platform: custom` system, judged per system:
-- its row is named "<system>.<entity>" (klaviyo.touches).
{%- set dated = {
    'hubspot.email_events': (ref('stg_hubspot__email_events'), 'occurred_at'),
    'salesforce.campaign_members': (ref('stg_salesforce__campaign_members'), 'created_at'),
    'google_ads.audience_uploads': (ref('stg_google_ads__audience_uploads'), 'uploaded_at'),
    'decisions.ai_decisions': (ref('stg_decisions__ai_decisions'), 'decided_at'),
    'cdp.erasure_requests': (ref('stg_cdp__erasure_requests'), 'completed_at'),
    'custom.people': (ref('stg_custom__people'), 'created_at'),
    'custom.consent_events': (ref('stg_custom__consent_events'), 'occurred_at'),
    'custom.touches': (ref('stg_custom__touches'), 'touched_at'),
    'custom.engagement_events': (ref('stg_custom__engagement_events'), 'occurred_at'),
    'custom.decisions': (ref('stg_custom__decisions'), 'decided_at'),
    'custom.erasure_requests': (ref('stg_custom__erasure_requests'), 'completed_at'),
} %}
{%- set retention = var('retention_days') %}
{%- for entity in retention if entity not in dated %}
    {{ exceptions.raise_compiler_error("retention_days: no dated entity '" ~ entity ~ "' (known: "
                                       ~ (dated.keys() | sort | join(', ')) ~ ")") }}
{%- endfor %}

with records as (
    {%- for entity, days in retention.items() %}
    select
        {% if entity.startswith('custom.') -%}
        system || '.{{ entity.split('.')[1] }}'
        {%- else -%}
        '{{ entity }}'
        {%- endif %} as entity,
        {{ days }} as retention_days,
        {{ dated[entity][1] }} as recorded_at,
        {{ dated[entity][1] }} < {{ before(as_of(), days, 'days') }} as is_past_retention
    from {{ dated[entity][0] }}
    where {{ dated[entity][1] }} is not null
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select cast(null as {{ text_type() }}) as entity, 0 as retention_days, cast(null as {{ instant_type() }}) as recorded_at,
           false as is_past_retention
    where false
    {%- endfor %}
)

select
    entity,
    retention_days,
    count(*) as records,
    count(*) filter (where is_past_retention) as records_past_retention,
    cast(count(*) filter (where is_past_retention) as {{ float_type() }}) / count(*) as share_past_retention,
    min(recorded_at) as oldest_record_at,
    greatest({{ hours_between('min(recorded_at)', as_of()) }} / 24.0 - retention_days, 0) as days_past_retention
from records
group by entity, retention_days
