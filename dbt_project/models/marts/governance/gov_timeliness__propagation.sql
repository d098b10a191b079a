-- Is a change made in one system seen in the others within the expected lag? Today the change is an email opt-out,
-- the one whose delay costs most: every send in the gap goes to someone who said no.
--   HubSpot -> CRM, CDP  an unsubscribe, timed by HubSpot's own subscription timestamp.
--   CRM -> HubSpot, CDP  an opt-out, timed by the CRM record's last change. That is never earlier than the opt-out
--                        itself, so the age is a lower bound and a change is never called late too early.
-- Each change is: propagated (the target agrees), in flight (not yet, but younger than the target's lag),
-- late (not yet, and older), or superseded (HubSpot changed the subscription again after the CRM did: the newer
-- state is HubSpot's, and the consent reconciliation reports the disagreement). The lag per target system comes
-- from the policy's `propagation_lag_hours` (`default` for any system not named). One row per origin and target.
{%- set lags = var('propagation_lag_hours') %}
with people as (
    select * from {{ ref('int_customers__unified') }}
),

changes as (
    select 'email_opt_out' as change, 'hubspot' as origin, 'salesforce' as target, customer_token,
           esp_unsubscribed_at as changed_at, coalesce(is_opted_out_in_crm, false) as is_seen, false as is_superseded
    from people where is_unsubscribed_in_esp and is_in_crm
    union all
    select 'email_opt_out', 'hubspot', 'cdp', customer_token, esp_unsubscribed_at,
           not coalesce(has_email_consent_in_cdp, true), false
    from people where is_unsubscribed_in_esp and is_in_cdp
    union all
    select 'email_opt_out', 'salesforce', 'hubspot', customer_token, crm_updated_at,
           coalesce(is_unsubscribed_in_esp, false),
           not coalesce(is_unsubscribed_in_esp, false) and esp_status_changed_at > crm_updated_at
    from people where is_opted_out_in_crm and is_in_esp
    union all
    select 'email_opt_out', 'salesforce', 'cdp', customer_token, crm_updated_at,
           not coalesce(has_email_consent_in_cdp, true), false
    from people where is_opted_out_in_crm and is_in_cdp
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
        end as double) as lag_hours
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
