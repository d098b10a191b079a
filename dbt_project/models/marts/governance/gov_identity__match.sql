-- How well the CRM, the marketing-automation platforms and the CDP know the same people: for each system and each
-- other system, how many of its people (by normalised email) the other has no record of. One row per ordered pair
-- of systems that both hold someone; a system not connected yet is not a gap in the others.
-- Read from int_people__presence (one row per person, a mask of the systems holding them): people are grouped by the
-- systems holding them, and each group is expanded into the pairs it makes (macros/per_key_people.sql). No person is
-- joined with another system's rows, so a daily run does not redo a join over every person.
-- A group keeps its first tokens (macros/first_examples.sql), not example_ids()' sorted distinct over its people.
with groups as (
    select held, count(*) as people, {{ first_tokens('customer_token') }} as tokens
    from {{ ref('int_people__presence') }}
    where held <> 0
    group by held
),

connected as (
    select distinct system, system_rank
    from {{ ref('int_people__systems') }}
    where records > 0
),

pairs as (
    select
        mine.system,
        other.system as other_system,
        groups.people,
        groups.tokens,
        {{ has_rank('groups.held', 'other.system_rank') }} as is_in_other
    from groups
    inner join connected as mine on {{ has_rank('groups.held', 'mine.system_rank') }}
    inner join connected as other on other.system <> mine.system
),

counted as (
    select
        system,
        other_system,
        cast(sum(people) as bigint) as people,
        cast(sum(case when not is_in_other then people else 0 end) as bigint) as missing_in_other
    from pairs
    group by system, other_system
),

examples as (
    select system, other_system, {{ example_ids("case when not is_in_other then token end") }} as example_ids
    from (select system, other_system, is_in_other, unnest(tokens) as token from pairs) as each_token
    group by system, other_system
)

select
    counted.system,
    counted.other_system,
    counted.system || '~' || counted.other_system as systems,
    counted.people,
    counted.missing_in_other,
    cast(counted.people - counted.missing_in_other as {{ float_type() }}) / counted.people as match_rate,
    examples.example_ids
from counted
inner join examples on examples.system = counted.system and examples.other_system = counted.other_system
