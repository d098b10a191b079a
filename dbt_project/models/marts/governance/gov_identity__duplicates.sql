-- Duplicate people inside one system: records sharing a normalised email within an object, and CRM people held both
-- as a contact and as an open lead. Autonomous sends and scores treat each record as a different person, so a
-- duplicate is mailed twice, scored twice and counted twice in every audience.
with records as (
    select 'salesforce' as system, 'contacts' as entity, email_key from {{ ref('stg_salesforce__contacts') }}
    union all select 'salesforce', 'leads', email_key from {{ ref('stg_salesforce__leads') }}
    union all select 'hubspot', 'contacts', email_key from {{ ref('stg_hubspot__contacts') }}
    union all select 'marketo', 'leads', email_key from {{ ref('stg_marketo__leads') }}
    union all select 'cdp', 'profiles', email_key from {{ ref('stg_cdp__profiles') }}
    union all select system, 'people', email_key from {{ ref('stg_custom__people') }}  -- each custom system
),

within_entity as (
    select system, entity, email_key, count(*) as copies
    from records
    where email_key is not null
    group by system, entity, email_key
),

contact_and_lead as (
    select 'salesforce' as system, 'contacts~leads' as entity, email_key, count(distinct kind) as copies
    from (
        select email_key, 'contact' as kind from {{ ref('stg_salesforce__contacts') }}
        union all
        select email_key, 'lead' from {{ ref('stg_salesforce__leads') }} where not coalesce(is_converted, false)
    ) as people
    where email_key is not null
    group by email_key
),

grouped as (
    select * from within_entity
    union all select * from contact_and_lead
)

select
    system,
    entity,
    system || '.' || entity as scope,
    count(email_key) as people,
    cast(coalesce(sum(copies) filter (where email_key is not null), 0) as bigint) as records,
    cast(coalesce(sum(copies - 1) filter (where email_key is not null), 0) as bigint) as duplicate_records,
    count(*) filter (where copies > 1) as duplicated_people,
    cast(count(*) filter (where copies > 1) as {{ float_type() }}) / nullif(count(email_key), 0) as duplicate_rate,
    {{ example_ids("case when copies > 1 then " ~ mask_id("email_key") ~ " end") }} as example_ids
from grouped
group by system, entity
