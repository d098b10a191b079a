-- Emails sent to people after they opted out in the email platform (by preference centre or unsubscribe link).
with opt_outs as (
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

violations as (
    select sends.email_key, sends.campaign_id, sends.occurred_at
    from {{ ref('int_email_events__attributed') }} as sends
    inner join opt_outs on opt_outs.email_key = sends.email_key
    where sends.event_type = 'SENT'
      and sends.occurred_at > opt_outs.opted_out_at
)

select
    'hubspot' as platform,
    (select count(*) from opt_outs) as people_opted_out,
    count(distinct email_key) as people_sent_after_opt_out,
    count(*) as sends_after_opt_out,
    count(distinct campaign_id) as campaigns_affected,
    {{ example_ids(mask_id('email_key')) }} as example_recipients
from violations
