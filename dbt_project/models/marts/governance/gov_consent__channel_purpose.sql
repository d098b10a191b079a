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
-- The email rows are judged per person in int_consent__email_people (incremental per person: a day recomputes only
-- the people its data touched); this mart only aggregates them, with the ads uploads and the spine of systems.
with custom_ads as (
    select system, email_key, {{ sha256_hex('email_key') }} as email_sha256, is_withdrawn
    from ({{ custom_latest_consent('ads') }}) as latest
),

-- the hash and the token come with the profiles (stg_cdp__profiles writes them with each row it builds)
cdp as (
    select
        email_key,
        email_sha256,
        customer_token,
        bool_and(coalesce(has_ads_consent, false)) as has_ads_consent
    from {{ ref('stg_cdp__profiles') }}
    where email_key is not null
    group by email_key, email_sha256, customer_token
),

custom_email as (
    select system, email_key
    from ({{ custom_email_consent() }}) as consent
    where is_email_opted_out is not null
),

custom_systems as (
    select distinct 'email' as channel, 'marketing' as purpose, system from custom_email
    union
    select distinct 'ads', 'customer_match', system from custom_ads
),

email_people as (
    select * from {{ ref('int_consent__email_people') }}
),

-- every person sent to (each has a row per built-in system) against every custom system holding an email consent:
-- the people a system holds come with their row, the others are contacted but not known to it
judged_custom_email as (
    select
        'email' as channel,
        systems.system,
        people.person_token,
        custom.email_key is not null as is_known,
        coalesce(custom.contacts_without_consent, 0) as contacts_without_consent
    from email_people as people
    cross join (select system from custom_systems where channel = 'email') as systems
    left join email_people as custom on custom.system = systems.system and custom.email_key = people.email_key
    where people.system = 'hubspot' and people.person_token is not null
),

-- the ads uploads and the custom systems' email (the built-ins' email rows are email_people's, grouped on their own
-- below); a row without a person is left out on the ids its token masks (a masked id is null only when the id is),
-- so that no token is computed to test it for null (the upload's own token comes with it: hashed_email_token)
judged (channel, system, person_token, is_known, contacts_without_consent) as (
    select
        'ads',
        'cdp',
        coalesce(cdp.customer_token, uploads.hashed_email_token),
        cdp.email_key is not null,
        case when cdp.has_ads_consent then 0 else 1 end
    from {{ ref('stg_google_ads__audience_uploads') }} as uploads
    left join cdp on cdp.email_sha256 = uploads.hashed_email
    where cdp.email_key is not null or uploads.hashed_email is not null
    union all
    select * from judged_custom_email
    union all
    select
        'ads',
        systems.system,
        coalesce({{ mask_id('custom_ads.email_key') }}, uploads.hashed_email_token),
        custom_ads.email_key is not null,
        case when custom_ads.is_withdrawn then 1 else 0 end
    from {{ ref('stg_google_ads__audience_uploads') }} as uploads
    cross join (select system from custom_systems where channel = 'ads') as systems
    left join custom_ads on custom_ads.system = systems.system and custom_ads.email_sha256 = uploads.hashed_email
    where custom_ads.email_key is not null or uploads.hashed_email is not null
),

spine as (
    select * from (values
        ('email', 'marketing', 'hubspot'), ('email', 'marketing', 'marketo'), ('email', 'marketing', 'salesforce'),
        ('email', 'marketing', 'cdp'), ('ads', 'customer_match', 'cdp')
    ) as rows_ (channel, purpose, system)
    union all
    select channel, purpose, system from custom_systems
),

-- one row per channel, system and person: the counts of people below are plain counts of these rows, where four
-- distinct aggregates over every judged row (~1.2M at 1M people) each hashed all of them again. The built-ins'
-- email rows (most of them) are grouped apart from the rest, on narrower keys.
people as (
    select
        'email' as channel,
        system,
        person_token,
        bool_or(is_known) as is_known,
        bool_or(contacts_without_consent > 0) as is_without_consent,
        sum(contacts_without_consent) as contacts_without_consent
    from email_people
    where system in ('hubspot', 'marketo', 'salesforce', 'cdp') and person_token is not null
    group by system, person_token
    union all
    select
        channel,
        system,
        person_token,
        bool_or(is_known),
        bool_or(contacts_without_consent > 0),
        sum(contacts_without_consent)
    from judged  -- every row has a token (each branch above leaves out the rows without one)
    group by channel, system, person_token
)

select
    spine.channel,
    spine.purpose,
    spine.system,
    count(people.person_token) as people_contacted,
    count(*) filter (where people.is_known) as people_known,
    count(*) filter (where people.is_without_consent) as people_without_consent,
    cast(coalesce(sum(people.contacts_without_consent), 0) as bigint) as contacts_without_consent,
    {{ first_examples("case when people.is_without_consent then people.person_token end") }} as example_ids
from spine
left join people on people.channel = spine.channel and people.system = spine.system
group by spine.channel, spine.purpose, spine.system
