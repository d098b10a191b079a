-- Emails a marketing-automation platform sent to people after they opted out in that same platform (by preference
-- centre or unsubscribe link): the platform knew, and mailed them anyway. One row for HubSpot, and one for Marketo
-- once it holds leads. Opt-outs the platform never heard of (made in the CRM or the CDP) are
-- gov_consent__channel_purpose's and gov_timeliness__propagation's to judge.
--   HubSpot  an opt-out is an UNSUBSCRIBED subscription status or a STATUSCHANGE event, whichever came first.
--   Marketo  an opt-out is an Unsubscribe Email activity or an unsubscribed lead, whichever came first; a lead's
--            last change is never earlier than its opt-out, so with no activity no send is called late too early.
with hubspot_opt_outs as (
    select email_key, min(opted_out_at) as opted_out_at
    from (
        select email_key, status_changed_at as opted_out_at
        from {{ ref('stg_hubspot__subscriptions') }}
        where is_unsubscribed
        union all
        select email_key, occurred_at
        from {{ ref('stg_hubspot__email_events') }}
        where event_type = 'STATUSCHANGE'
    ) as changes
    where email_key is not null
    group by email_key
),

hubspot_violations as (
    select sends.email_key, sends.campaign_id, sends.occurred_at
    from {{ ref('int_email_events__attributed') }} as sends
    inner join hubspot_opt_outs as opt_outs on opt_outs.email_key = sends.email_key
    where sends.event_type = 'SENT'
      and sends.occurred_at > opt_outs.opted_out_at
),

marketo_opt_outs as (
    select email_key, min(opted_out_at) as opted_out_at
    from (
        select email_key, occurred_at as opted_out_at
        from {{ ref('int_marketo_activities__identified') }}
        where activity_type = 'unsubscribe_email'
        union all
        select email_key, updated_at
        from {{ ref('stg_marketo__leads') }}
        where is_unsubscribed
    ) as changes
    where email_key is not null
    group by email_key
),

marketo_violations as (
    select sends.email_key, sends.smart_campaign_id as campaign_id, sends.occurred_at
    from {{ ref('int_marketo_activities__identified') }} as sends
    inner join marketo_opt_outs as opt_outs on opt_outs.email_key = sends.email_key
    where sends.activity_type = 'send_email'
      and sends.occurred_at > opt_outs.opted_out_at
)

select
    'hubspot' as platform,
    (select count(*) from hubspot_opt_outs) as people_opted_out,
    count(distinct email_key) as people_sent_after_opt_out,
    count(*) as sends_after_opt_out,
    count(distinct campaign_id) as campaigns_affected,
    {{ example_ids(mask_id('email_key')) }} as example_recipients
from hubspot_violations
union all
select
    'marketo',
    (select count(*) from marketo_opt_outs),
    count(distinct email_key),
    count(*),
    count(distinct campaign_id),
    {{ example_ids(mask_id('email_key')) }}
from marketo_violations
having exists (select 1 from {{ ref('stg_marketo__leads') }})
