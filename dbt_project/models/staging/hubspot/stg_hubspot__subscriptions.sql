with source as (
    {{ latest_records(source('hubspot', 'subscriptions'), 'recipient, "subscriptionId"') }}
),

renamed as (
    select
        -- ids
        {{ email_key('recipient') }} || '|' || "subscriptionId" as subscription_key,
        {{ email_key('recipient') }} as email_key,
        "subscriptionId" as subscription_id,
        -- attributes
        status as subscription_status,
        "legalBasis" as legal_basis,
        -- booleans
        status = 'UNSUBSCRIBED' as is_unsubscribed,
        -- timestamps
        "timestamp" as status_changed_at,
        'hubspot' as source_system,
        _batch_id
    from source
)

select * from renamed
