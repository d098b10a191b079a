-- Duplicate people inside one system: records sharing a normalised email within an object, and CRM people held both
-- as a contact and as an open lead. Autonomous sends and scores treat each record as a different person, so a
-- duplicate is mailed twice, scored twice and counted twice in every audience.
-- The CRM's contacts and leads are grouped by email together, once for its three scopes; the other systems' records
-- per person are int_people__systems' (a per-key model a daily run recomputes only for the people it touched).
-- Grouping the union of every table by (system, entity, email) on every run hashed ~3M rows, then the CRM's again.
with salesforce as (
    select
        email_key,
        count(*) filter (where kind = 'contact') as contacts,
        count(*) filter (where kind = 'lead') as leads,
        count(*) filter (where kind = 'lead' and not coalesce(is_converted, false)) as open_leads
    from (
        select email_key, 'contact' as kind, false as is_converted from {{ ref('stg_salesforce__contacts') }}
        union all
        select email_key, 'lead', is_converted from {{ ref('stg_salesforce__leads') }}
    ) as people
    where email_key is not null
    group by email_key
),

grouped as (
    select 'salesforce' as system, 'contacts' as entity, email_key, contacts as copies
    from salesforce
    where contacts > 0
    union all
    select 'salesforce', 'leads', email_key, leads
    from salesforce
    where leads > 0
    union all
    -- a person held both as a contact and as an open lead is two copies
    select 'salesforce', 'contacts~leads', email_key,
           cast(case when contacts > 0 then 1 else 0 end + case when open_leads > 0 then 1 else 0 end as bigint)
    from salesforce
    where contacts > 0 or open_leads > 0
    union all
    -- the other systems' records per person, as int_people__systems counts them (records = 0: a consent status only)
    select
        system,
        case system when 'hubspot' then 'contacts' when 'marketo' then 'leads' when 'cdp' then 'profiles'
                    else 'people' end,  -- each custom system
        email_key,
        records
    from {{ ref('int_people__systems') }}
    where system <> 'salesforce' and records > 0
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
    {{ first_examples("case when copies > 1 then " ~ mask_id("email_key") ~ " end") }} as example_ids
from grouped
group by system, entity
