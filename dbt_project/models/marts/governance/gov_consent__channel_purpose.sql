-- Contacts per channel and purpose, judged against the consent each system holds for that channel and purpose.
--   email / marketing: every email sent (HubSpot SENT events, Marketo Send Email activities) against each system's
--     email consent (HubSpot subscriptions listed in `consent_email_subscriptions`, Marketo's unsubscribed flag,
--     Salesforce HasOptedOutOfEmail, CDP consent_email). A send is without consent when it went out after the
--     system's withdrawal: HubSpot dates it, Marketo by its Unsubscribe Email activity (else the lead's last
--     change); Salesforce and the CDP hold only the current flag, so their withdrawal is dated by a marketing
--     platform's when one has it (HubSpot's, then Marketo's), else by the record's last change (the latest moment it
--     can have happened). People a system does not hold are not judged for that system.
--   ads / customer_match: every person in a Google Ads Customer Match upload against the CDP's consent_ads. Lists
--     keep their members, so the upload is without consent whenever the CDP does not say yes now (no, unknown, or
--     no profile at all: ad targeting needs consent given, not merely not withdrawn).
--   custom systems (`platform: custom`, named by their integration): their email touches are sends like HubSpot's;
--     each one's email consent (its records' opt-out and its email consent events, the newer winning:
--     macros/custom_people.sql) is judged like Marketo's, dated by the event or opted_out_at, else the record's last
--     change. For ads, a Customer Match upload of a person whose latest ads consent event in the system is a
--     withdrawal is without consent (only people the system has an ads consent event for are judged there). A custom
--     system's consent is read per channel, whatever the purpose an event names.
with custom_touches as (
    {{ custom_touches() }}
),

sends as (
    select email_key, occurred_at as contacted_at
    from {{ ref('stg_hubspot__email_events') }}
    where event_type = 'SENT' and email_key is not null
    union all
    select email_key, occurred_at
    from {{ ref('int_marketo_activities__identified') }}
    where activity_type = 'send_email' and email_key is not null
    union all
    select email_key, touched_at
    from custom_touches
    where channel = 'email' and email_key is not null
),

esp as (
    select email_key, min(case when is_unsubscribed then status_changed_at end) as withdrawn_at
    from {{ ref('stg_hubspot__subscriptions') }}
    where subscription_id in ({{ sql_list(var('consent_email_subscriptions')) }}) and email_key is not null
    group by email_key
),

marketo_unsubscribes as (
    select email_key, max(occurred_at) as unsubscribed_at
    from {{ ref('int_marketo_activities__identified') }}
    where activity_type = 'unsubscribe_email' and email_key is not null
    group by email_key
),

marketo as (
    select
        leads.email_key,
        case when bool_or(leads.is_unsubscribed)
             then coalesce(max(u.unsubscribed_at), max(leads.updated_at) filter (where leads.is_unsubscribed))
        end as withdrawn_at
    from {{ ref('stg_marketo__leads') }} as leads
    left join marketo_unsubscribes as u on u.email_key = leads.email_key
    where leads.email_key is not null
    group by leads.email_key
),

crm as (
    select email_key, bool_or(has_opted_out_of_email) as is_withdrawn, max(updated_at) as recorded_at
    from (
        select email_key, has_opted_out_of_email, updated_at from {{ ref('stg_salesforce__contacts') }}
        union all
        select email_key, has_opted_out_of_email, updated_at from {{ ref('stg_salesforce__leads') }}
    ) as people
    where email_key is not null
    group by email_key
),

custom_ads as (
    select system, email_key, {{ sha256_hex('email_key') }} as email_sha256, is_withdrawn
    from ({{ custom_latest_consent('ads') }}) as latest
),

cdp as (
    select
        email_key,
        {{ sha256_hex('email_key') }} as email_sha256,
        bool_or(not has_email_consent) as is_email_withdrawn,
        bool_and(coalesce(has_ads_consent, false)) as has_ads_consent,
        max(updated_at) as recorded_at
    from {{ ref('stg_cdp__profiles') }}
    where email_key is not null
    group by email_key
),

email_consent as (
    select 'hubspot' as system, email_key, withdrawn_at from esp
    union all
    select 'marketo', email_key, withdrawn_at from marketo
    union all
    select 'salesforce', crm.email_key,
           case when crm.is_withdrawn then coalesce(esp.withdrawn_at, marketo.withdrawn_at, crm.recorded_at) end
    from crm
    left join esp on esp.email_key = crm.email_key
    left join marketo on marketo.email_key = crm.email_key
    union all
    select 'cdp', cdp.email_key,
           case when cdp.is_email_withdrawn
                then coalesce(esp.withdrawn_at, marketo.withdrawn_at, cdp.recorded_at) end
    from cdp
    left join esp on esp.email_key = cdp.email_key
    left join marketo on marketo.email_key = cdp.email_key
),

