-- Are completed erasure requests honoured downstream? One row per connected system (one that holds or contacted
-- someone: a system not connected yet cannot be said to honour a request). The request
-- log keeps only the SHA-256 of the normalised email, so people and contacts are matched on the same hash, which the
-- per-person models int_people__presence and int_people__contacts keep (a daily run hashes only the changed people).
-- A request is not honoured in a system that still holds the person, or that contacted them after they asked.
-- Requests come from the CDP's log and from every custom system's (stg_custom__erasure_requests); custom systems are
-- judged like the built-ins: their people records are held, their touches (any channel) are contacts.
with requests as (
    select request_id, email_sha256, requested_at
    from {{ ref('stg_cdp__erasure_requests') }}
    where request_status = 'completed' and request_type = 'erasure'
    union all
    select request_key, email_sha256, requested_at
    from {{ ref('stg_custom__erasure_requests') }}
    where request_status = 'completed' and request_type = 'erasure'
),

-- The requested people: int_people__presence keeps each person's email hash and a mask of the systems holding a
-- record of them (per key: a daily run hashes only the changed people), so a person is found by a semi-join on the
-- requests' hashes, without hashing every held record on every run. Nobody holding them: no row here.
requested_people as (
    select email_sha256, held, listed
    from {{ ref('int_people__presence') }}
    where email_sha256 in (select email_sha256 from requests)
),

-- every system int_people__systems knows (custom ones by name and rank) and whether it holds someone: a person
-- record, or for HubSpot also a subscription status without a contact (they outlive a deleted contact, and the
-- person is still held)
ranks as (
    select system, system_rank, bool_or(records > 0) or system = 'hubspot' as holds
    from {{ ref('int_people__systems') }}
    group by system, system_rank
),

-- the systems holding a requested person (presence's masks: a record, or any HubSpot row), and Customer Match
-- uploads of their hash
held_requested as (
    select ranks.system, requested_people.email_sha256
    from requested_people
    inner join ranks on {{ has_rank("case when ranks.system = 'hubspot' then requested_people.listed"
                                    ~ " else requested_people.held end", 'ranks.system_rank') }}
    union
    select 'google_ads', hashed_email from {{ ref('stg_google_ads__audience_uploads') }}
    where hashed_email in (select email_sha256 from requests)
),

-- the systems connected: holding someone, or having contacted someone (a send, a touch, a Customer Match upload).
-- int_people__contacts keys every contact by email (a distinct over its low-cardinality system column, never a
-- union of whole event tables).
systems as (
    select system from ranks where holds
    union
    select 'google_ads' where exists (select 1 from {{ ref('stg_google_ads__audience_uploads') }})
    union
    select system from {{ ref('int_people__contacts') }}
),

-- each requested person's contacts: a semi-join of the contacts on the requests' hashes, whether or not a system
-- still holds the person
contacts as (
    select system, email_sha256, contacted_at
    from {{ ref('int_people__contacts') }}
    where email_sha256 in (select email_sha256 from requests)
    union all
    select 'google_ads', hashed_email, uploaded_at from {{ ref('stg_google_ads__audience_uploads') }}
    where hashed_email in (select email_sha256 from requests)
),

-- one row per connected system and completed request
pairs as (
    select systems.system, requests.*, row_number() over (order by systems.system, requests.request_id) as pair
    from systems
    cross join requests
),

judged as (
    select
        pairs.system,
        pairs.request_id,
        held_requested.system is not null as is_present,
        count(contacts.contacted_at) as contacts_after_request
    from pairs
    left join held_requested
        on held_requested.system = pairs.system and held_requested.email_sha256 = pairs.email_sha256
    left join contacts
        on contacts.system = pairs.system and contacts.email_sha256 = pairs.email_sha256
       and contacts.contacted_at > pairs.requested_at
    group by pairs.pair, pairs.system, pairs.request_id, held_requested.system
)

select
    systems.system,
    count(judged.request_id) as requests_completed,
    count(*) filter (where judged.is_present) as people_still_present,
    cast(coalesce(sum(judged.contacts_after_request), 0) as bigint) as contacts_after_request,
    count(*) filter (where judged.is_present or judged.contacts_after_request > 0) as people_not_erased,
    {{ example_ids("case when judged.is_present or judged.contacts_after_request > 0 then judged.request_id end") }}
        as example_requests
from systems
left join judged on judged.system = systems.system
group by systems.system
