-- Does every system hold the same email consent for the same person? One row per pair of systems.
with people as (
    select
        customer_token,
        is_opted_out_in_crm as crm_out,
        is_unsubscribed_in_esp as esp_out,
        not has_email_consent_in_cdp as cdp_out
    from {{ ref('int_customers__unified') }}
),

pairs as (
    select 'salesforce~hubspot' as systems, customer_token, crm_out as left_out, esp_out as right_out from people
    union all
    select 'salesforce~cdp', customer_token, crm_out, cdp_out from people
    union all
    select 'hubspot~cdp', customer_token, esp_out, cdp_out from people
)

select
    systems,
    count(*) as people_compared,
    sum(case when left_out <> right_out then 1 else 0 end) as mismatches,
    cast(sum(case when left_out <> right_out then 1 else 0 end) as double) / nullif(count(*), 0) as mismatch_rate,
    {{ example_ids("case when left_out <> right_out then customer_token end") }} as example_ids
from pairs
where left_out is not null and right_out is not null
group by systems
