-- How often each CRM email campaign mails people, recent window against the one before, with the KPI that more
-- mail buys (clicks). Windows are whole weeks back from as_of: recent = weeks 0..W-1, prior = W..2W-1, with
-- W = ceil(metric_window_days / 7).
--   sends_per_contact_week  the campaign's sends / the person-weeks it reached (1.0 for a weekly campaign)
--   over_cap                person-weeks this campaign pushed over `contact_cap_per_week`: the person got more than
--                           the cap from all campaigns that week, and would be within it without this campaign's sends
-- weekly_* are the 2W weekly counts behind the windows, oldest first. The pausable target is the campaign's HubSpot
-- email that sent the most in the recent window.
-- A custom system's email campaigns are campaigns here too (campaign_id = its key '<system>:<id>', as in
-- int_email_sends__contact_weeks): its touches count toward each person's weekly total, its clicks are its
-- engagement events'; it has no pausable target. campaign_key is the campaign's id form in the directory.
-- HubSpot's clicks and sends per campaign and email are counted from int_email_events__instants (events per
-- instant), not from every event.
{%- set cap = var('contact_cap_per_week') %}
{%- set w = ((var('metric_window_days') + 6) // 7) | int %}
with person_weeks as (
    select
        campaign_id,
        weeks_ago,
        campaign_sends,
        case when person_sends > {{ cap }} and person_sends - campaign_sends <= {{ cap }} then 1 else 0 end
            as is_pushed_over_cap
    from {{ ref('int_email_sends__contact_weeks') }}
    where weeks_ago < {{ 2 * w }}
),

events as (
    select campaign_id, marketing_email_id, event_type, {{ weeks_ago('occurred_at') }} as weeks_ago, events
    from {{ ref('int_email_events__instants') }}
    where campaign_id is not null and occurred_at <= {{ as_of() }} and event_type in ('CLICK', 'SENT')
    union all
    select campaign_key, cast(null as {{ text_type() }}), 'CLICK', {{ weeks_ago('occurred_at') }}, 1
    from {{ ref('int_touches__attributed') }}
    where campaign_key is not null and occurred_at <= {{ as_of() }} and event_type = 'click' and channel = 'email'
),

clicks as (
    select campaign_id, weeks_ago, cast(sum(events) as bigint) as clicks
    from events
    where event_type = 'CLICK'
    group by campaign_id, weeks_ago
),

campaign_weeks as (
    select campaigns.campaign_id, weeks.n as weeks_ago
    from (select distinct campaign_id from person_weeks) as campaigns
    cross join ({{ integers(0, 2 * w - 1) }}) as weeks
),

weekly as (
    select
        campaign_weeks.campaign_id,
        campaign_weeks.weeks_ago,
        coalesce({{ integer_sum('person_weeks.campaign_sends') }}, 0) as sends,
        count(person_weeks.campaign_id) as contact_weeks,
        coalesce({{ integer_sum('person_weeks.is_pushed_over_cap') }}, 0) as over_cap,
        coalesce(max(clicks.clicks), 0) as clicks
    from campaign_weeks
    left join person_weeks
        on person_weeks.campaign_id = campaign_weeks.campaign_id and person_weeks.weeks_ago = campaign_weeks.weeks_ago
    left join clicks
        on clicks.campaign_id = campaign_weeks.campaign_id and clicks.weeks_ago = campaign_weeks.weeks_ago
    group by campaign_weeks.campaign_id, campaign_weeks.weeks_ago
),

windows as (
    select
        campaign_id,
        {%- for name in ['sends', 'contact_weeks', 'over_cap', 'clicks'] %}
        {{ integer_sum('case when weeks_ago >= ' ~ w ~ ' then ' ~ name ~ ' else 0 end') }} as {{ name }}_prior,
        {{ integer_sum('case when weeks_ago < ' ~ w ~ ' then ' ~ name ~ ' else 0 end') }} as {{ name }}_recent,
        {{ ordered_array(name, 'weeks_ago desc') }} as weekly_{{ name }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from weekly
    group by campaign_id
),

busiest_email as (
    select campaign_id, marketing_email_id
    from (
        select campaign_id, marketing_email_id,
               row_number() over (partition by campaign_id order by sum(events) desc, marketing_email_id) as rank
        from events
        where event_type = 'SENT' and weeks_ago < {{ w }}
        group by campaign_id, marketing_email_id
    ) as ranked
    where rank = 1
),

rates as (
    select
        windows.*,
        cast(sends_prior as {{ float_type() }}) / nullif(contact_weeks_prior, 0) as sends_per_contact_week_prior,
        cast(sends_recent as {{ float_type() }}) / nullif(contact_weeks_recent, 0) as sends_per_contact_week_recent,
        cast(over_cap_prior as {{ float_type() }}) / nullif(contact_weeks_prior, 0) as share_over_cap_prior,
        cast(over_cap_recent as {{ float_type() }}) / nullif(contact_weeks_recent, 0) as share_over_cap_recent
    from windows
)

select
    rates.campaign_id,
    coalesce(campaigns.campaign_name, directory.campaign_name) as campaign_name,
    coalesce(directory.campaign_key, 'salesforce:' || rates.campaign_id) as campaign_key,
    {{ cap }} as contact_cap_per_week,
    clicks_prior,
    clicks_recent,
    cast(clicks_recent as {{ float_type() }}) / nullif(clicks_prior, 0) as click_ratio,
    sends_prior,
    sends_recent,
    contact_weeks_prior,
    contact_weeks_recent,
    sends_per_contact_week_prior,
    sends_per_contact_week_recent,
    sends_per_contact_week_recent / nullif(sends_per_contact_week_prior, 0) as frequency_ratio,
    over_cap_prior,
    over_cap_recent,
    share_over_cap_prior,
    share_over_cap_recent,
    weekly_sends,
    weekly_contact_weeks,
    weekly_over_cap,
    weekly_clicks,
    case when directory.campaign_key is null then 'hubspot' end as control_platform,
    busiest_email.marketing_email_id as control_campaign_id
from rates
left join {{ ref('stg_salesforce__campaigns') }} as campaigns on campaigns.campaign_id = rates.campaign_id
left join busiest_email on busiest_email.campaign_id = rates.campaign_id
left join {{ ref('int_campaigns__directory') }} as directory
    on directory.campaign_key = rates.campaign_id and directory.platform not in ('salesforce', 'hubspot', 'marketo', 'google_ads')
