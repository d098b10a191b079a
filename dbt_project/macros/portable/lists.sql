{# List aggregation: many values of a group as one text or one array, in a stated order. The `default__` forms are
   what DuckDB and PostgreSQL both run (BigQuery too); a Snowflake port adds `snowflake__string_list` (listagg ...
   within group (order by ...)) and `snowflake__ordered_array` (array_agg(...) within group (order by ...)), a
   Databricks port the same pair with collect_list and array_sort / array_join. #}

{# The values of `expr` joined with `separator` (a literal without quotes), ordered by `order_by` (default: the
   values themselves). `distinct` drops repeats; then the order is the values' own, as both warehouses require.
   Null values are left out; a group with none gives null. #}
{% macro string_list(expr, separator, order_by=none, distinct=false) -%}
    {{ return(adapter.dispatch('string_list', 'steward')(expr, separator, order_by, distinct)) }}
{%- endmacro %}

{% macro default__string_list(expr, separator, order_by, distinct) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expr }}, '{{ separator }}' order by {{ expr if distinct or order_by is none else order_by }})
{%- endmacro %}

{# The values of `expr` as an array (DuckDB: a list), in the order of `order_by`; nulls are kept. #}
{% macro ordered_array(expr, order_by) -%}
    {{ return(adapter.dispatch('ordered_array', 'steward')(expr, order_by)) }}
{%- endmacro %}

{% macro default__ordered_array(expr, order_by) -%}
    array_agg({{ expr }} order by {{ order_by }})
{%- endmacro %}
