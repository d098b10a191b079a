-- Is a change made in one system seen in the others within the expected lag? Today the change is an email opt-out,
-- the one whose delay costs most: every send in the gap goes to someone who said no. Every system people opt out in
-- (int_people__systems.is_consent_origin: the CRM, HubSpot, Marketo) is an origin; every other system holding a
-- record of the person is a target. An opt-out is timed by the origin's own date where it has one (HubSpot's
-- subscription timestamp, Marketo's Unsubscribe Email activity), else by the record's last change (the CRM), which is
-- never earlier than the opt-out itself, so the age is a lower bound and a change is never called late too early.
-- Each change is: propagated (the target agrees), in flight (not yet, but younger than the target's lag),
-- late (not yet, and older), or superseded (the target changed the person's consent again after the origin did: the
-- newer state is the target's, and the consent reconciliation reports the disagreement). The lag per target system
-- comes from the policy's `propagation_lag_hours` (`default` for any system not named). One row per origin and
-- target. Who opted out where, and whether each target followed, comes from int_people__opt_outs (kept while no
-- person changes); this model ages those changes against as_of.
{%- set lags = var('propagation_lag_hours') %}
with changes as (
    select * from {{ ref('int_people__opt_outs') }}
),

judged as (
    select
        changes.*,
        {{ hours_between('changes.changed_at', as_of()) }} as age_hours,
        cast(case
            {%- for system, hours in lags.items() if system != 'default' %}
            when changes.target = '{{ system }}' then {{ hours }}
            {%- endfor %}
            when true then {{ lags.get('default', 24) }}
        end as {{ float_type() }}) as lag_hours
    from changes
),

classified as (
    select
        *,
        case when is_seen then 'propagated'
             when is_superseded then 'superseded'
             when age_hours is null or age_hours <= lag_hours then 'in_flight'
             else 'late' end as outcome
    from judged
)

select
    change,
    origin,
    target,
    change || ':' || origin || '->' || target as propagation,
    count(*) as changes,
    count(*) filter (where outcome = 'propagated') as propagated,
    count(*) filter (where outcome = 'in_flight') as in_flight,
    count(*) filter (where outcome = 'late') as late_changes,
    count(*) filter (where outcome = 'superseded') as superseded,
    max(lag_hours) as lag_hours,
    coalesce(max(age_hours) filter (where outcome = 'late'), 0) as oldest_late_hours,
    {{ example_ids("case when outcome = 'late' then customer_token end") }} as example_ids
from classified
group by change, origin, target
