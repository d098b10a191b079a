-- Email sends per person, campaign and week, next to everything that person was sent that week.
-- Weeks count back from as_of (week 0 = the 7 days up to as_of), not calendar weeks: a campaign's weekly send then
-- falls in one week whatever weekday the run is on. A send with no CRM campaign still counts towards the person's
-- total (a send is a send to them) but belongs to no campaign row. People are masked tokens: counting needs no address.
-- Each address is masked once and its sends take the token by a join: hashing every send costs more than the rest.
-- Custom systems' email touches (int_touches__attributed) are sends too, matched to the person by address; their
-- campaign is the custom campaign key ('<system>:<id>'), so it never meets a CRM campaign id.
with addressed as (
    select
        email_key,
        campaign_id,
        {{ weeks_ago('occurred_at') }} as weeks_ago
    from {{ ref('int_email_events__attributed') }}
    where event_type = 'SENT'
      and email_key is not null
      and occurred_at <= {{ as_of() }}
    union all
    select
        email_key,
        campaign_key,
        {{ weeks_ago('occurred_at') }}
    from {{ ref('int_touches__attributed') }}
    where event_type = 'send'
      and channel = 'email'
      and email_key is not null
      and occurred_at <= {{ as_of() }}
),

tokens as (
    select email_key, {{ mask_id('email_key') }} as contact_token
    from (select distinct email_key from addressed) as addresses
),

sends as (
    select tokens.contact_token, addressed.campaign_id, addressed.weeks_ago
    from addressed
    inner join tokens on tokens.email_key = addressed.email_key
),

per_person as (
    select contact_token, weeks_ago, count(*) as person_sends
    from sends
    group by contact_token, weeks_ago
),

per_campaign as (
    select contact_token, campaign_id, weeks_ago, count(*) as campaign_sends
    from sends
    where campaign_id is not null
    group by contact_token, campaign_id, weeks_ago
)

select
    per_campaign.contact_token || '|' || per_campaign.campaign_id || '|' || cast(per_campaign.weeks_ago as {{ text_type() }})
        as contact_week_id,
    per_campaign.contact_token,
    per_campaign.campaign_id,
    per_campaign.weeks_ago,
    per_campaign.campaign_sends,
    per_person.person_sends
from per_campaign
inner join per_person
    on per_person.contact_token = per_campaign.contact_token and per_person.weeks_ago = per_campaign.weeks_ago
