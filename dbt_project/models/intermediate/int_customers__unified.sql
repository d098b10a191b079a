-- One row per person across the CRM, the marketing-automation platform and the CDP, matched on normalised email.
with crm as (
    select contact_id as crm_person_id, 'contact' as crm_type, email_key, account_id,
           age_band, gender, region, country, has_opted_out_of_email, updated_at
    from {{ ref('stg_salesforce__contacts') }}
    union all
    select lead_id, 'lead', email_key, null, age_band, gender, region, null, has_opted_out_of_email, updated_at
    from {{ ref('stg_salesforce__leads') }}
),

crm_people as (
    {{ first_row_per('select * from crm where email_key is not null', 'email_key', 'crm_type, crm_person_id') }}
),

hubspot as (
    select email_key, min(hubspot_contact_id) as hubspot_contact_id, count(*) as hubspot_records
    from {{ ref('stg_hubspot__contacts') }}
    where email_key is not null
    group by email_key
),

subscriptions as (
    select email_key,
           bool_or(is_unsubscribed) as is_unsubscribed_in_esp,
           max(case when is_unsubscribed then status_changed_at end) as esp_unsubscribed_at,
           max(status_changed_at) as esp_status_changed_at
    from {{ ref('stg_hubspot__subscriptions') }}
    where email_key is not null
    group by email_key
),

cdp as (
    select email_key, min(profile_id) as profile_id, bool_and(has_email_consent) as has_email_consent_in_cdp,
           max(age_band) as cdp_age_band, max(gender) as cdp_gender, max(region) as cdp_region,
           max(updated_at) as cdp_updated_at
    from {{ ref('stg_cdp__profiles') }}
    where email_key is not null
    group by email_key
),

people as (
    select email_key from crm_people
    union
    select email_key from hubspot
    union
    select email_key from cdp
)

select
    -- ids
    people.email_key,
    {{ mask_id('people.email_key') }} as customer_token,
    crm_people.crm_person_id,
    crm_people.crm_type,
    crm_people.account_id,
    hubspot.hubspot_contact_id,
    cdp.profile_id,
    -- attributes an auditor groups by (CRM first, CDP as fallback)
    coalesce(crm_people.age_band, cdp.cdp_age_band) as age_band,
    coalesce(crm_people.gender, cdp.cdp_gender) as gender,
    coalesce(crm_people.region, cdp.cdp_region) as region,
    crm_people.country,
    -- consent as each system holds it
    crm_people.has_opted_out_of_email as is_opted_out_in_crm,
    subscriptions.is_unsubscribed_in_esp,
    cdp.has_email_consent_in_cdp,
    subscriptions.esp_unsubscribed_at,
    -- when each system last changed the person (consent changes propagate within a lag; see gov_timeliness__*)
    crm_people.updated_at as crm_updated_at,
    subscriptions.esp_status_changed_at,
    cdp.cdp_updated_at,
    -- presence
    crm_people.email_key is not null as is_in_crm,
    hubspot.email_key is not null as is_in_esp,
    cdp.email_key is not null as is_in_cdp,
    coalesce(hubspot.hubspot_records, 0) > 1 as has_esp_duplicates
from people
left join crm_people on crm_people.email_key = people.email_key
left join hubspot on hubspot.email_key = people.email_key
left join subscriptions on subscriptions.email_key = people.email_key
left join cdp on cdp.email_key = people.email_key
