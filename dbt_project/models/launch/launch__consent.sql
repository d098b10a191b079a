-- Consent coverage of the launch audience, one row per channel the launch uses (email, ads).
{{ config(materialized='table', schema='launch', enabled=var('launch', none) is not none) }}
{%- set l = var('launch', none) or {} %}
{%- set channels = l.get('channels') or [] %}
with audience as (
    select * from {{ ref('launch__audience') }} where is_selected
),

judged as (
    {%- for channel in channels %}
    select '{{ channel }}' as channel, customer_token,
           {{ 'has_email_consent' if channel == 'email' else 'has_ads_consent' }} as has_consent
    from audience
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not channels %}
    select cast(null as {{ text_type() }}) as channel, cast(null as {{ text_type() }}) as customer_token, false as has_consent where false
    {%- endif %}
)

select
    channel,
    count(*) as audience_people,
    count(*) filter (where has_consent) as people_with_consent,
    count(*) filter (where not has_consent) as people_without_consent,
    cast(count(*) filter (where has_consent) as {{ float_type() }}) / nullif(count(*), 0) as consent_coverage,
    {{ example_ids("case when not has_consent then customer_token end") }} as example_ids
from judged
group by channel
