-- Per system, entity and column: how many rows hold a code the policy's codings do not list, out of the rows that
-- hold any code (nulls are missing, not unknown), and the most frequent unknown codes with their counts (masked
-- when long, see gov_data_quality__codings). What data_quality.unknown_codes judges. The owner is the entity's
-- contract owner as its newest batch recorded it: the team that can fix the codes or the policy's lists.
with owners as (
    select platform, entity, owner
    from ({{ first_row_per('select platform, entity, owner, loaded_at, batch_id from ' ~ ref('stg_steward__batches'),
                           'platform, entity', 'loaded_at desc, batch_id desc') }}) as newest
),

ranked as (
    select
        codes.*,
        row_number() over (partition by system, entity, column_name order by row_count desc, code) as code_rank
    from {{ ref('gov_data_quality__codings') }} as codes
)

select
    ranked.system,
    ranked.platform,
    ranked.entity,
    ranked.column_name,
    ranked.coding,
    ranked.is_sensitive,
    max(owners.owner) as owner,
    max(ranked.column_rows) as coded_rows,
    cast(sum(ranked.row_count) as bigint) as unknown_rows,
    cast(sum(ranked.row_count) as {{ float_type() }}) / max(ranked.column_rows) as unknown_share,
    count(*) as unknown_codes,
    {{ string_list("case when ranked.code_rank <= 5 then ranked.code || ' (' || cast(ranked.row_count as "
                   ~ text_type() ~ ") || ')' end", ', ', order_by='ranked.code_rank') }} as example_codes
from ranked
left join owners on owners.platform = ranked.platform and owners.entity = ranked.entity
group by ranked.system, ranked.platform, ranked.entity, ranked.column_name, ranked.coding, ranked.is_sensitive
