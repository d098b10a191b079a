{{ config(materialized='table') }}
-- Custom systems' touches and engagement events in one stream, each with the campaign, person and channel it
-- belongs to: an engagement event that names only its touch takes the touch's campaign, address and channel. The
-- frequency, over-optimisation and anomaly checks read custom activity from here, as they read HubSpot's from
-- int_email_events__attributed.
--   event_type    send (a touch: a send, an impression, a call), or the engagement's own type: open, click,
--                 unsubscribe, complaint, conversion, bounce
--   campaign_key  '<system>:<campaign id>', the campaign directory's id form for a custom campaign; null when the
--                 row names no campaign
select
    touches.system,
    touches.touch_key as event_key,
    'send' as event_type,
    touches.email_key,
    touches.channel,
    touches.campaign_id,
    case when touches.campaign_id is not null then touches.system || ':' || touches.campaign_id end as campaign_key,
    touches.campaign_name,
    touches.touched_at as occurred_at
from {{ ref('stg_custom__touches') }} as touches
union all
select
    events.system,
    events.event_key,
    lower(trim(events.event_type)),
    coalesce(events.email_key, touches.email_key),
    coalesce(events.channel, touches.channel),
    coalesce(events.campaign_id, touches.campaign_id),
    case when coalesce(events.campaign_id, touches.campaign_id) is not null
        then events.system || ':' || coalesce(events.campaign_id, touches.campaign_id) end,
    touches.campaign_name,
    events.occurred_at
from {{ ref('stg_custom__engagement_events') }} as events
left join {{ ref('stg_custom__touches') }} as touches
    on touches.touch_key = events.system || ':' || events.touch_id
