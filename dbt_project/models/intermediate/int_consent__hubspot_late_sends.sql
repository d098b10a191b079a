{{ config(materialized='incremental', incremental_strategy='per_key', per_key_column='email_key',
          on_schema_change='sync_all_columns',
          per_key_inputs=['stg_hubspot__email_events', 'stg_hubspot__subscriptions'],
          pre_hook=["{{ create_change_log() }}", "{{ per_key_prepare() }}"],
          post_hook=["{{ log_full_build() }}", "{{ per_key_finish() }}", "{{ record_incremental_state() }}",
                     "{{ prune_change_log() }}"]) }}
-- The HubSpot half of gov_consent__sends_after_opt_out, per person: everyone who opted out in HubSpot (an
-- UNSUBSCRIBED subscription status or a STATUSCHANGE event, whichever came first), with the sends HubSpot made to
-- them after it, per marketing email (the mart takes each email's CRM campaign as it is at the run). A person with
-- no late send has one row with no marketing email and late_sends 0, so the mart counts the people who opted out
-- from here too. The mart only sums these rows: joining ~4M sends to the opt-outs at every run cost more than the
-- rest of it.
-- Per key (macros/per_key.sql): a person's rows depend only on their own email events and subscriptions, so a run
-- recomputes only the people the two change logs name (the email events log the recipients of SENT and
-- STATUSCHANGE events: a day of opens and clicks recomputes nobody).
{%- set keys = per_key_keys() %}
with events as (
    select email_key, event_type, occurred_at, marketing_email_id
    from {{ ref('stg_hubspot__email_events') }}
    where event_type in ('SENT', 'STATUSCHANGE') and email_key is not null
      and {{ per_key_match('email_key', keys) }}
),

opt_outs as (
    select email_key, min(opted_out_at) as opted_out_at
    from (
        select email_key, status_changed_at as opted_out_at
        from {{ ref('stg_hubspot__subscriptions') }}
        where is_unsubscribed and email_key is not null and {{ per_key_match('email_key', keys) }}
        union all
        select email_key, occurred_at
        from events
        where event_type = 'STATUSCHANGE'
    ) as changes
    group by email_key
),

late as (
    select sends.email_key, sends.marketing_email_id, count(*) as late_sends
    from events as sends
    inner join opt_outs on opt_outs.email_key = sends.email_key
    where sends.event_type = 'SENT'
      and sends.occurred_at > opt_outs.opted_out_at
    group by sends.email_key, sends.marketing_email_id
)

select
    opt_outs.email_key,
    opt_outs.opted_out_at,
    late.marketing_email_id,
    coalesce(late.late_sends, 0) as late_sends
from opt_outs
left join late on late.email_key = opt_outs.email_key