-- One row per person, not per send: each send is compared once with every system's withdrawal (one join on the
-- person, no cross join of sends with systems), and the person's token is computed once per person.
consent_by_person as (
    select
        email_key,
        {%- for system in ['hubspot', 'marketo', 'salesforce', 'cdp'] %}
        bool_or(system = '{{ system }}') as is_known_{{ system }},
        max(withdrawn_at) filter (where system = '{{ system }}') as withdrawn_{{ system }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from email_consent
    group by email_key
),

email_people as (
    select
        sends.email_key,
        {%- for system in ['hubspot', 'marketo', 'salesforce', 'cdp'] %}
        bool_or(consent.is_known_{{ system }}) as is_known_{{ system }},
        count(*) filter (where sends.contacted_at > consent.withdrawn_{{ system }}) as late_{{ system }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from sends
    left join consent_by_person as consent on consent.email_key = sends.email_key
    group by sends.email_key
),

-- each custom system's email consent per person, and the sends after its withdrawal (one join on the person)
custom_email as (
    select system, email_key, case when is_email_opted_out then opted_out_at end as withdrawn_at
    from ({{ custom_email_consent() }}) as consent
    where is_email_opted_out is not null
),

custom_email_late as (
    select custom_email.system, custom_email.email_key, count(sends.contacted_at) as contacts_without_consent
    from custom_email
    inner join sends on sends.email_key = custom_email.email_key and sends.contacted_at > custom_email.withdrawn_at
    group by custom_email.system, custom_email.email_key
),

custom_systems as (
    select distinct 'email' as channel, 'marketing' as purpose, system from custom_email
    union
    select distinct 'ads', 'customer_match', system from custom_ads
),

-- every person sent to, against every custom system holding an email consent (a row per person and such system,
-- as the built-ins' columns above)
judged_custom_email as (
    select
        'email' as channel,
        systems.system,
        {{ mask_id('email_people.email_key') }} as person_token,
        custom_email.email_key is not null as is_known,
        coalesce(custom_email_late.contacts_without_consent, 0) as contacts_without_consent
    from email_people
    cross join (select system from custom_systems where channel = 'email') as systems
    left join custom_email
        on custom_email.system = systems.system and custom_email.email_key = email_people.email_key
    left join custom_email_late
        on custom_email_late.system = systems.system and custom_email_late.email_key = email_people.email_key
),

judged_email as (
    select
        {{ mask_id('email_key') }} as person_token,
        {%- for system in ['hubspot', 'marketo', 'salesforce', 'cdp'] %}
        coalesce(is_known_{{ system }}, false) as is_known_{{ system }},
        late_{{ system }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from email_people
),

judged as (
    {%- for system in ['hubspot', 'marketo', 'salesforce', 'cdp'] %}
    select 'email' as channel, '{{ system }}' as system, person_token, is_known_{{ system }} as is_known,
           late_{{ system }} as contacts_without_consent
    from judged_email
    union all
    {%- endfor %}
    select
        'ads',
        'cdp',
        coalesce({{ mask_id('cdp.email_key') }}, {{ mask_id('uploads.hashed_email') }}),
        cdp.email_key is not null,
        case when cdp.has_ads_consent then 0 else 1 end
    from {{ ref('stg_google_ads__audience_uploads') }} as uploads
    left join cdp on cdp.email_sha256 = uploads.hashed_email
    union all
    select * from judged_custom_email
    union all
    select
        'ads',
        systems.system,
        coalesce({{ mask_id('custom_ads.email_key') }}, {{ mask_id('uploads.hashed_email') }}),
        custom_ads.email_key is not null,
        case when custom_ads.is_withdrawn then 1 else 0 end
    from {{ ref('stg_google_ads__audience_uploads') }} as uploads
    cross join (select system from custom_systems where channel = 'ads') as systems
    left join custom_ads on custom_ads.system = systems.system and custom_ads.email_sha256 = uploads.hashed_email
),

spine as (
    select * from (values
        ('email', 'marketing', 'hubspot'), ('email', 'marketing', 'marketo'), ('email', 'marketing', 'salesforce'),
        ('email', 'marketing', 'cdp'), ('ads', 'customer_match', 'cdp')
    ) as rows_ (channel, purpose, system)
    union all
    select channel, purpose, system from custom_systems
)

select
    spine.channel,
    spine.purpose,
    spine.system,
    count(distinct judged.person_token) as people_contacted,
    count(distinct case when judged.is_known then judged.person_token end) as people_known,
    count(distinct case when judged.contacts_without_consent > 0 then judged.person_token end)
        as people_without_consent,
    cast(coalesce(sum(judged.contacts_without_consent) filter (where judged.person_token is not null), 0) as bigint)
        as contacts_without_consent,
    {{ example_ids("case when judged.contacts_without_consent > 0 then judged.person_token end") }} as example_ids
from spine
left join judged on judged.channel = spine.channel and judged.system = spine.system
group by spine.channel, spine.purpose, spine.system
