{# An instant moved back or forward by a whole number of days, hours or minutes: `before(as_of(), 28, 'days')`.
   `amount` is a number from policy or the spec (rendered into the SQL, never a value from data). The default is
   the interval literal DuckDB, PostgreSQL and Snowflake share; a BigQuery port adds `bigquery__before` /
   `bigquery__after` (timestamp_sub / timestamp_add(ts, interval N unit)), a Databricks port the same with
   `ts - make_interval(...)` or `dateadd`. #}
{% macro before(ts, amount, unit) -%}
    {{ return(adapter.dispatch('before', 'steward')(ts, amount, unit)) }}
{%- endmacro %}

{% macro default__before(ts, amount, unit) -%}
    ({{ ts }} - interval '{{ amount }} {{ unit }}')
{%- endmacro %}

{% macro after(ts, amount, unit) -%}
    {{ return(adapter.dispatch('after', 'steward')(ts, amount, unit)) }}
{%- endmacro %}

{% macro default__after(ts, amount, unit) -%}
    ({{ ts }} + interval '{{ amount }} {{ unit }}')
{%- endmacro %}
