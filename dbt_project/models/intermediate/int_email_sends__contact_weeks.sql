-- Email sends per person, campaign and week, next to everything that person was sent that week.
-- Weeks count back from as_of (week 0 = the 7 days up to as_of), not calendar weeks: a campaign's weekly send then
-- falls in one week whatever weekday the run is on. A send with no CRM campaign still counts towards the person's
-- total (a send is a send to them) but belongs to no campaign row. People are masked tokens: counting needs no address.
-- The sends come masked and attributed from int_email_sends__addressed (HubSpot's and custom systems' email sends),
-- which does not depend on as_of: this model only buckets them into weeks back from as_of. It stays a view: a
-- governance run reads it once (the frequency mart, whose window filter reaches the sends below the grouping), a
-- pre-launch audit once more (week 0 only), and writing its row per person, campaign and week would cost more.
with sends as (
    select contact_token, campaign_id, {{ weeks_ago('occurred_at') }} as weeks_ago
    from {{ ref('int_email_sends__addressed') }}
    where occurred_at <= {{ as_of() }}
),

-- one grouping of the sends by person, campaign (none too) and week; the person's weekly total adds up its rows,
-- ~3.8M at 1M people, where grouping the 4.4M sends a second time by person and week cost 20% more (and the sends
-- twice, or kept in between)
per_person_campaign as (
    select contact_token, campaign_id, weeks_ago, count(*) as campaign_sends
    from sends
    group by contact_token, campaign_id, weeks_ago
),

per_person as (
    select contact_token, weeks_ago, cast(sum(campaign_sends) as bigint) as person_sends
    from per_person_campaign
    group by contact_token, weeks_ago
),

per_campaign as (
    select contact_token, campaign_id, weeks_ago, campaign_sends
    from per_person_campaign
    where campaign_id is not null
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
