-- Codes the policy does not know (codings: attributes, decision_types, channels), one row per system, entity, column
-- and code, with how many rows hold it. Such rows landed (contracts no longer hard-code a team's codes); a bias
-- audit would compare a group it cannot name, so they are reported instead (data_quality.unknown_codes judges the
-- per-column summary, gov_data_quality__unknown_codes). Null is missing, not a code: never counted here.
-- Codes longer than 24 characters or holding an '@' are shown masked: a mis-mapped column may hold personal data.
-- The list below is the data: (platform, entity, staged model, system expression, column, coding); an attribute
-- column is judged only when the policy lists that attribute.
{%- set codings = var('codings') %}
{%- set people = ['age_band', 'gender', 'region', 'country'] %}
{%- set judged = [] %}
{%- for platform, entity, model, system, columns in [
    ('salesforce', 'contacts', 'stg_salesforce__contacts', "'salesforce'", people),
    ('salesforce', 'leads', 'stg_salesforce__leads', "'salesforce'", ['age_band', 'gender', 'region']),
    ('cdp', 'profiles', 'stg_cdp__profiles', "'cdp'", ['age_band', 'gender', 'region']),
    ('custom', 'people', 'stg_custom__people', 'system', people),
] %}
    {%- for column in columns if allowed_codes(column) is not none %}
        {%- do judged.append((platform, entity, model, system, column, 'attribute', allowed_codes(column))) %}
    {%- endfor %}
{%- endfor %}
{%- set decision_types = (codings.get('decision_types') or {}) | list %}
{%- set channels = codings.get('channels') or [] %}
{%- do judged.extend([
    ('decisions', 'ai_decisions', 'stg_decisions__ai_decisions', "'decisions'", 'decision_type', 'decision_type',
     decision_types),
    ('custom', 'decisions', 'stg_custom__decisions', 'system', 'decision_type', 'decision_type', decision_types),
    ('custom', 'touches', 'stg_custom__touches', 'system', 'channel', 'channel', channels),
    ('custom', 'consent_events', 'stg_custom__consent_events', 'system', 'channel', 'channel', channels),
    ('custom', 'engagement_events', 'stg_custom__engagement_events', 'system', 'channel', 'channel', channels),
    ('custom', 'campaigns', 'stg_custom__campaigns', 'system', 'channel', 'channel', channels),
]) %}
{%- set sensitive = codings.get('sensitive') or [] %}

with codes as (
    {%- for platform, entity, model, system, column, coding, codes in judged %}
    select
        '{{ platform }}' as platform,
        cast({{ system }} as {{ text_type() }}) as system,
        '{{ entity }}' as entity,
        '{{ column }}' as column_name,
        '{{ coding }}' as coding,
        {{ 'true' if column in sensitive else 'false' }} as is_sensitive,
        cast({{ column }} as {{ text_type() }}) as code,
        {{ in_values('cast(' ~ column ~ ' as ' ~ text_type() ~ ')', codes) }} as is_known,
        count(*) as row_count
    from {{ ref(model) }}
    where {{ column }} is not null
    group by 1, 2, 3, 4, 5, 6, 7, 8
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

columns_seen as (
    select *, cast(sum(row_count) over (partition by system, entity, column_name) as bigint) as column_rows
    from codes
)

select
    platform,
    system,
    entity,
    column_name,
    coding,
    is_sensitive,
    case when length(code) > 24 or code like '%@%' then {{ mask_id('code') }} else code end as code,
    row_count,
    column_rows
from columns_seen
where not is_known
