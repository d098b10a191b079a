with source as (
    {{ latest_records(source('cdp', 'profiles'), 'profile_id') }}
),

renamed as (
    select
        -- ids
        profile_id,
        user_id as crm_person_id,
        {{ email_key('email') }} as email_key,
        -- attributes
        {{ banded('age_band', 'age', 'age') }} as age_band,  -- a band given wins; else the policy's band of age
        gender,
        region,
        audiences,
        -- booleans
        consent_email as has_email_consent,
        consent_ads as has_ads_consent,
        -- timestamps
        first_seen_at,
        updated_at,
        'cdp' as source_system,
        _batch_id
    from source
)

select * from renamed
