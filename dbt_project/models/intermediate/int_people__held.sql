-- (gov_privacy__erasure keeps its own copy of this, so its property tests can run its SQL alone.)
-- Which systems hold which person, by SHA-256 of the normalised email: the one identifier every system can be matched
-- on, including the erasure log and Customer Match uploads that never see the address itself. One row per system
-- and person (when each system contacted them is int_people__contacts), by construction: the final UNION keeps each
-- distinct (system, email_sha256) row once, so no data test rescans it for that (see its YAML).
with held as (
    select 'salesforce' as system, email_key from {{ ref('stg_salesforce__contacts') }}
    union all select 'salesforce', email_key from {{ ref('stg_salesforce__leads') }}
    union all select 'hubspot', email_key from {{ ref('stg_hubspot__contacts') }}
    union all select 'hubspot', email_key from {{ ref('stg_hubspot__subscriptions') }}
    union all select 'marketo', email_key from {{ ref('stg_marketo__leads') }}
    union all select 'cdp', email_key from {{ ref('stg_cdp__profiles') }}
    union all select system, email_key from {{ ref('stg_custom__people') }}  -- every custom system, by its name
),

held_hashed as (
    select distinct system, {{ sha256_hex('email_key') }} as email_sha256
    from held
    where email_key is not null
    union
    select distinct 'google_ads', hashed_email from {{ ref('stg_google_ads__audience_uploads') }}
)

select system, email_sha256
from held_hashed
