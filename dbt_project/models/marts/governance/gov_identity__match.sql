-- How well the CRM, the marketing-automation platforms and the CDP know the same people: for each system and each
-- other system, how many of its people (by normalised email) the other has no record of. One row per ordered pair
-- of systems that both hold someone; a system not connected yet is not a gap in the others.
with held as (
    select system, email_key, customer_token
    from {{ ref('int_people__systems') }}
    where records > 0
),

connected as (
    select distinct system from held
),

pairs as (
    select mine.system, other.system as other_system, mine.customer_token, theirs.email_key is not null as is_in_other
    from held as mine
    inner join connected as other on other.system <> mine.system
    left join held as theirs on theirs.system = other.system and theirs.email_key = mine.email_key
)

select
    system,
    other_system,
    system || '~' || other_system as systems,
    count(*) as people,
    count(*) filter (where not is_in_other) as missing_in_other,
    cast(count(*) filter (where is_in_other) as {{ float_type() }}) / count(*) as match_rate,
    {{ example_ids("case when not is_in_other then customer_token end") }} as example_ids
from pairs
group by system, other_system
