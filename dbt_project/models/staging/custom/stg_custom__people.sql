{{ config(materialized='table') }}
-- A table: the cross-system people models read it several times.
with source as (
    {{ latest_records(source('custom', 'people'), 'person_id') }}
)

select
    -- ids
    _integration || ':' || person_id as person_key,
    _integration as system,
    person_id,
    crm_person_id,
    {{ email_key('email') }} as email_key,
    -- attributes
    age,
    {{ banded('age_band', 'age', 'age') }} as age_band,  -- a band given wins; else the policy's band of the age
    gender,
    region,
    country,
    segments,
    -- consent
    email_opt_out as is_email_opted_out,
    opted_out_at,
    -- timestamps
    created_at,
    updated_at,
    _batch_id
from source
