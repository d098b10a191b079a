-- Every time a system reached a person, by SHA-256 of the normalised email: HubSpot sends and Customer Match
-- uploads. Privacy checks compare these times with when the person asked to be erased or was deleted elsewhere.
with recipients as (
    select email_key, {{ sha256_hex('email_key') }} as email_sha256
    from (select distinct email_key from {{ ref('stg_hubspot__email_events') }} where email_key is not null) as r
)

select 'hubspot' as system, recipients.email_sha256, events.occurred_at as contacted_at
from {{ ref('stg_hubspot__email_events') }} as events
inner join recipients on recipients.email_key = events.email_key
where events.event_type = 'SENT'
union all
select 'google_ads', hashed_email, uploaded_at from {{ ref('stg_google_ads__audience_uploads') }}
