-- Does every system hold the same email consent for the same person? One row per pair of systems that both hold a
-- consent state for someone, named in system order (salesforce~hubspot, hubspot~cdp).
with people as (
    select system, system_rank, email_key, customer_token, is_email_opted_out
    from {{ ref('int_people__systems') }}
    where is_email_opted_out is not null
),

pairs as (
    select
        mine.system || '~' || theirs.system as systems,
        mine.customer_token,
        mine.is_email_opted_out as left_out,
        theirs.is_email_opted_out as right_out
    from people as mine
    inner join people as theirs on theirs.email_key = mine.email_key and theirs.system_rank > mine.system_rank
)

select
    systems,
    count(*) as people_compared,
    sum(case when left_out <> right_out then 1 else 0 end) as mismatches,
    cast(sum(case when left_out <> right_out then 1 else 0 end) as {{ float_type() }}) / nullif(count(*), 0) as mismatch_rate,
    {{ example_ids("case when left_out <> right_out then customer_token end") }} as example_ids
from pairs
group by systems
