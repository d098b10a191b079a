{# The first row of each partition of a query, in the order given: the newest record per key, a group's largest
   reference. `query` is a select whose output has every column `partition_by` and `order_by` name (they are read
   from its output, not from inside it); `order_by` is the ORDER BY list, e.g. 'loaded_at desc, batch_id desc'.
   Give the order a tie-break that is unique within a partition, and say `nulls first`/`nulls last` where an ordered
   column can be null: DuckDB sorts nulls last both ways, PostgreSQL sorts them first in a `desc` order.

   default: QUALIFY, which DuckDB, Snowflake, BigQuery and Databricks all run (no extra column in the output).
   postgres: DISTINCT ON, PostgreSQL's own form of the same thing (it has no QUALIFY, and a row_number() column
   would show up in a `select *`). #}
{% macro first_row_per(query, partition_by, order_by) -%}
    {{ return(adapter.dispatch('first_row_per', 'steward')(query, partition_by, order_by)) }}
{%- endmacro %}

{% macro default__first_row_per(query, partition_by, order_by) -%}
    select *
    from ({{ query }}) as first_row_per__source
    qualify row_number() over (partition by {{ partition_by }} order by {{ order_by }}) = 1
{%- endmacro %}

{% macro postgres__first_row_per(query, partition_by, order_by) -%}
    select distinct on ({{ partition_by }}) *
    from ({{ query }}) as first_row_per__source
    order by {{ partition_by }}, {{ order_by }}
{%- endmacro %}
