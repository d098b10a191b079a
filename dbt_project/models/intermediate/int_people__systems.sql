{{ config(materialized='incremental', incremental_strategy='per_key', per_key_column='email_key',
          on_schema_change='sync_all_columns',
          per_key_inputs=['stg_salesforce__contacts', 'stg_salesforce__leads', 'stg_hubspot__contacts',
                          'stg_hubspot__subscriptions', 'stg_marketo__leads', 'stg_cdp__profiles',
                          'stg_custom__people'],
          per_key_watch=['source:marketo.activities', 'source:custom.consent_events', 'custom_systems'],
          pre_hook=["{{ create_change_log() }}", "{{ per_key_prepare() }}"],
          post_hook=["{{ log_full_build() }}", "{{ per_key_finish() }}", "{{ record_incremental_state() }}",
                     "{{ prune_change_log() }}"]) }}
-- One row per system and person (normalised email): whether the system holds a person record for them, and the
-- email consent it holds. The cross-system checks (identity match, consent agreement, propagation lag) compare these
-- rows pairwise, so a platform joins all of them by adding its CTE here.
--   records             person records the system holds (0: it holds only a consent status, as HubSpot can)
--   is_email_opted_out  the system's current email opt-out; null when it holds none
--   opted_out_at        when the opt-out was made, or a lower bound of its age (the record's last change)
--   consent_changed_at  the latest dated consent change the system shows, whatever its direction
--   is_consent_origin   people opt out here (links, preference centres, sales reps); a CDP only receives consent
--   system_rank         the order a pair of systems is named in (salesforce~hubspot, never hubspot~salesforce);
--                       custom systems come after the built-ins, in name order (cdp~klaviyo, braze~klaviyo)
-- Per key (macros/per_key.sql): a person's rows depend only on the input rows with their email_key (and on the set of
-- custom systems, for system_rank: watched, a change rebuilds every person), so a run recomputes only the people
-- the inputs' change logs name (`keys`; none: every person). A Marketo activity or a custom consent event landed
-- rebuilds every person too (they keep no change log).
{%- set keys = per_key_keys() %}
with crm as (
    select email_key, 'contact' as crm_type, contact_id as crm_id, has_opted_out_of_email, updated_at
    from {{ ref('stg_salesforce__contacts') }}
    where {{ per_key_match('email_key', keys) }}
    union all
    select email_key, 'lead', lead_id, has_opted_out_of_email, updated_at
    from {{ ref('stg_salesforce__leads') }}
    where {{ per_key_match('email_key', keys) }}
),

-- the CRM's consent is its first record's (a contact before a lead), as int_customers__unified reads it
crm_first as (
    {{ first_row_per("select crm.*, count(*) over (partition by email_key) as records from crm
                      where email_key is not null", 'email_key', 'crm_type, crm_id') }}
),

salesforce as (
    select
        'salesforce' as system, 1 as system_rank, email_key,
        records,
        has_opted_out_of_email as is_email_opted_out,
        case when has_opted_out_of_email then updated_at end as opted_out_at,
        cast(null as {{ instant_type() }}) as consent_changed_at,
        true as is_consent_origin
    from crm_first
),

hubspot_subscriptions as (
    select
        email_key,
        bool_or(is_unsubscribed) as is_unsubscribed,
        max(case when is_unsubscribed then status_changed_at end) as unsubscribed_at,
        max(status_changed_at) as status_changed_at
    from {{ ref('stg_hubspot__subscriptions') }}
    where email_key is not null and {{ per_key_match('email_key', keys) }}
    group by email_key
),

hubspot_contacts as (
    select email_key, count(*) as records
    from {{ ref('stg_hubspot__contacts') }}
    where email_key is not null and {{ per_key_match('email_key', keys) }}
    group by email_key
),

hubspot as (
    select
        'hubspot' as system, 2 as system_rank, coalesce(c.email_key, s.email_key) as email_key,
        coalesce(c.records, 0) as records,
        s.is_unsubscribed as is_email_opted_out,
        s.unsubscribed_at as opted_out_at,
        s.status_changed_at as consent_changed_at,
        true as is_consent_origin
    from hubspot_contacts as c
    full outer join hubspot_subscriptions as s on s.email_key = c.email_key
),

-- Marketo dates an unsubscribe by its Unsubscribe Email activity; without one, the lead's last change bounds it
marketo_unsubscribes as (
    select email_key, max(occurred_at) as unsubscribed_at
    from {{ ref('int_marketo_activities__identified') }}
    where activity_type = 'unsubscribe_email' and email_key is not null and {{ per_key_match('email_key', keys) }}
    group by email_key
),

marketo as (
    select
        'marketo' as system, 3 as system_rank, leads.email_key,
        count(*) as records,
        bool_or(leads.is_unsubscribed) as is_email_opted_out,
        case when bool_or(leads.is_unsubscribed)
             then coalesce(max(u.unsubscribed_at), max(leads.updated_at) filter (where leads.is_unsubscribed))
        end as opted_out_at,
        max(u.unsubscribed_at) as consent_changed_at,
        true as is_consent_origin
    from {{ ref('stg_marketo__leads') }} as leads
    left join marketo_unsubscribes as u on u.email_key = leads.email_key
    where leads.email_key is not null and {{ per_key_match('leads.email_key', keys) }}
    group by leads.email_key
),

cdp as (
    select
        'cdp' as system, 4 as system_rank, email_key,
        count(*) as records,
        not bool_and(has_email_consent) as is_email_opted_out,
        cast(null as {{ instant_type() }}) as opted_out_at,
        cast(null as {{ instant_type() }}) as consent_changed_at,
        false as is_consent_origin
    from {{ ref('stg_cdp__profiles') }}
    where email_key is not null and {{ per_key_match('email_key', keys) }}
    group by email_key
),

-- every `platform: custom` system, named by its integration: people opt out there (its records' email opt-out and
-- its email consent events, macros/custom_people.sql); ranked after the built-ins, in name order
custom_consent as (
    {{ custom_email_consent() }}
),

-- ranked over every custom system, whichever people this run recomputes
custom_ranks as (
    select system, cast(4 + dense_rank() over (order by system) as integer) as system_rank
    from (select distinct system from custom_consent) as systems
),

custom as (
    select
        custom_consent.system, custom_ranks.system_rank, email_key,
        records,
        is_email_opted_out,
        opted_out_at,
        consent_changed_at,
        true as is_consent_origin
    from custom_consent
    inner join custom_ranks on custom_ranks.system = custom_consent.system
    where {{ per_key_match('email_key', keys) }}
),

systems as (
    select * from salesforce
    union all select * from hubspot
    union all select * from marketo
    union all select * from cdp
    union all select * from custom
)

select
    system,
    system_rank,
    email_key,
    {{ mask_id('email_key') }} as customer_token,
    cast(records as bigint) as records,
    is_email_opted_out,
    opted_out_at,
    consent_changed_at,
    is_consent_origin
from systems
