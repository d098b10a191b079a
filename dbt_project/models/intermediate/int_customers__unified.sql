{{ config(materialized='incremental', incremental_strategy='per_key', per_key_column='email_key',
          on_schema_change='sync_all_columns',
          per_key_inputs=['stg_salesforce__contacts', 'stg_salesforce__leads', 'stg_hubspot__contacts',
                          'stg_hubspot__subscriptions', 'stg_cdp__profiles', 'stg_custom__people'],
          per_key_watch=['source:custom.consent_events'],
          pre_hook=["{{ create_change_log() }}", "{{ per_key_prepare() }}"],
          post_hook=["{{ log_full_build() }}", "{{ per_key_finish() }}", "{{ record_incremental_state() }}",
                     "{{ prune_change_log() }}"]) }}
-- One row per person across the CRM, the marketing-automation platform, the CDP and every custom system, matched on
-- normalised email. A person only a custom system holds takes that system's person id as crm_person_id (its own
-- crm_person_id when it keeps one), so a decision log that names the custom system's person ids finds them.
-- Per key (macros/per_key.sql): a person's row depends only on the input rows with their email_key, so a run
-- recomputes only the people the inputs' change logs name (`keys`; none: every person).
{%- set keys = per_key_keys() %}
with crm as (
    select contact_id as crm_person_id, 'contact' as crm_type, email_key, account_id,
           age_band, gender, region, country, has_opted_out_of_email, updated_at
    from {{ ref('stg_salesforce__contacts') }}
    where {{ per_key_match('email_key', keys) }}
    union all
    select lead_id, 'lead', email_key, null, age_band, gender, region, null, has_opted_out_of_email, updated_at
    from {{ ref('stg_salesforce__leads') }}
    where {{ per_key_match('email_key', keys) }}
),

crm_people as (
    {{ first_row_per('select * from crm where email_key is not null', 'email_key', 'crm_type, crm_person_id') }}
),

hubspot as (
    select email_key, min(hubspot_contact_id) as hubspot_contact_id, count(*) as hubspot_records
    from {{ ref('stg_hubspot__contacts') }}
    where email_key is not null and {{ per_key_match('email_key', keys) }}
    group by email_key
),

subscriptions as (
    select email_key,
           bool_or(is_unsubscribed) as is_unsubscribed_in_esp,
           max(case when is_unsubscribed then status_changed_at end) as esp_unsubscribed_at,
           max(status_changed_at) as esp_status_changed_at
    from {{ ref('stg_hubspot__subscriptions') }}
    where email_key is not null and {{ per_key_match('email_key', keys) }}
    group by email_key
),

cdp as (
    select email_key, min(profile_id) as profile_id, bool_and(has_email_consent) as has_email_consent_in_cdp,
           max(age_band) as cdp_age_band, max(gender) as cdp_gender, max(region) as cdp_region,
           max(updated_at) as cdp_updated_at
    from {{ ref('stg_cdp__profiles') }}
    where email_key is not null and {{ per_key_match('email_key', keys) }}
    group by email_key
),

-- a custom system's record per person: the first system by name, then the lowest person id (duplicates within a
-- system are gov_identity__duplicates' to report)
custom_people as (
    {{ first_row_per("select system, person_id, coalesce(crm_person_id, person_id) as crm_person_id, email_key,
                             age_band, gender, region, country
                      from " ~ ref('stg_custom__people') ~ " where email_key is not null and "
                            ~ per_key_match('email_key', keys),
                     'email_key', 'system, person_id') }}
),

-- the email consent custom systems hold (records and consent events, macros/custom_people.sql): opted out when
-- any of them says so
custom_consent as (
    select email_key, bool_or(is_email_opted_out) as is_opted_out_in_custom
    from ({{ custom_email_consent() }}) as consent
    where {{ per_key_match('email_key', keys) }}
    group by email_key
),

people as (
    select email_key from crm_people
    union
    select email_key from hubspot
    union
    select email_key from cdp
    union
    select email_key from custom_people
)

select
    -- ids
    people.email_key,
    {{ mask_id('people.email_key') }} as customer_token,
    coalesce(crm_people.crm_person_id, custom_people.crm_person_id) as crm_person_id,
    crm_people.crm_type,
    crm_people.account_id,
    hubspot.hubspot_contact_id,
    cdp.profile_id,
    custom_people.system as custom_system,
    custom_people.person_id as custom_person_id,
    -- attributes an auditor groups by (CRM first, then the CDP, then a custom system)
    coalesce(crm_people.age_band, cdp.cdp_age_band, custom_people.age_band) as age_band,
    coalesce(crm_people.gender, cdp.cdp_gender, custom_people.gender) as gender,
    coalesce(crm_people.region, cdp.cdp_region, custom_people.region) as region,
    coalesce(crm_people.country, custom_people.country) as country,
    -- consent as each system holds it
    crm_people.has_opted_out_of_email as is_opted_out_in_crm,
    subscriptions.is_unsubscribed_in_esp,
    cdp.has_email_consent_in_cdp,
    custom_consent.is_opted_out_in_custom,
    subscriptions.esp_unsubscribed_at,
    -- when each system last changed the person (consent changes propagate within a lag; see gov_timeliness__*)
    crm_people.updated_at as crm_updated_at,
    subscriptions.esp_status_changed_at,
    cdp.cdp_updated_at,
    -- presence
    crm_people.email_key is not null as is_in_crm,
    hubspot.email_key is not null as is_in_esp,
    cdp.email_key is not null as is_in_cdp,
    custom_people.email_key is not null as is_in_custom,
    coalesce(hubspot.hubspot_records, 0) > 1 as has_esp_duplicates
from people
left join crm_people on crm_people.email_key = people.email_key
left join hubspot on hubspot.email_key = people.email_key
left join subscriptions on subscriptions.email_key = people.email_key
left join cdp on cdp.email_key = people.email_key
left join custom_people on custom_people.email_key = people.email_key
left join custom_consent on custom_consent.email_key = people.email_key
