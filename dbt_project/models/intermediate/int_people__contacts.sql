-- Every time a system reached a person, by SHA-256 of the normalised email: HubSpot and Marketo sends, Customer
-- Match uploads and every touch of a custom system (any channel). Privacy checks compare these times with when the
-- person asked to be erased or was deleted elsewhere.
with custom_touches as (
    {{ custom_touches() }}
),

custom_recipients as (
    select email_key, {{ sha256_hex('email_key') }} as email_sha256
    from (select distinct email_key from custom_touches where email_key is not null) as r
),

recipients as (
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
union all
select touches.system, custom_recipients.email_sha256, touches.touched_at
from custom_touches as touches
inner join custom_recipients on custom_recipients.email_key = touches.email_key
