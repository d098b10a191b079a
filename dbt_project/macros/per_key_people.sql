{# The per-person summaries of int_people__presence, read by the cross-system marts (issue #12, the daily run).

   A person's systems are summed up in bit masks of system ranks (int_people__systems.system_rank: bit r set when
   the system of rank r holds them). A mart groups the people by their masks first (a few dozen groups, however many
   people) and only then expands each group into its systems and pairs of systems, weighted by the group's people.
   The 5 example ids of a pair are the 5 smallest of its groups' 5 smallest: the same as the 5 smallest of all its
   people. A bigint holds ranks 1 to 62 (4 built-in systems and 58 custom ones); a rank past that sets every bit
   (-1), which int_people__presence's non_negative tests report. #}

{# The bit of a system rank, for bit_or() over a person's rows. #}
{% macro rank_bit(rank) -%}
    case when {{ rank }} between 1 and 62 then cast(1 as bigint) << {{ rank }} else cast(-1 as bigint) end
{%- endmacro %}

{# Whether a mask holds a system rank. #}
{% macro has_rank(mask, rank) -%}
    ((({{ mask }}) >> ({{ rank }})) & 1) = 1
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
