-- Does every system hold the same email consent for the same person? One row per pair of systems that both hold a
-- consent state for someone, named in system order (salesforce~hubspot, hubspot~cdp).
-- Read from int_people__presence (one row per person, masks of the systems holding a consent state and of those
-- holding an opt-out): people are grouped by the consent their systems hold, and each group is expanded into its
-- pairs of systems (macros/per_key_people.sql).
-- A group keeps its first tokens (macros/first_examples.sql), not example_ids()' sorted distinct over its people.
with groups as (
    select consent, opted_out, count(*) as people, {{ first_tokens('customer_token') }} as tokens
    from {{ ref('int_people__presence') }}
    where consent <> 0
    group by consent, opted_out
),

names as (
    select distinct system, system_rank
    from {{ ref('int_people__systems') }}
    where is_email_opted_out is not null
),

pairs as (
    select
        left_name.system || '~' || right_name.system as systems,
        groups.people,
        groups.tokens,
        ({{ has_rank('groups.opted_out', 'left_name.system_rank') }})
            <> ({{ has_rank('groups.opted_out', 'right_name.system_rank') }}) as is_mismatch
    from groups
    inner join names as left_name on {{ has_rank('groups.consent', 'left_name.system_rank') }}
    inner join names as right_name
        on right_name.system_rank > left_name.system_rank and {{ has_rank('groups.consent', 'right_name.system_rank') }}
),

counted as (
    select
        systems,
        cast(sum(people) as bigint) as people_compared,
        cast(sum(case when is_mismatch then people else 0 end) as {{ int_sum_type() }}) as mismatches
    from pairs
    group by systems
),

examples as (
    select systems, {{ example_ids("case when is_mismatch then token end") }} as example_ids
    from (select systems, is_mismatch, unnest(tokens) as token from pairs) as each_token
    group by systems
)

select
    counted.systems,
    counted.people_compared,
    counted.mismatches,
    cast(counted.mismatches as {{ float_type() }}) / nullif(counted.people_compared, 0) as mismatch_rate,
    examples.example_ids
from counted
inner join examples on examples.systems = counted.systems
