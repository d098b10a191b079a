-- The ids one system keeps of another system's record: HubSpot's and Marketo's Salesforce contact and lead ids, the
-- CDP's and every custom system's CRM person id. A link to a record that does not exist (deleted, merged, another org) or to a record of a different
-- person (its email differs) makes every sync along it write to the wrong person. One row per kind of link.
with crm as (
    select contact_id as crm_id, 'contact' as crm_type, email_key from {{ ref('stg_salesforce__contacts') }}
    union all
    select lead_id, 'lead', email_key from {{ ref('stg_salesforce__leads') }}
),

links as (
    select 'hubspot.salesforcecontactid' as link, 'hubspot' as system, hubspot_contact_id as record_id,
           email_key, salesforce_contact_id as linked_id, 'contact' as linked_type
    from {{ ref('stg_hubspot__contacts') }}
    where salesforce_contact_id is not null
    union all
    select 'hubspot.salesforceleadid', 'hubspot', hubspot_contact_id, email_key, salesforce_lead_id, 'lead'
    from {{ ref('stg_hubspot__contacts') }}
    where salesforce_lead_id is not null
    union all
    select 'marketo.sfdcContactId', 'marketo', marketo_lead_id, email_key, salesforce_contact_id, 'contact'
    from {{ ref('stg_marketo__leads') }}
    where salesforce_contact_id is not null
    union all
    select 'marketo.sfdcLeadId', 'marketo', marketo_lead_id, email_key, salesforce_lead_id, 'lead'
    from {{ ref('stg_marketo__leads') }}
    where salesforce_lead_id is not null
    union all
    select 'cdp.user_id', 'cdp', profile_id, email_key, crm_person_id, null
    from {{ ref('stg_cdp__profiles') }}
    where crm_person_id is not null
    union all
    select system || '.crm_person_id', system, person_id, email_key, crm_person_id, null
    from {{ ref('stg_custom__people') }}
    where crm_person_id is not null
),

judged as (
    select
        links.link,
        links.system,
        links.record_id,
        crm.crm_id is null as is_broken,
        crm.crm_id is not null and links.email_key is distinct from crm.email_key as is_other_person
    from links
    left join crm on crm.crm_id = links.linked_id and (links.linked_type is null or crm.crm_type = links.linked_type)
)

select
    link,
    system,
    count(*) as links,
    count(*) filter (where is_broken) as broken_links,
    count(*) filter (where is_other_person) as links_to_another_person,
    count(*) filter (where is_broken or is_other_person) as bad_links,
    cast(count(*) filter (where is_broken or is_other_person) as {{ float_type() }}) / count(*) as bad_link_rate,
    {{ first_examples("case when is_broken or is_other_person then " ~ mask_id("record_id") ~ " end") }} as example_ids
from judged
-- a CRM not connected yet breaks no link (asked of its tables, not of `crm`: a second reader of that CTE would have it
-- written out whole, ~1M rows, before the join reads it)
where exists (select 1 from {{ ref('stg_salesforce__contacts') }})
    or exists (select 1 from {{ ref('stg_salesforce__leads') }})
group by link, system
