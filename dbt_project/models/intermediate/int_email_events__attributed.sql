-- Email events with the CRM campaign they belong to (HubSpot marketing email -> Salesforce campaign).
select
    events.email_event_id,
    events.email_key,
    events.event_type,
    events.occurred_at,
    events.marketing_email_id,
    emails.campaign_id,
    events._batch_id,
    events._loaded_at
from {{ ref('stg_hubspot__email_events') }} as events
left join {{ ref('stg_hubspot__marketing_emails') }} as emails
    on emails.marketing_email_id = events.marketing_email_id
