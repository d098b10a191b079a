-- Health and data freshness of every platform the launch involves, as of now.
--   health: the latest state per integration from the health monitor (ledger.integration_health) when it has a
--     recent one (launch.health_max_age_hours); otherwise derived from the newest landed batch in ledger.batches:
--     within the platform's freshness SLA healthy, within twice the SLA degraded, older (or never landed) down.
--     A platform is as healthy as its worst integration. health_rank: 0 healthy, 1 degraded, 2 down.
--   freshness: the age of the platform's newest record (gov_integration_health__freshness, re-aged to now) over
--     its SLA (`freshness_sla_hours`): above 1 the launch would be decided on stale data.
{{ config(materialized='table', schema='launch', enabled=var('launch', none) is not none) }}
{%- set l = var('launch', none) or {} %}
{%- set platforms = l.get('platforms') or [] %}
{%- set sla = var('freshness_sla_hours') %}
{%- set max_age = l.get('health_max_age_hours') or 1 %}
{%- set monitor = adapter.get_relation(database=target.database, schema='ledger', identifier='integration_health') %}
with involved as (
    {%- for p in platforms %}
    select '{{ p }}' as platform, case '{{ p }}'
        {%- for name, hours in sla.items() if name != 'default' %} when '{{ name }}' then {{ hours }}{% endfor %}
        else {{ sla.get('default', 48) }} end as sla_hours
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not platforms %}
    select cast(null as {{ text_type() }}) as platform, cast(null as {{ float_type() }}) as sla_hours where false
    {%- endif %}
),

batches as (
    select platform, integration, max(loaded_at) as last_batch_at
    from {{ ref('stg_steward__batches') }}
    group by platform, integration
),

monitored as (
    {%- if monitor is not none %}
    select integration, platform, state, checked_at
    from ({{ first_row_per("select integration, platform, state, checked_at, seq from " ~ monitor ~ "
                            where state in ('healthy', 'degraded', 'down')
                              and checked_at >= " ~ before(as_of(), max_age * 60, 'minutes'),
                           'integration', 'checked_at desc, seq desc') }}) as newest
    {%- else %}
    select cast(null as {{ text_type() }}) as integration, cast(null as {{ text_type() }}) as platform, cast(null as {{ text_type() }}) as state,
           cast(null as {{ instant_type() }}) as checked_at where false
    {%- endif %}
),

per_integration as (
    select
        involved.platform,
        batches.integration,
        batches.last_batch_at,
        {{ hours_between('batches.last_batch_at', as_of()) }} as hours_since_last_batch,
        monitored.state as monitor_state,
        case
            when monitored.state is not null then monitored.state
            when batches.last_batch_at is null then 'down'
            when {{ hours_between('batches.last_batch_at', as_of()) }} <= involved.sla_hours then 'healthy'
            when {{ hours_between('batches.last_batch_at', as_of()) }} <= 2 * involved.sla_hours then 'degraded'
            else 'down'
        end as health_state
    from involved
    left join batches on batches.platform = involved.platform
    left join monitored on monitored.integration = batches.integration
),

per_platform as (
    select
        platform,
        {{ string_list('integration', ', ') }} as integrations,
        max(last_batch_at) as last_batch_at,
        min(hours_since_last_batch) as hours_since_last_batch,
        max(case health_state when 'healthy' then 0 when 'degraded' then 1 else 2 end) as health_rank,
        case when count(monitor_state) > 0 then 'ledger.integration_health' else 'ledger.batches' end as health_source
    from per_integration
    group by platform
),

freshness as (
    select platform, last_record_at from {{ ref('gov_integration_health__freshness') }}
)

select
    involved.platform,
    per_platform.integrations,
    per_platform.last_batch_at,
    per_platform.hours_since_last_batch,
    case per_platform.health_rank when 0 then 'healthy' when 1 then 'degraded' else 'down' end as health_state,
    per_platform.health_rank,
    per_platform.health_source,
    freshness.last_record_at,
    {{ hours_between('freshness.last_record_at', as_of()) }} as hours_since_last_record,
    involved.sla_hours,
    {{ hours_between('freshness.last_record_at', as_of()) }} / involved.sla_hours as staleness_ratio
from involved
inner join per_platform on per_platform.platform = involved.platform
left join freshness on freshness.platform = involved.platform
