{# The per-person summaries of int_people__presence, read by the cross-system marts (issue #12, the daily run).

   A person's systems are summed up in short texts of system ranks (`held`: '1,2,5'; `consent`: '1:0,2:1', the rank
   and its opt-out). A mart groups the people by such a text first (a few dozen groups, however many people) and only
   then expands each group into its systems and pairs of systems, weighted by the group's people. The 5 example ids of
   a pair are the 5 smallest of its groups' 5 smallest: the same as the 5 smallest of all its people. #}

{# The members of each distinct summary in `column` of `relation`: (signature, system_rank, is_opted_out). #}
{% macro presence_members(relation, column) -%}
    select
        signature,
        cast(split_part(member, ':', 1) as integer) as system_rank,
        split_part(member, ':', 2) = '1' as is_opted_out
    from (
        select {{ column }} as signature, unnest(string_to_array({{ column }}, ',')) as member
        from {{ relation }}
    ) as split
{%- endmacro %}

{# The type sum() over an integer column gives (DuckDB: hugeint; PostgreSQL: bigint): a mart that now sums a group's
   people where it summed one 1 per person keeps its column's type. #}
{% macro int_sum_type() -%}
    {{ return(adapter.dispatch('int_sum_type', 'steward')()) }}
{%- endmacro %}

{% macro default__int_sum_type() -%}
    bigint
{%- endmacro %}

{% macro duckdb__int_sum_type() -%}
    hugeint
{%- endmacro %}
