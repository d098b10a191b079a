-- Every email send with the masked person it went to and its campaign: the heavy part of
-- int_email_sends__contact_weeks that does not depend on the run's time (as_of), kept as a table so a run with no new
-- sends keeps it and only regroups it into weeks. A send with no CRM campaign keeps a null campaign_id (it still
-- counts towards the person's total). Custom systems' email touches (int_touches__attributed) are sends too, matched
-- to the person by address; their campaign is the custom campaign key ('<system>:<id>'). People are masked tokens:
-- each address is masked once and its sends take the token by a join (hashing every send costs more than the rest).
{{ config(materialized='table') }}
with addressed as (
    select email_key, campaign_id, occurred_at
    from {{ ref('int_email_events__attributed') }}
    where event_type = 'SENT'
      and email_key is not null
      and occurred_at is not null
    union all
    select email_key, campaign_key, occurred_at
    from {{ ref('int_touches__attributed') }}
    where event_type = 'send'
      and channel = 'email'
      and email_key is not null
      and occurred_at is not null
),

tokens as (
    select email_key, {{ mask_id('email_key') }} as contact_token
    from (select distinct email_key from addressed) as addresses
)

select tokens.contact_token, addressed.campaign_id, addressed.occurred_at
from addressed
inner join tokens on tokens.email_key = addressed.email_key
