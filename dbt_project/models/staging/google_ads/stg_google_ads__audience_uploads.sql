{{ config(materialized='table') }}
-- A table, built once per run: several marts read it, and a view would rank raw's versions again for each.
with source as (
    {{ latest_records(source('google_ads', 'audience_uploads'),
                      '"offline_user_data_job.id", "user_identifiers.hashed_email"') }}
),

renamed as (
    select
        -- ids
        cast("offline_user_data_job.id" as {{ text_type() }}) || '|' || lower(trim("user_identifiers.hashed_email"))
            as upload_row_id,
        cast("user_list.id" as {{ text_type() }}) as user_list_id,
        cast("offline_user_data_job.id" as {{ text_type() }}) as upload_job_id,
        lower(trim("user_identifiers.hashed_email")) as hashed_email,
        {{ mask_id('"user_identifiers.hashed_email"') }} as hashed_email_token,  -- the upload's person, masked
        -- attributes
        "user_list.name" as user_list_name,
        -- timestamps
        upload_time as uploaded_at,
        'google_ads' as source_system,
        _batch_id
    from source
)

select * from renamed
