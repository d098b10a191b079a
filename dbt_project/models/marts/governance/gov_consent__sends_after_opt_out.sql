-- Emails a marketing-automation platform sent to people after they opted out in that same platform (by preference
-- centre or unsubscribe link): the platform knew, and mailed them anyway. One row for HubSpot, and one for Marketo
-- once it holds leads. Opt-outs the platform never heard of (made in the CRM or the CDP) are
-- gov_consent__channel_purpose's and gov_timeliness__propagation's to judge.
--   HubSpot  an opt-out is an UNSUBSCRIBED subscription status or a STATUSCHANGE event, whichever came first.
--   Marketo  an opt-out is an Unsubscribe Email activity or an unsubscribed lead, whichever came first; a lead's
--            last change is never earlier than its opt-out, so with no activity no send is called late too early.
-- One row more per custom system (platform: custom) that holds touches: its touches to people after they opted out
-- of that channel in ANY system Steward reads. A custom system sends but may never hear of an opt-out made in the
-- CRM or another platform, so here the whole stack's opt-outs count, each dated by its earliest known time:
--   email    the built-in opt-outs above, every system's dated email opt-out (int_people__systems) and custom
--            people's own opt-out dates
--   any      a custom consent event withdrawing that channel (email, sms, ...)
--   people_opted_out  for a custom system: the people it touched who opted out of a channel it touched them on
--   opted_out_in      where the opt-outs were made: the platform itself, or 'any system' for a custom system
-- HubSpot's opt-outs and late sends come per person from int_consent__hubspot_late_sends (incremental per person: a
-- run recomputes only the people whose sends or subscriptions changed); each late send's campaign is its marketing
-- email's as the run finds it.
with hubspot_people as (
    select email_key, opted_out_at, marketing_email_id, late_sends
    from {{ ref('int_consent__hubspot_late_sends') }}
),

hubspot_opt_outs as (
    select email_key, min(opted_out_at) as opted_out_at
    from hubspot_people
    group by email_key
),

hubspot_violations as (
    select late.email_key, emails.campaign_id, late.late_sends
    from hubspot_people as late
    left join {{ ref('stg_hubspot__marketing_emails') }} as emails
        on emails.marketing_email_id = late.marketing_email_id
    where late.late_sends > 0
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
),

-- the people custom systems touched: only their opt-outs are looked up (none at all in a stack without custom touches)
touched as (
    select distinct email_key
    from {{ ref('stg_custom__touches') }}
    where email_key is not null
),

-- every dated opt-out per person and channel, earliest first: one equi-join per touch, whatever system it came from
any_opt_outs as (
    select email_key, channel, min(opted_out_at) as opted_out_at
    from (
        select email_key, 'email' as channel, opted_out_at from hubspot_opt_outs
        union all
        select email_key, 'email', opted_out_at from marketo_opt_outs
        union all
        select email_key, 'email', opted_out_at
        from {{ ref('int_people__systems') }}
        where is_email_opted_out
        union all
        select email_key, 'email', opted_out_at
        from {{ ref('stg_custom__people') }}
        where is_email_opted_out
        union all
        select email_key, channel, occurred_at
        from {{ ref('stg_custom__consent_events') }}
        where is_withdrawn
    ) as changes
    where email_key is not null and opted_out_at is not null and channel is not null
      and email_key in (select email_key from touched)
    group by email_key, channel
),

custom_touches as (
    select
        touches.system,
        touches.email_key,
        touches.campaign_id,
        touches.touched_at,
        opt_outs.opted_out_at
    from {{ ref('stg_custom__touches') }} as touches
    left join any_opt_outs as opt_outs
        on opt_outs.email_key = touches.email_key and opt_outs.channel = touches.channel
),

custom_systems as (
    select
        system,
        count(distinct case when opted_out_at is not null then email_key end) as people_opted_out,
        count(distinct case when touched_at > opted_out_at then email_key end) as people_sent_after_opt_out,
        count(case when touched_at > opted_out_at then 1 end) as sends_after_opt_out,
        count(distinct case when touched_at > opted_out_at then campaign_id end) as campaigns_affected,
        {{ example_ids(mask_id("case when touched_at > opted_out_at then email_key end")) }} as example_recipients,
        {{ example_ids("case when touched_at > opted_out_at then system || ':' || campaign_id end") }}
            as example_campaigns
    from custom_touches
    group by system
)

select
    'hubspot' as platform,
    (select count(*) from hubspot_opt_outs) as people_opted_out,
    count(distinct email_key) as people_sent_after_opt_out,
    cast(coalesce(sum(late_sends), 0) as bigint) as sends_after_opt_out,
    count(distinct campaign_id) as campaigns_affected,
    {{ example_ids(mask_id('email_key')) }} as example_recipients,
    {{ example_ids("'salesforce:' || campaign_id") }} as example_campaigns,
    'hubspot' as opted_out_in
from hubspot_violations
union all
select
    'marketo',
    (select count(*) from marketo_opt_outs),
    count(distinct email_key),
    count(*),
    count(distinct campaign_id),
    {{ example_ids(mask_id('email_key')) }},
    {{ example_ids("'marketo:' || campaign_id") }},
    'marketo'
from marketo_violations
having exists (select 1 from {{ ref('stg_marketo__leads') }})
union all
select
    system,
    people_opted_out,
    people_sent_after_opt_out,
    sends_after_opt_out,
    campaigns_affected,
    example_recipients,
    example_campaigns,
    'any system'
from custom_systems
