-- Are completed erasure requests honoured downstream? One row per connected system (one that holds or contacted
-- someone: a system not connected yet cannot be said to honour a request). The request
-- log keeps only the SHA-256 of the normalised email, so each system's addresses are hashed the same way to match.
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

held as (
    select 'salesforce' as system, email_key from {{ ref('stg_salesforce__contacts') }}
    union all select 'salesforce', email_key from {{ ref('stg_salesforce__leads') }}
    union all select 'hubspot', email_key from {{ ref('stg_hubspot__contacts') }}
    union all select 'hubspot', email_key from {{ ref('stg_hubspot__subscriptions') }}
    union all select 'marketo', email_key from {{ ref('stg_marketo__leads') }}
    union all select 'cdp', email_key from {{ ref('stg_cdp__profiles') }}
    union all select system, email_key from {{ ref('stg_custom__people') }}
),

custom_touches as (
    {{ custom_touches() }}
),

-- the systems connected: holding someone, or having contacted someone (a send, a Customer Match upload)
systems as (
    select distinct system from held where email_key is not null
    union
    select 'google_ads' from {{ ref('stg_google_ads__audience_uploads') }}
    union
    select 'hubspot' from {{ ref('stg_hubspot__email_events') }} where event_type = 'SENT' and email_key is not null
    union
    select 'marketo' from {{ ref('int_marketo_activities__identified') }}
    where activity_type = 'send_email' and email_key is not null
    union
    select system from custom_touches where email_key is not null
),

-- Only the people a request names are matched: each held record is hashed and kept when its hash is requested (a
-- semi-join on a handful of hashes), so the cost grows with the records, never with records x requests.
held_requested as (
    select distinct system, {{ sha256_hex('email_key') }} as email_sha256
    from held
    where email_key is not null and {{ sha256_hex('email_key') }} in (select email_sha256 from requests)
    union
    select distinct 'google_ads', hashed_email from {{ ref('stg_google_ads__audience_uploads') }}
    where hashed_email in (select email_sha256 from requests)
),

-- each address that was sent to is hashed once (not once per send), and only the requested ones are kept
recipients as (
    select email_key, {{ sha256_hex('email_key') }} as email_sha256
    from (select email_key from {{ ref('stg_hubspot__email_events') }} where event_type = 'SENT'
          union
          select email_key from {{ ref('int_marketo_activities__identified') }} where activity_type = 'send_email')
          as r
    where email_key is not null and {{ sha256_hex('email_key') }} in (select email_sha256 from requests)
),

custom_recipients as (
    select email_key, {{ sha256_hex('email_key') }} as email_sha256
    from (select distinct email_key from custom_touches where email_key is not null) as r
    where {{ sha256_hex('email_key') }} in (select email_sha256 from requests)
),

contacts as (
    select 'hubspot' as system, recipients.email_sha256, events.occurred_at as contacted_at
    from {{ ref('stg_hubspot__email_events') }} as events
    inner join recipients on recipients.email_key = events.email_key
    where events.event_type = 'SENT'
    union all
    select 'marketo', recipients.email_sha256, sends.occurred_at
    from {{ ref('int_marketo_activities__identified') }} as sends
    inner join recipients on recipients.email_key = sends.email_key
    where sends.activity_type = 'send_email'
    union all
    select 'google_ads', hashed_email, uploaded_at from {{ ref('stg_google_ads__audience_uploads') }}
    where hashed_email in (select email_sha256 from requests)
    union all
    select touches.system, custom_recipients.email_sha256, touches.touched_at
    from custom_touches as touches
    inner join custom_recipients on custom_recipients.email_key = touches.email_key
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
