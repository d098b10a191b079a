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
with sends as (
    select email_key, occurred_at as contacted_at
    from {{ ref('stg_hubspot__email_events') }}
    where event_type = 'SENT' and email_key is not null
    union all
    select email_key, occurred_at
    from {{ ref('int_marketo_activities__identified') }}
    where activity_type = 'send_email' and email_key is not null
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
),

spine as (
    select * from (values
        ('email', 'marketing', 'hubspot'), ('email', 'marketing', 'marketo'), ('email', 'marketing', 'salesforce'),
        ('email', 'marketing', 'cdp'), ('ads', 'customer_match', 'cdp')
    ) as rows_ (channel, purpose, system)
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
