-- Contact frequency the launch would add to what its audience already receives: for email, each person's sends in
-- the last 7 days (all campaigns) plus the launch's planned emails per week, against `contact_cap_per_week`.
-- No row when the launch sends no email.
{{ config(materialized='table', schema='launch', enabled=var('launch', none) is not none) }}
{%- set l = var('launch', none) or {} %}
{%- set planned = l.get('emails_per_week') or 0 %}
{%- set cap = var('contact_cap_per_week') %}
with audience as (
    select customer_token from {{ ref('launch__audience') }}
    where is_selected{% if 'email' not in (l.get('channels') or []) %} and false{% endif %}
),

recent as (
    select contact_token, max(person_sends) as sends_last_week
    from {{ ref('int_email_sends__contact_weeks') }}
    where weeks_ago = 0
    group by contact_token
),

people as (
    select audience.customer_token, coalesce(recent.sends_last_week, 0) as sends_last_week,
           coalesce(recent.sends_last_week, 0) + {{ planned }} as sends_with_launch
    from audience
    left join recent on recent.contact_token = audience.customer_token
)

select
    'email' as channel,
    {{ cap }} as contact_cap_per_week,
    {{ planned }} as planned_per_week,
    count(*) as audience_people,
    {{ to_float('avg(sends_last_week)') }} as avg_sends_last_week,
    max(sends_last_week) as max_sends_last_week,
    count(*) filter (where sends_with_launch > {{ cap }}) as people_over_cap,
    cast(count(*) filter (where sends_with_launch > {{ cap }}) as {{ float_type() }}) / nullif(count(*), 0) as share_over_cap,
    {{ example_ids("case when sends_with_launch > " ~ cap ~ " then customer_token end") }} as example_ids
from people
having count(*) > 0
