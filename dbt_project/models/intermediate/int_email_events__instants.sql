-- HubSpot email events counted per marketing email, CRM campaign, event type and instant: what the frequency,
-- over-optimisation and anomaly audits count, in a table that does not depend on the run's time (as_of). Counting
-- the events of any span of time from here gives exactly what counting int_email_events__attributed's rows gives,
-- but a send's events share a few instants (a send goes out to its whole audience at once), so this holds far fewer
-- rows than there are events, and a run with no new events keeps it: only the as_of-relative marts rebuild.
{{ config(materialized='table') }}
select
    marketing_email_id,
    campaign_id,
    event_type,
    occurred_at,
    count(*) as events
from {{ ref('int_email_events__attributed') }}
group by marketing_email_id, campaign_id, event_type, occurred_at
