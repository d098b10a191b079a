-- The optimised KPI (click rate) against its guardrail (unsubscribes + spam complaints per delivery), comparing the
-- last `metric_window_days` with the same span before. guardrail_z is the two-proportion z-test of the change.
-- A custom system's campaigns (int_touches__attributed; campaign_id = '<system>:<id>') are judged the same way on
-- their own events: deliveries are its sends less its bounces, clicks its clicks, the guardrail its unsubscribes and
-- complaints. They have no pausable target.
-- HubSpot's events are counted from int_email_events__instants (events per campaign, email, type and instant: the
-- same counts as the events themselves, without reading each one at every run).
{%- set days = var('metric_window_days') %}
with windowed as (
    select
        campaign_id,
        marketing_email_id,
        event_type,
        events,
        case
            when occurred_at > {{ before(as_of(), days, 'days') }} then 'recent'
            when occurred_at > {{ before(as_of(), 2 * days, 'days') }} then 'prior'
        end as time_window
    from {{ ref('int_email_events__instants') }}
    where campaign_id is not null
),

custom_windowed as (
    select
        campaign_key as campaign_id,
        event_type,
        case
            when occurred_at > {{ before(as_of(), days, 'days') }} then 'recent'
            when occurred_at > {{ before(as_of(), 2 * days, 'days') }} then 'prior'
        end as time_window
    from {{ ref('int_touches__attributed') }}
    where campaign_key is not null
      and event_type in ('send', 'bounce', 'click', 'unsubscribe', 'complaint')
      and occurred_at > {{ before(as_of(), 2 * days, 'days') }}
),

counts as (
    select
        campaign_id,
        min(marketing_email_id) as marketing_email_id,
        {%- for name, kind in [('delivered', 'DELIVERED'), ('clicks', 'CLICK'), ('unsubscribes', 'STATUSCHANGE'),
                               ('complaints', 'SPAMREPORT')] %}
        {%- for window in ['prior', 'recent'] %}
        cast(coalesce(sum(events) filter (where time_window = '{{ window }}' and event_type = '{{ kind }}'), 0) as bigint)
            as {{ name }}_{{ window }}{% if not loop.last or name != 'complaints' %},{% endif %}
        {%- endfor %}
        {%- endfor %}
    from windowed
    group by campaign_id
    union all
    select
        campaign_id,
        null,
        {%- for window in ['prior', 'recent'] %}
        greatest(count(*) filter (where time_window = '{{ window }}' and event_type = 'send')
                 - count(*) filter (where time_window = '{{ window }}' and event_type = 'bounce'), 0)
            as delivered_{{ window }},
        {%- endfor %}
        count(*) filter (where time_window = 'prior' and event_type = 'click'),
        count(*) filter (where time_window = 'recent' and event_type = 'click'),
        count(*) filter (where time_window = 'prior' and event_type = 'unsubscribe'),
        count(*) filter (where time_window = 'recent' and event_type = 'unsubscribe'),
        count(*) filter (where time_window = 'prior' and event_type = 'complaint'),
        count(*) filter (where time_window = 'recent' and event_type = 'complaint')
    from custom_windowed
    group by campaign_id
),

rates as (
    select
        counts.*,
        cast(clicks_prior as {{ float_type() }}) / nullif(delivered_prior, 0) as ctr_prior,
        cast(clicks_recent as {{ float_type() }}) / nullif(delivered_recent, 0) as ctr_recent,
        cast(unsubscribes_prior + complaints_prior as {{ float_type() }}) / nullif(delivered_prior, 0) as guardrail_rate_prior,
        cast(unsubscribes_recent + complaints_recent as {{ float_type() }}) / nullif(delivered_recent, 0) as guardrail_rate_recent,
        cast(unsubscribes_prior + complaints_prior + unsubscribes_recent + complaints_recent as {{ float_type() }})
            / nullif(delivered_prior + delivered_recent, 0) as guardrail_pooled
    from counts
)

select
    rates.campaign_id,
    coalesce(campaigns.campaign_name, directory.campaign_name) as campaign_name,
    coalesce(directory.campaign_key, 'salesforce:' || rates.campaign_id) as campaign_key,
    delivered_prior,
    delivered_recent,
    ctr_prior,
    ctr_recent,
    ctr_recent / nullif(ctr_prior, 0) as kpi_ratio,
    unsubscribes_prior,
    unsubscribes_recent,
    complaints_prior,
    complaints_recent,
    guardrail_rate_prior,
    guardrail_rate_recent,
    guardrail_rate_recent / nullif(guardrail_rate_prior, 0) as guardrail_ratio,
    case
        when guardrail_pooled is null or guardrail_pooled in (0, 1) or delivered_prior = 0 or delivered_recent = 0
            then 0.0
        else (guardrail_rate_recent - guardrail_rate_prior)
             / sqrt(guardrail_pooled * (1 - guardrail_pooled) * (1.0 / delivered_prior + 1.0 / delivered_recent))
    end as guardrail_z,
    case when directory.campaign_key is null then 'hubspot' end as control_platform,
    rates.marketing_email_id as control_campaign_id
from rates
left join {{ ref('stg_salesforce__campaigns') }} as campaigns on campaigns.campaign_id = rates.campaign_id
left join {{ ref('int_campaigns__directory') }} as directory
    on directory.campaign_key = rates.campaign_id and directory.platform not in ('salesforce', 'hubspot', 'marketo', 'google_ads')
