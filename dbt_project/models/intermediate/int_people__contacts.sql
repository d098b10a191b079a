-- Every time a system reached a person, by SHA-256 of the normalised email: HubSpot and Marketo sends and Customer
-- Match uploads. Privacy checks compare these times with when the person asked to be erased or was deleted elsewhere.
with recipients as (
    select email_key, {{ sha256_hex('email_key') }} as email_sha256
    from (select email_key from {{ ref('stg_hubspot__email_events') }} where event_type = 'SENT'
          union
          select email_key from {{ ref('int_marketo_activities__identified') }} where activity_type = 'send_email')
          as r
    where email_key is not null
)

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
