-- A person deleted in one system and still held, or still contacted, by another. Steward records each platform's
-- deletions as tombstones with the SHA-256 of the deleted record's email (ledger.tombstones); the other systems are
-- matched on the same hash. A person the deleting system still holds under another record was merged, not deleted,
-- and is left out. Completed erasure requests are judged by gov_privacy__erasure; this catches the deletions nobody
-- filed a request for (a CRM clean-up, an archived HubSpot contact, a Marketo lead removed) that the other systems
-- never heard of. Custom systems (`platform: custom`) are judged like the built-ins: their people records are held,
-- their touches are contacts (int_people__contacts; Customer Match uploads are read as they are). One row per system a
-- deletion came from and system that may still hold the person.
with deleted as (
    select platform as deleted_in, email_sha256, min(deleted_seen_at) as deleted_at
    from {{ ref('stg_steward__tombstones') }}
    where email_sha256 is not null and platform is not null
    group by platform, email_sha256
),

-- every system holding person records (int_people__systems' records), by name and rank
ranks as (
    select distinct system, system_rank
    from {{ ref('int_people__systems') }}
    where records > 0
),

-- the systems whose records make a deletion elsewhere a merge (not HubSpot's subscription statuses, which outlive a
-- deleted contact so an opt-out stays honoured; not the CDP, whose profiles are only held below)
held_systems as (
    select system, system_rank from ranks where system <> 'cdp'
),

-- Only the deleted people are matched: int_people__presence keeps each person's email hash and a mask of the
-- systems holding them (per key: a daily run hashes only the changed people), and a person is kept when their hash
-- was deleted somewhere (a semi-join on the tombstones' hashes), so the cost grows with the people, never with
-- people x deletions.
deleted_people as (
    select email_sha256, held
    from {{ ref('int_people__presence') }}
    where held <> 0 and email_sha256 in (select email_sha256 from deleted)
),

records as (
    select distinct held_systems.system, deleted_people.email_sha256
    from deleted_people
    inner join held_systems on {{ has_rank('deleted_people.held', 'held_systems.system_rank') }}
),

really_deleted as (
    select deleted.*
    from deleted
    left join records on records.system = deleted.deleted_in and records.email_sha256 = deleted.email_sha256
    where records.system is null
),

-- still held: a record elsewhere, a CDP profile (presence's mask), a Customer Match upload of the hash
present as (
    select system, email_sha256 from records
    union
    select ranks.system, deleted_people.email_sha256
    from deleted_people
    inner join ranks on ranks.system = 'cdp' and {{ has_rank('deleted_people.held', 'ranks.system_rank') }}
    where deleted_people.email_sha256 in (select email_sha256 from really_deleted)
    union
    select 'google_ads', hashed_email from {{ ref('stg_google_ads__audience_uploads') }}
    where hashed_email in (select email_sha256 from really_deleted)
),

-- the systems connected: holding someone, having contacted someone, or having reported a deletion (a system not
-- connected yet cannot be told about a deletion, so it is not judged). int_people__contacts keys every contact by
-- email (a distinct over its system column, never a union of whole event tables).
systems as (
    select system from ranks
    union select 'google_ads' where exists (select 1 from {{ ref('stg_google_ads__audience_uploads') }})
    union select system from {{ ref('int_people__contacts') }}
    union select platform from {{ ref('stg_steward__tombstones') }} where platform is not null
),

-- the deleted people's contacts: a semi-join on their hashes, whether or not a system still holds them
contacts as (
    select system, email_sha256, contacted_at
    from {{ ref('int_people__contacts') }}
    where email_sha256 in (select email_sha256 from really_deleted)
    union all
    select 'google_ads', hashed_email, uploaded_at from {{ ref('stg_google_ads__audience_uploads') }}
    where hashed_email in (select email_sha256 from really_deleted)
),

-- one row per person deleted in one system and each other connected system
pairs as (
    select
        really_deleted.*,
        systems.system as still_in,
        row_number() over (order by really_deleted.deleted_in, really_deleted.email_sha256, systems.system) as pair
    from really_deleted
    cross join systems
    where systems.system <> really_deleted.deleted_in
),

judged as (
    select
        pairs.deleted_in,
        pairs.still_in,
        pairs.email_sha256,
        present.system is not null as is_present,
        count(contacts.contacted_at) as contacts_after_deletion
    from pairs
    left join present on present.system = pairs.still_in and present.email_sha256 = pairs.email_sha256
    left join contacts
        on contacts.system = pairs.still_in and contacts.email_sha256 = pairs.email_sha256
       and contacts.contacted_at > pairs.deleted_at
    group by pairs.pair, pairs.deleted_in, pairs.still_in, pairs.email_sha256, present.system
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
