-- A person deleted in one system and still held, or still contacted, by another. Steward records each platform's
-- deletions as tombstones with the SHA-256 of the deleted record's email (ledger.tombstones); the other systems are
-- matched on the same hash. A person the deleting system still holds under another record was merged, not deleted,
-- and is left out. Completed erasure requests are judged by gov_privacy__erasure; this catches the deletions nobody
-- filed a request for (a CRM clean-up, an archived HubSpot contact, a Marketo lead removed) that the other systems
-- never heard of. One row per system a deletion came from and system that may still hold the person.
with deleted as (
    select platform as deleted_in, email_sha256, min(deleted_seen_at) as deleted_at
    from {{ ref('stg_steward__tombstones') }}
    where email_sha256 is not null and platform is not null
    group by platform, email_sha256
),

-- the person records of each system (not HubSpot's subscription statuses, which outlive a deleted contact so an
-- opt-out stays honoured)
records as (
    select distinct 'salesforce' as system, {{ sha256_hex('email_key') }} as email_sha256
    from (select email_key from {{ ref('stg_salesforce__contacts') }}
          union all select email_key from {{ ref('stg_salesforce__leads') }}) as crm
    where email_key is not null
    union
    select distinct 'hubspot', {{ sha256_hex('email_key') }}
    from {{ ref('stg_hubspot__contacts') }}
    where email_key is not null
    union
    select distinct 'marketo', {{ sha256_hex('email_key') }}
    from {{ ref('stg_marketo__leads') }}
    where email_key is not null
),

really_deleted as (
    select deleted.*
    from deleted
    where not exists (select 1 from records where records.system = deleted.deleted_in
                                                and records.email_sha256 = deleted.email_sha256)
),

present as (
    select system, email_sha256 from records
    union
    select system, email_sha256 from {{ ref('int_people__held') }} where system in ('cdp', 'google_ads')
),

-- the systems connected: holding someone, having contacted someone, or having reported a deletion (a system not
-- connected yet cannot be told about a deletion, so it is not judged)
systems as (
    select system from present
    union select system from {{ ref('int_people__contacts') }}
    union select platform from {{ ref('stg_steward__tombstones') }} where platform is not null
),

judged as (
    select
        really_deleted.deleted_in,
        systems.system as still_in,
        really_deleted.email_sha256,
        exists (select 1 from present where present.system = systems.system
                                        and present.email_sha256 = really_deleted.email_sha256) as is_present,
        (select count(*) from {{ ref('int_people__contacts') }} as c
         where c.system = systems.system and c.email_sha256 = really_deleted.email_sha256
           and c.contacted_at > really_deleted.deleted_at) as contacts_after_deletion
    from really_deleted
    cross join systems
    where systems.system <> really_deleted.deleted_in
)

select
    deleted_in,
    still_in,
    deleted_in || '->' || still_in as propagation,
    count(*) as people_deleted,
    count(*) filter (where is_present) as people_still_present,
    cast(sum(contacts_after_deletion) as bigint) as contacts_after_deletion,
    count(*) filter (where is_present or contacts_after_deletion > 0) as people_not_deleted,
    {{ example_ids("case when is_present or contacts_after_deletion > 0 then " ~ mask_id("email_sha256") ~ " end") }}
        as example_ids
from judged
group by deleted_in, still_in
