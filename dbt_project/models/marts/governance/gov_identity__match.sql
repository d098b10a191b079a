-- How well the CRM, the marketing-automation platform and the CDP know the same people: for each system and each
-- other system, how many of its people (by normalised email) the other has no record of. One row per ordered pair
-- of systems that both hold someone; a system not connected yet is not a gap in the others.
with people as (
    select customer_token, is_in_crm, is_in_esp, is_in_cdp
    from {{ ref('int_customers__unified') }}
),

presence as (
    select 'salesforce' as system, customer_token, is_in_crm as is_in from people
    union all select 'hubspot', customer_token, is_in_esp from people
    union all select 'cdp', customer_token, is_in_cdp from people
),

pairs as (
    select mine.system, theirs.system as other_system, mine.customer_token, theirs.is_in as is_in_other
    from presence as mine
    inner join presence as theirs on theirs.customer_token = mine.customer_token and theirs.system <> mine.system
    where mine.is_in
),

connected as (
    select system from presence group by system having bool_or(is_in)
)

select
    system,
    other_system,
    system || '~' || other_system as systems,
    count(*) as people,
    count(*) filter (where not is_in_other) as missing_in_other,
    cast(count(*) filter (where is_in_other) as double) / count(*) as match_rate,
    {{ example_ids("case when not is_in_other then customer_token end") }} as example_ids
from pairs
where system in (select system from connected) and other_system in (select system from connected)
group by system, other_system
