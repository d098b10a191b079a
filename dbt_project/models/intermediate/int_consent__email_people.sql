{{ config(materialized='incremental', incremental_strategy='per_key', per_key_column='email_key',
          on_schema_change='sync_all_columns',
          per_key_inputs=['stg_hubspot__email_events', 'stg_hubspot__subscriptions', 'stg_marketo__leads',
                          'stg_salesforce__contacts', 'stg_salesforce__leads', 'stg_cdp__profiles',
                          'stg_custom__people'],
          per_key_watch=['source:marketo.activities', 'source:custom.touches', 'source:custom.consent_events'],
          pre_hook=["{{ create_change_log() }}", "{{ per_key_prepare() }}"],
          post_hook=["{{ log_full_build() }}", "{{ per_key_finish() }}", "{{ record_incremental_state() }}",
                     "{{ prune_change_log() }}"]) }}
-- The email half of gov_consent__channel_purpose, judged per person: one row per person emailed (a HubSpot SENT
-- event, a Marketo Send Email activity, a custom system's email touch) and per system holding an email consent the
-- sends are judged against: the four built-ins always (is_known: whether the system holds the person), and each
-- custom system that holds an email consent for the person. contacts_without_consent counts the person's sends after
-- that system's withdrawal; the mart's header says how each system's withdrawal is dated. The mart only aggregates
-- these rows (and adds, for each custom system, the people it does not hold).
-- Per key (macros/per_key.sql): a person's rows depend only on the input rows with their email_key, so a run
-- recomputes only the people the inputs' change logs name: new, replaced or deleted HubSpot events (their
-- recipients), changed consent records, a Marketo lead or custom person whose email changed (old and new email). A
-- Marketo activity, custom touch or custom consent event landed rebuilds every person (they keep no change log).
{%- set keys = per_key_keys() %}
with custom_touches as (
    select email_key, channel, touched_at
    from ({{ custom_touches() }}) as touches
    where {{ per_key_match('email_key', keys) }}
),

marketo_activities as (
    select email_key, activity_type, occurred_at
    from {{ ref('int_marketo_activities__identified') }}
    where activity_type in ('send_email', 'unsubscribe_email') and email_key is not null
      and {{ per_key_match('email_key', keys) }}
),

sends as (
    select email_key, occurred_at as contacted_at
    from {{ ref('stg_hubspot__email_events') }}
    where event_type = 'SENT' and email_key is not null and {{ per_key_match('email_key', keys) }}
    union all
    select email_key, occurred_at
    from marketo_activities
    where activity_type = 'send_email'
    union all
    select email_key, touched_at
    from custom_touches
    where channel = 'email' and email_key is not null
),

esp as (
    select email_key, min(case when is_unsubscribed then status_changed_at end) as withdrawn_at
    from {{ ref('stg_hubspot__subscriptions') }}
    where subscription_id in ({{ sql_list(var('consent_email_subscriptions')) }}) and email_key is not null
      and {{ per_key_match('email_key', keys) }}
    group by email_key
),

marketo_unsubscribes as (
    select email_key, max(occurred_at) as unsubscribed_at
    from marketo_activities
    where activity_type = 'unsubscribe_email'
    group by email_key
),

marketo as (
    select
        leads.email_key,
        case when bool_or(leads.is_unsubscribed)
             then coalesce(max(u.unsubscribed_at), max(leads.updated_at) filter (where leads.is_unsubscribed))
        end as withdrawn_at
    from {{ ref('stg_marketo__leads') }} as leads
    left join marketo_unsubscribes as u on u.email_key = leads.email_key
    where leads.email_key is not null and {{ per_key_match('leads.email_key', keys) }}
    group by leads.email_key
),

crm as (
    select email_key, bool_or(has_opted_out_of_email) as is_withdrawn, max(updated_at) as recorded_at
    from (
        select email_key, has_opted_out_of_email, updated_at from {{ ref('stg_salesforce__contacts') }}
        union all
        select email_key, has_opted_out_of_email, updated_at from {{ ref('stg_salesforce__leads') }}
    ) as people
    where email_key is not null and {{ per_key_match('email_key', keys) }}
    group by email_key
),

cdp as (
    select email_key, bool_or(not has_email_consent) as is_email_withdrawn, max(updated_at) as recorded_at
    from {{ ref('stg_cdp__profiles') }}
    where email_key is not null and {{ per_key_match('email_key', keys) }}
    group by email_key
),

email_consent as (
    select 'hubspot' as system, email_key, withdrawn_at from esp
    union all
    select 'marketo', email_key, withdrawn_at from marketo
    union all
    select 'salesforce', crm.email_key,
           case when crm.is_withdrawn then coalesce(esp.withdrawn_at, marketo.withdrawn_at, crm.recorded_at) end
    from crm
    left join esp on esp.email_key = crm.email_key
    left join marketo on marketo.email_key = crm.email_key
    union all
    select 'cdp', cdp.email_key,
           case when cdp.is_email_withdrawn
                then coalesce(esp.withdrawn_at, marketo.withdrawn_at, cdp.recorded_at) end
    from cdp
    left join esp on esp.email_key = cdp.email_key
    left join marketo on marketo.email_key = cdp.email_key
),

-- One row per person, not per send: each send is compared once with every system's withdrawal (one join on the
-- person, no cross join of sends with systems), and the person's token is computed once per person.
consent_by_person as (
    select
        email_key,
        {%- for system in ['hubspot', 'marketo', 'salesforce', 'cdp'] %}
        bool_or(system = '{{ system }}') as is_known_{{ system }},
        max(withdrawn_at) filter (where system = '{{ system }}') as withdrawn_{{ system }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from email_consent
    group by email_key
),

email_people as (
    select
        sends.email_key,
        {{ mask_id('sends.email_key') }} as person_token,
        {%- for system in ['hubspot', 'marketo', 'salesforce', 'cdp'] %}
        coalesce(bool_or(consent.is_known_{{ system }}), false) as is_known_{{ system }},
        count(*) filter (where sends.contacted_at > consent.withdrawn_{{ system }}) as late_{{ system }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from sends
    left join consent_by_person as consent on consent.email_key = sends.email_key
    group by sends.email_key
),

-- each custom system's email consent per person (a row only where the system holds one), and the sends after its
-- withdrawal (one join on the person)
custom_email as (
    select system, email_key, case when is_email_opted_out then opted_out_at end as withdrawn_at
    from ({{ custom_email_consent() }}) as consent
    where is_email_opted_out is not null and {{ per_key_match('email_key', keys) }}
),

custom_email_late as (
    select custom_email.system, custom_email.email_key, count(sends.contacted_at) as contacts_without_consent
    from custom_email
    inner join sends on sends.email_key = custom_email.email_key and sends.contacted_at > custom_email.withdrawn_at
    group by custom_email.system, custom_email.email_key
)

{%- for system in ['hubspot', 'marketo', 'salesforce', 'cdp'] %}
select email_key, person_token, '{{ system }}' as system, is_known_{{ system }} as is_known,
       late_{{ system }} as contacts_without_consent
from email_people
union all
{%- endfor %}
select
    email_people.email_key,
    email_people.person_token,
    custom_email.system,
    true,
    coalesce(custom_email_late.contacts_without_consent, 0)
from email_people
inner join custom_email on custom_email.email_key = email_people.email_key
left join custom_email_late
    on custom_email_late.system = custom_email.system and custom_email_late.email_key = email_people.email_key
