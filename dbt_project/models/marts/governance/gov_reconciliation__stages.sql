-- Does the marketing platform's lifecycle stage agree with what the CRM knows? Each HubSpot contact linked to a
-- Salesforce record gets the CRM's state of that person:
--   customer        a contact whose account has a Closed Won opportunity
--   opportunity     a contact whose account has an open opportunity (and none won)
--   contact         a contact with neither
--   lead_open       a lead not converted and not closed
--   lead_closed     a lead closed as not converted (disqualified)
--   lead_converted  a lead converted (HubSpot should follow the contact it became)
-- and the policy's `lifecycle_stage_requires` says which CRM states justify a stage (customer needs a won deal;
-- a qualified stage must not sit on a disqualified lead). A stage the policy does not list is never a mismatch.
-- Autonomous journeys branch on the stage: a "customer" without a deal gets onboarding mail, a disqualified lead
-- left "salesqualifiedlead" keeps being scored and routed. One row per judged HubSpot stage.
{%- set requires = var('lifecycle_stage_requires') %}
with deals as (
    select
        account_id,
        bool_or(stage = 'Closed Won') as has_won,
        bool_or(stage not like 'Closed%') as has_open
    from {{ ref('stg_salesforce__opportunities') }}
    where account_id is not null
    group by account_id
),

crm as (
    select
        contacts.contact_id as crm_id,
        'contact' as crm_type,
        case when deals.has_won then 'customer' when deals.has_open then 'opportunity' else 'contact' end as crm_state
    from {{ ref('stg_salesforce__contacts') }} as contacts
    left join deals on deals.account_id = contacts.account_id
    union all
    select
        lead_id,
        'lead',
        case when is_converted then 'lead_converted' when lead_status like 'Closed%' then 'lead_closed'
             else 'lead_open' end
    from {{ ref('stg_salesforce__leads') }}
),

rules as (
    {%- if requires %}
    select * from (values
    {%- for stage, states in requires.items() %}{% set outer = loop %}{% for state in states %}
        ('{{ stage }}', '{{ state }}'){% if not (loop.last and outer.last) %},{% endif %}{% endfor %}
    {%- endfor %}
    ) as rules_ (lifecycle_stage, crm_state)
    {%- else %}
    select cast(null as {{ text_type() }}) as lifecycle_stage, cast(null as {{ text_type() }}) as crm_state where false
    {%- endif %}
),

-- A HubSpot contact names its CRM contact and its CRM lead in two columns. One row per (contact, linked record),
-- so the join below is one equi-join on (type, id) that grows with the rows, not their product; an `or` of the two
-- links in the join condition would be a nested loop over contacts x CRM records.
linked as (
    select lifecycle_stage, email_key, 'contact' as crm_type, salesforce_contact_id as crm_id
    from {{ ref('stg_hubspot__contacts') }}
    where salesforce_contact_id is not null and lifecycle_stage in (select lifecycle_stage from rules)
    union all
    select lifecycle_stage, email_key, 'lead', salesforce_lead_id
    from {{ ref('stg_hubspot__contacts') }}
    where salesforce_lead_id is not null and lifecycle_stage in (select lifecycle_stage from rules)
),

compared as (
    select
        hubspot.lifecycle_stage,
        crm.crm_state,
        hubspot.email_key,
        justified.lifecycle_stage is not null as is_justified
    from linked as hubspot
    inner join crm on crm.crm_type = hubspot.crm_type and crm.crm_id = hubspot.crm_id
    left join (select distinct lifecycle_stage, crm_state from rules) as justified
        on justified.lifecycle_stage = hubspot.lifecycle_stage and justified.crm_state = crm.crm_state
)

select
    lifecycle_stage,
    count(*) as people_compared,
    count(*) filter (where not is_justified) as mismatches,
    cast(count(*) filter (where not is_justified) as {{ float_type() }}) / count(*) as mismatch_rate,
    coalesce({{ string_list('case when not is_justified then crm_state end', ', ', distinct=true) }}, '')
        as crm_states_found,
    -- masked only where it is an example: hashing every compared contact's email cost more than the rest (~0.4M at 1M)
    {{ first_examples("case when not is_justified then " ~ mask_id('email_key') ~ " end") }} as example_ids
from compared
group by lifecycle_stage
