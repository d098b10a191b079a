-- The people a launch chooses from and the people it would reach: its eligible population and its audience (each a
-- CDP audience tag, or a SQL query returning a column `email`), matched to the unified customer on the normalised
-- email. A query is never pasted here: Steward checks it and runs it itself, confined (integrations/warehouse/confined_sql.py),
-- and keeps the normalised emails it returned in launch_input.audience under the audit id, which this model reads.
-- Everyone a query names is kept, known or not: a person no system holds has no consent on record, which is exactly
-- what the consent check must see.
--   is_selected        in the audience (the consent, suppression and frequency checks read only these)
--   has_email_consent  known to at least one system and withdrawn in none (CRM opt-out, ESP unsubscribe, CDP flag,
--                      a custom system's opt-out)
--   has_ads_consent    the CDP says yes (ad targeting needs consent given, not merely not withdrawn)
--   is_erased / is_erasure_pending  a completed / open erasure request matches the person's email hash
--   is_eligible        in the population the launch chooses from (launch.eligible, default everyone known)
{{ config(materialized='table', schema='launch', enabled=var('launch', none) is not none) }}
{%- set l = var('launch', none) or {} %}
with customers as (
    select * from {{ ref('int_customers__unified') }}
),

profiles as (
    select
        email_key,
        ',' || replace({{ string_list("coalesce(audiences, '')", ',') }}, ' ', '') || ',' as audience_tags,
        bool_and(coalesce(has_ads_consent, false)) as has_ads_consent
    from {{ ref('stg_cdp__profiles') }}
    where email_key is not null
    group by email_key
),

{%- for part in ('audience', 'eligible') %}
{{ part }}_people as (
    {%- if l.get(part ~ '_from_query') %}
    select email_key from {{ source('launch_input', 'audience') }}
    where audit_id = '{{ l.audit_id }}' and part = '{{ part }}'
    {%- elif l.get(part ~ '_segment') %}
    select email_key from profiles where audience_tags like '%,{{ l[part ~ "_segment"] }},%'
    {%- elif part == 'eligible' %}
    select email_key from customers
    {%- else %}
    select cast(null as {{ text_type() }}) as email_key where false
    {%- endif %}
),
{%- endfor %}

requests as (
    select
        email_sha256,
        bool_or(request_status = 'completed') as is_completed,
        bool_or(request_status <> 'completed') as is_open
    from {{ ref('stg_cdp__erasure_requests') }}
    where request_type = 'erasure'
    group by email_sha256
),

population as (
    select
        coalesce(audience.email_key, eligible.email_key) as email_key,
        audience.email_key is not null as is_selected,
        eligible.email_key is not null as is_eligible
    from (select distinct email_key from audience_people where email_key is not null) as audience
    full outer join (select distinct email_key from eligible_people where email_key is not null) as eligible
        on eligible.email_key = audience.email_key
)

select
    -- ids
    {{ mask_id('population.email_key') }} as customer_token,
    customers.crm_person_id,
    -- attributes the bias check groups by
    customers.age_band,
    customers.gender,
    customers.region,
    customers.country,
    -- consent and privacy
    coalesce(customers.is_in_crm or customers.is_in_esp or customers.is_in_cdp or customers.is_in_custom, false)
        and not coalesce(customers.is_opted_out_in_crm, false)
        and not coalesce(customers.is_unsubscribed_in_esp, false)
        and coalesce(customers.has_email_consent_in_cdp, true)
        and not coalesce(customers.is_opted_out_in_custom, false) as has_email_consent,
    coalesce(profiles.has_ads_consent, false) as has_ads_consent,
    coalesce(requests.is_completed, false) as is_erased,
    coalesce(requests.is_open and not requests.is_completed, false) as is_erasure_pending,
    customers.email_key is not null as is_known,
    population.is_selected,
    population.is_eligible
from population
left join customers on customers.email_key = population.email_key
left join profiles on profiles.email_key = population.email_key
left join requests on requests.email_sha256 = {{ sha256_hex('population.email_key') }}
