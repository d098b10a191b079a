{# example_ids() over a million rows, without its DISTINCT: `array_agg(distinct x order by x)` hashes and sorts every
   value of the group to keep five, which is most of what a mart grouping ~1M people by a few columns costs (about
   1 s of 1.4 s at 1M, on two threads). DuckDB's `min(x, n)` keeps the n smallest values in one pass, with their
   repeats. The values are masked ids (10 hex digits of an md5), unique but for two people whose emails' hashes
   collide (one pair in 1M people): keeping the ten smallest and dropping repeats gives example_ids()' five unless six
   of a group's ten smallest are repeats. Other warehouses keep example_ids() as it is. #}

{# Up to five example values, sorted, as example_ids() gives them. #}
{% macro first_examples(expr) -%}
    {{ return(adapter.dispatch('first_examples', 'steward')(expr)) }}
{%- endmacro %}

{% macro default__first_examples(expr) -%}
    {{ example_ids(expr) }}
{%- endmacro %}

{% macro duckdb__first_examples(expr) -%}
    coalesce(list_sort(list_distinct(min(cast({{ expr }} as {{ text_type() }}), 10)))[1:5], {{ empty_text_array() }})
{%- endmacro %}

{# A group's candidate examples, for an example_ids() over their unnest that merges groups: a list holding the group's
   five smallest distinct values (DuckDB: its ten smallest, repeats kept; elsewhere example_ids()' five). #}
{% macro first_tokens(expr) -%}
    {{ return(adapter.dispatch('first_tokens', 'steward')(expr)) }}
{%- endmacro %}

{% macro default__first_tokens(expr) -%}
    {{ example_ids(expr) }}
{%- endmacro %}

{% macro duckdb__first_tokens(expr) -%}
    coalesce(min(cast({{ expr }} as {{ text_type() }}), 10), {{ empty_text_array() }})
{%- endmacro %}
