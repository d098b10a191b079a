{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='sync_all_columns',
          meta=dict(incremental_upstream=['int_email_events__attributed', 'stg_hubspot__email_events']),
          pre_hook=["{{ forget_sends_to_replace('recampaigned') }}", "{{ forget_sends_to_replace('new') }}",
                    "{{ forget_sends_to_replace('custom') }}"],
          post_hook=["{{ delete_tombstoned('send_key', 'email_events', source('hubspot', 'email_events'), 'r.id',
                                           key_prefix='hubspot:') }}",
                     "{{ record_campaigns() }}",
                     "{{ record_read_batches(ref('stg_hubspot__email_events'), ref('stg_hubspot__email_events')) }}",
                     "{{ record_incremental_state() }}"]) }}
-- Every email send with the masked person it went to and its campaign: the heavy part of
-- int_email_sends__contact_weeks that does not depend on the run's time (as_of), kept as a table so a run with no new
-- sends keeps it and only regroups it into weeks. A send with no CRM campaign keeps a null campaign_id (it still
-- counts towards the person's total). Custom systems' email touches (int_touches__attributed) are sends too, matched
-- to the person by address; their campaign is the custom campaign key ('<system>:<id>'). People are masked tokens:
-- each address is masked once and its sends take the token by a join (hashing every send costs more than the rest).
-- depends_on: {{ ref('stg_hubspot__marketing_emails') }}  (read by emails_whose_campaign_changed)
-- One row per send, keyed by send_key ('hubspot:<email event id>' or 'custom:<touch key>').
--
-- Incremental on the email events' batches (macros/incremental_events.sql, int_email_sends.sql): a run adds the
-- sends of the events landed since its last build, after forget_sends_to_replace (pre-hook) dropped the rows those
-- events replace, the rows of marketing emails whose campaign changed (read again whole) and every custom send
-- (read again whole: custom touches are a small table rebuilt every run); the post-hooks drop tombstoned events'
-- sends and remember the batches read. A day whose events hold no send adds nothing and reads only the new events.
with events as (
    select *
    from {{ ref('int_email_events__attributed') }} as events
    {%- if reads_only_new_batches() %}
    where {{ unread_batches(ref('int_email_events__attributed'), read_batches_of(ref('stg_hubspot__email_events'))) }}
    {%- set recampaigned = emails_whose_campaign_changed() %}
    {%- if recampaigned %}
       or marketing_email_id in ({{ recampaigned }})
    {%- endif %}
    {%- endif %}
),

addressed as (
    select 'hubspot:' || email_event_id as send_key, marketing_email_id, email_key, campaign_id, occurred_at
    from events
    where event_type = 'SENT'
      and email_key is not null
      and occurred_at is not null
    union all
    select 'custom:' || event_key, cast(null as {{ text_type() }}), email_key, campaign_key, occurred_at
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

select addressed.send_key, addressed.marketing_email_id, tokens.contact_token, addressed.campaign_id, addressed.occurred_at
from addressed
inner join tokens on tokens.email_key = addressed.email_key
